/**
 * The sandbox worker: one Pyodide interpreter in a `worker_threads` Worker, hardened before any untrusted code runs.
 * Plain JavaScript so that it starts the same under node, tsx and vitest. It speaks only plain data over its port:
 *   host -> worker  { type: 'run', id, code, tests?, entryPoint?, maxTests }
 *   worker -> host  { type: 'ready', loadMs } | { type: 'result', id, result, tainted }
 * `tainted` is '' when the interpreter may be reused, else what the run changed (the host then replaces the worker).
 * See docs/sandbox.md for the threat model; `lockDownRealm` is the part that makes the worker's realm hold nothing
 * of the host, on the assumption that Python can reach and call any JavaScript object in it.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { loadPyodide } from 'pyodide';
import { HARNESS_PY } from './python-harness.js';

const port = parentPort;
if (port === null) throw new Error('python-worker.js must run in a worker thread');
const { memoryMb, outputLimitBytes } = workerData;
const require = createRequire(import.meta.url);

// 1. Cap Pyodide's WebAssembly memory: emscripten grows it through Memory.prototype.grow and turns a refusal into a
//    failed malloc, which CPython raises as MemoryError. Patched before the interpreter exists.
const memoryCapBytes = memoryMb * 1024 * 1024;
const originalGrow = WebAssembly.Memory.prototype.grow;
let memoryRefused = false;
Object.defineProperty(WebAssembly.Memory.prototype, 'grow', {
  value: function grow(pages) {
    if (this.buffer.byteLength + pages * 65536 > memoryCapBytes) {
      memoryRefused = true;
      throw new RangeError('sandbox memory cap reached');
    }
    return Reflect.apply(originalGrow, this, [pages]);
  },
  writable: false,
  configurable: false,
});

// 2. Output: counted in bytes, kept up to the limit; past it the run is interrupted (KeyboardInterrupt at the next
//    bytecode check) and keeps being interrupted on every further write.
const interruptBuffer = new Int32Array(new SharedArrayBuffer(4));
const decoder = new TextDecoder();
const streams = { stdout: newStream(), stderr: newStream() };
function newStream() {
  return { chunks: [], kept: 0, total: 0 };
}
/** A Pyodide raw writer into `streams[name]`, which each run replaces. */
function writer(name) {
  return {
    write(bytes) {
      const stream = streams[name];
      stream.total += bytes.length;
      const room = outputLimitBytes - stream.kept;
      if (room > 0) {
        const kept = bytes.length <= room ? bytes : bytes.subarray(0, room);
        stream.chunks.push(decoder.decode(kept, { stream: true }));
        stream.kept += kept.length;
      }
      if (stream.total > outputLimitBytes) interruptBuffer[0] = 2;
      return bytes.length;
    },
  };
}

const started = performance.now();
const pyodide = await loadPyodide({
  jsglobals: Object.create(null),
  stdout: undefined,
  stderr: undefined,
  env: { HOME: '/home/pyodide' },
  checkAPIVersion: true,
});
pyodide.setStdout(writer('stdout'));
pyodide.setStderr(writer('stderr'));
pyodide.setStdin({ error: true });
pyodide.setInterruptBuffer(interruptBuffer);
lockDownPyodide(pyodide);
pyodide.runPython(HARNESS_PY);
const runHarness = pyodide.globals.get('_tribunal_run');
const checkTaint = pyodide.globals.get('_tribunal_check_taint');
const loadMs = performance.now() - started;

lockDownRealm();

port.on('message', (message) => {
  if (message === null || typeof message !== 'object' || message.type !== 'run') return;
  port.postMessage(run(message));
});
port.postMessage({ type: 'ready', loadMs });

function run(message) {
  streams.stdout = newStream();
  streams.stderr = newStream();
  interruptBuffer[0] = 0;
  memoryRefused = false;
  const begin = performance.now();
  let outcome;
  let tainted = '';
  try {
    const json = runHarness(
      String(message.code),
      message.tests === undefined ? undefined : String(message.tests),
      message.entryPoint === undefined ? undefined : String(message.entryPoint),
      Number(message.maxTests),
    );
    outcome = JSON.parse(json);
  } catch (error) {
    // A Python error escaping the harness (KeyboardInterrupt/MemoryError raised inside it) or a Pyodide fatal error.
    tainted = 'the harness raised';
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    outcome = {
      status: /MemoryError|memory cap|out of memory/i.test(text) ? 'memory' : 'error',
      tests: [],
      error: { type: 'SandboxError', message: text.slice(0, 2000), traceback: '', where: 'sandbox' },
    };
  }
  const timeMs = performance.now() - begin;
  if (streams.stdout.total > outputLimitBytes || streams.stderr.total > outputLimitBytes) outcome.status = 'output-limit';
  else if (memoryRefused && outcome.status !== 'passed') outcome.status = 'memory';
  if (!tainted) {
    try {
      interruptBuffer[0] = 0;
      tainted = checkTaint();
    } catch (error) {
      tainted = `the taint check failed: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown'}`;
    }
  }
  if (!tainted && (memoryRefused || outcome.status === 'memory' || outcome.status === 'output-limit')) {
    tainted = `status ${outcome.status}`;
  }
  const result = {
    language: 'python',
    ...outcome,
    stdout: streamText(streams.stdout),
    stderr: streamText(streams.stderr),
    timeMs,
  };
  return { type: 'result', id: message.id, result, tainted };
}

function streamText(stream) {
  return { text: stream.chunks.join('') + decoder.decode(), bytes: stream.total, truncated: stream.total > stream.kept };
}

/** Removes the Pyodide API's doors to the host: host file systems, package loading, JS module registration. */
function lockDownPyodide(api) {
  const FS = api.FS;
  for (const name of Object.keys(FS.filesystems ?? {})) if (name !== 'MEMFS') delete FS.filesystems[name];
  for (const key of ['mountNodeFS', 'mountNativeFS', 'loadPackage', 'loadPackagesFromImports', 'registerJsModule']) {
    try {
      Object.defineProperty(api, key, { value: blocked(key), writable: false, configurable: false });
    } catch {
      // a non-configurable property stays as it is; the realm lock-down below still applies
    }
  }
  api.unregisterJsModule('pyodide_js');
  // Pyodide's own start-up imported it; unregistering alone leaves it in sys.modules.
  api.runPython("import sys\nsys.modules.pop('pyodide_js', None)\ndel sys");
}

/**
 * Makes the worker's realm hold nothing of the host, assuming untrusted code can reach and call every object in it:
 * no code generation from strings (eval, the Function constructors), the capability modules' functions replaced by
 * throwing stubs (so closures that captured them, e.g. Pyodide's NODEFS and loaders, get stubs too), `process`
 * neutered, and host-facing globals deleted.
 */
function lockDownRealm() {
  const capabilityModules = [
    'fs',
    'fs/promises',
    'child_process',
    'net',
    'tls',
    'http',
    'https',
    'http2',
    'dgram',
    'dns',
    'dns/promises',
    'cluster',
    'vm',
    'worker_threads',
    'inspector',
    'os',
    'v8',
    'wasi',
    'repl',
    'module',
  ];
  const seen = new Set();
  for (const name of capabilityModules) {
    let exported;
    try {
      exported = require(`node:${name}`);
    } catch {
      continue;
    }
    stubFunctions(exported, `node:${name}`, seen, 2);
  }
  try {
    stubFunctions(require('ws'), 'ws', seen, 1);
  } catch {
    // pyodide's optional socket transport is not installed: nothing to close
  }
  syncBuiltinESMExports();

  const keepProcess = new Set([
    ...['nextTick', 'hrtime', 'emitWarning', 'cwd', 'memoryUsage', 'uptime', 'cpuUsage'],
    ...['on', 'once', 'off', 'emit', 'addListener', 'removeListener', 'removeAllListeners', 'listeners', 'listenerCount'],
    ...['prependListener', 'prependOnceListener', 'setMaxListeners', 'getMaxListeners', 'rawListeners', 'eventNames'],
  ]);
  for (const key of allKeys(process)) {
    if (keepProcess.has(key)) continue;
    const value = safeGet(process, key);
    if (typeof value === 'function') replace(process, key, blocked(`process.${String(key)}`));
  }
  for (const stream of [process.stdout, process.stderr]) {
    if (stream) replace(stream, 'write', () => true);
  }
  replace(process, 'env', Object.freeze(Object.create(null)));

  for (const key of [
    'process',
    'require',
    'module',
    'Buffer',
    'fetch',
    'Request',
    'Response',
    'Headers',
    'FormData',
    'WebSocket',
    'EventSource',
    'BroadcastChannel',
    'MessageChannel',
    'MessagePort',
    'Worker',
    'navigator',
    'crypto',
    'global',
  ]) {
    try {
      delete globalThis[key];
    } catch {
      // non-configurable: left as is
    }
    if (key in globalThis) replace(globalThis, key, undefined);
  }

  // No code from strings: eval and every Function constructor (reachable as `.constructor` of any function).
  const blockEval = blocked('eval');
  replace(globalThis, 'eval', blockEval);
  const constructors = [
    Function,
    Object.getPrototypeOf(async () => {}).constructor,
    Object.getPrototypeOf(function* generator() {}).constructor,
    Object.getPrototypeOf(async function* asyncGenerator() {}).constructor,
  ];
  for (const functionConstructor of constructors) {
    replace(functionConstructor.prototype, 'constructor', blocked('Function'));
  }
  replace(globalThis, 'Function', blocked('Function'));
}

function stubFunctions(target, label, seen, depth) {
  if (target === null || (typeof target !== 'object' && typeof target !== 'function') || seen.has(target)) return;
  seen.add(target);
  for (const key of allKeys(target)) {
    if (key === 'prototype' || key === 'constructor') continue;
    const value = safeGet(target, key);
    if (typeof value === 'function') {
      replace(target, key, blocked(`${label}.${String(key)}`));
    } else if (depth > 1 && value !== null && typeof value === 'object' && value !== port) {
      stubFunctions(value, `${label}.${String(key)}`, seen, depth - 1);
    }
  }
}

function allKeys(target) {
  const keys = new Set();
  for (let object = target; object !== null && object !== Object.prototype; object = Object.getPrototypeOf(object)) {
    if (object === Function.prototype) break;
    for (const key of Reflect.ownKeys(object)) keys.add(key);
  }
  return keys;
}

function safeGet(target, key) {
  try {
    return target[key];
  } catch {
    return undefined;
  }
}

function replace(target, key, value) {
  try {
    Object.defineProperty(target, key, { value, writable: false, configurable: false, enumerable: false });
  } catch {
    try {
      target[key] = value;
    } catch {
      // frozen or exotic: nothing more can be done here, the other layers still hold
    }
  }
}

function blocked(name) {
  return function blockedInSandbox() {
    throw new Error(`${name} is not available in the sandbox`);
  };
}
