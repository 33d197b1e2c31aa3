import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../src/contracts/index.js';
import { createSandboxPool, type SandboxPool } from '../../src/sandbox/index.js';

/*
 * The sandbox boundary, attacked from inside. Each probe tries one door and prints ESCAPED only if it got through;
 * the host checks that nothing of it reached the host (no secret in any output, no file written, no connection
 * made) and that the pool still runs the next program. One pool for the file (Pyodide loads in seconds).
 */

const SECRET = `tribunal-fake-secret-${process.pid}-${Date.now()}`;
process.env.TRIBUNAL_SANDBOX_FAKE_SECRET = SECRET;
const REPO_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
const markerDir = mkdtempSync(path.join(tmpdir(), 'sandbox-escape-'));
const MARKER = path.join(markerDir, 'escaped');

let pool: SandboxPool;
let server: Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  pool = createSandboxPool({ size: 2, timeoutMs: 4000, memoryMb: 256, outputLimitBytes: 16 * 1024, hostMemoryMb: 600 });
  server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
  await pool.warm();
});

afterAll(async () => {
  await pool?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Runs a probe and checks what every probe must satisfy: nothing escaped, and the pool is healthy afterwards. */
async function probe(code: string): Promise<ExecutionResult> {
  const result = await pool.runPython({ code });
  const everything = JSON.stringify(result);
  expect(everything).not.toContain(SECRET);
  expect(everything).not.toContain('ESCAPED');
  expect(everything).not.toContain('root:x:0:0');
  expect(existsSync(MARKER)).toBe(false);
  expect(connections).toBe(0);
  const next = await pool.runPython({ code: 'print(sum(range(10)))' });
  expect(next.status).toBe('passed');
  expect(next.stdout.text).toBe('45\n');
  return result;
}

/** Wraps an attempt: prints ESCAPED when it completes, BLOCKED with the exception otherwise. */
function attempt(body: string): string {
  const indented = body
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
  return `try:\n${indented}\n    print("ESCAPED")\nexcept BaseException as error:\n    print("BLOCKED", type(error).__name__)\n`;
}

const js = JSON.stringify;

describe('the host file system', () => {
  it('is not mounted: /etc/passwd, the repository and the host root are absent', async () => {
    const result = await probe(
      [
        attempt('open("/etc/passwd").read()'),
        attempt(`open(${js(REPO_FILE)}).read()`),
        'import os',
        'print(sorted(os.listdir("/")))',
      ].join('\n'),
    );
    expect(result.stdout.text).toContain('BLOCKED FileNotFoundError');
    expect(result.stdout.text).toContain("['dev', 'home', 'lib', 'proc', 'tmp']");
  });

  it('cannot be mounted through the emscripten FS or the Pyodide API (NODEFS, mountNodeFS)', async () => {
    const result = await probe(
      [
        attempt(
          `import pyodide_js\npyodide_js.mountNodeFS("/host", "/")\nopen("/host/etc/passwd").read()\nopen(${js(MARKER)}, "w")`,
        ),
        attempt(
          `from pyodide.ffi import to_js\nimport gc\nfs = [o for o in gc.get_objects() if type(o).__name__.startswith("Js") and hasattr(o, "filesystems")][0]\nfs.mount(fs.filesystems.NODEFS, to_js({"root": "/"}), "/host")\nopen("/host/etc/passwd").read()`,
        ),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(2);
  });

  it('writes stay in the in-memory FS of one run', async () => {
    await probe(`open(${js(MARKER)}, "w").write("x")\nopen("/tmp/left-behind", "w").write("x")`);
    const next = await pool.runPython({ code: 'import os\nprint(os.path.exists("/tmp/left-behind"))' });
    expect(next.stdout.text).toBe('False\n');
  });
});

describe('the environment', () => {
  it('does not reach the host process environment through os.environ or any JavaScript bridge', async () => {
    const result = await probe(
      [
        'import os',
        'print(dict(os.environ))',
        attempt('import js\nprint(js.process.env)'),
        attempt('from pyodide.code import run_js\nprint(run_js("process.env"))'),
        attempt('from pyodide.ffi import to_js\nprint(to_js([]).constructor.constructor("return process.env")())'),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(3);
  });
});

describe('the network', () => {
  it('cannot open a socket to a listening host port (socket, urllib, http.client)', async () => {
    const result = await probe(
      [
        attempt(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=1).send(b"hi")`),
        attempt(`import urllib.request\nurllib.request.urlopen("http://127.0.0.1:${port}/", timeout=1).read()`),
        attempt(`import http.client\nc = http.client.HTTPConnection("127.0.0.1", ${port}, timeout=1)\nc.request("GET", "/")`),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(3);
  });

  it('has no fetch, WebSocket or XMLHttpRequest to call', async () => {
    const result = await probe(
      [
        attempt(`import js\njs.fetch("http://127.0.0.1:${port}/")`),
        attempt(
          `from pyodide.ffi import to_js\nto_js([]).constructor.constructor("return fetch")()("http://127.0.0.1:${port}/")`,
        ),
        attempt(`import pyodide.http\npyodide.http.open_url("http://127.0.0.1:${port}/")`),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(3);
  });
});

describe('processes', () => {
  it('cannot spawn a process (os.system, subprocess, os.fork, os.posix_spawn, os.execv)', async () => {
    const touch = js(`touch ${MARKER}`);
    const result = await pool.runPython({
      code: [
        attempt(`import subprocess\nsubprocess.run(["touch", ${js(MARKER)}])`),
        attempt('import os\nos.fork()'),
        attempt(`import os\nos.posix_spawn("/usr/bin/touch", ["touch", ${js(MARKER)}], {})`),
        attempt(`import os\nos.execv("/usr/bin/touch", ["touch", ${js(MARKER)}])`),
        attempt(`import os\nassert os.system(${touch}) == 0`),
      ].join('\n'),
    });
    // os.system reaches emscripten's child_process bridge, which throws in the locked realm: a fatal Pyodide error
    // for that interpreter, which the pool then replaces. Either way nothing ran on the host.
    expect(['passed', 'error']).toContain(result.status);
    expect(JSON.stringify(result)).not.toContain('ESCAPED');
    expect(existsSync(MARKER)).toBe(false);
    await probe('print("after spawn attempts")');
  });

  it('cannot fork-bomb with threads or multiprocessing', async () => {
    const result = await probe(
      [
        attempt('import threading\nfor _ in range(1000):\n    threading.Thread(target=lambda: None).start()'),
        attempt('import multiprocessing\nmultiprocessing.Process(target=print).start()'),
        attempt('import concurrent.futures\nconcurrent.futures.ProcessPoolExecutor().submit(print).result()'),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(3);
  });
});

describe('the JavaScript realm of the worker', () => {
  it('`import js` is an empty object with no prototype: no process, require, globalThis or constructor', async () => {
    const result = await probe(
      [
        'import js',
        ...['process', 'require', 'globalThis', 'fetch', 'constructor', 'eval', 'Function', 'WebAssembly'].map((name) =>
          attempt(`getattr(js, ${js(name)})`),
        ),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED AttributeError/g)).toHaveLength(8);
  });

  it('cannot generate code from strings: Function constructors, eval, run_js, emscripten_run_script via ctypes', async () => {
    const generators = [
      'from pyodide.ffi import to_js\nto_js({}).constructor.constructor("return 1")()',
      'from pyodide.ffi import to_js\nto_js([]).constructor.constructor("return globalThis")()',
      'from pyodide.ffi import to_js\nimport js\nfn = to_js([]).map\nfn.constructor("return 1")()',
      'from pyodide.code import run_js\nrun_js("1 + 1")',
      'import js\njs.eval("1 + 1")',
    ];
    const result = await probe(generators.map(attempt).join('\n'));
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(generators.length);
    for (const symbol of ['emscripten_run_script', 'emscripten_run_script_string']) {
      const viaCtypes = await probe(
        attempt(
          `import ctypes\nf = ctypes.CDLL(None).${symbol}\nf.restype = ctypes.c_char_p\nf(b"require('fs').writeFileSync(${MARKER}, 'x')")`,
        ),
      );
      expect(['passed', 'error']).toContain(viaCtypes.status);
    }
  });

  it('pyodide_js (the Pyodide API) is unregistered and its doors closed', async () => {
    const result = await probe(
      [
        attempt('import pyodide_js'),
        attempt('import sys\nsys.modules["pyodide_js"].FS'),
        attempt('import pyodide_js\npyodide_js.loadPackage("/etc/passwd")'),
      ].join('\n'),
    );
    expect(result.stdout.text.match(/BLOCKED/g)).toHaveLength(3);
  });

  it('no JavaScript object reachable from Python carries process, require or the host file system', async () => {
    const result = await probe(
      [
        'import gc',
        'found = []',
        'for o in gc.get_objects():',
        '    if type(o).__name__.startswith("Js"):',
        '        for key in ("process", "require", "mountNodeFS", "NODEFS", "readFileSync", "spawn", "execSync"):',
        '            try:',
        '                if hasattr(o, key) and not repr(getattr(o, key)).startswith("function blocked"):',
        '                    found.append(key)',
        '            except BaseException:',
        '                pass',
        'print("FOUND", sorted(set(found)))',
      ].join('\n'),
    );
    expect(result.stdout.text).toContain('FOUND []');
  });
});

describe('resources', () => {
  it('stops an endless loop at the timeout and replaces the worker', async () => {
    const result = await probe('while True:\n    pass');
    expect(result.status).toBe('timeout');
    expect(result.error?.where).toBe('sandbox');
  });

  it('caps memory: one huge allocation and steady growth both end as `memory`', async () => {
    expect((await probe('x = bytearray(1500 * 1024 * 1024)')).status).toBe('memory');
    expect((await probe('x = []\nwhile True:\n    x.append(bytearray(10 ** 6))')).status).toBe('memory');
  });

  it('caps memory held outside the wasm heap: JavaScript buffers made with to_js stop at the host memory bound', async () => {
    const result = await probe(
      'from pyodide.ffi import to_js\nkeep = []\nfor _ in range(40):\n    keep.append(to_js(bytearray(50 * 1024 * 1024)))\nprint("ESCAPED")',
    );
    expect(result.status).toBe('memory');
    expect(result.error?.message).toMatch(/host process's memory/);
  });

  it('bounds output: an endless print loop ends as `output-limit` with the kept text under the bound', async () => {
    const result = await probe('while True:\n    print("x" * 1000)');
    expect(result.status).toBe('output-limit');
    expect(result.stdout.truncated).toBe(true);
    expect(Buffer.byteLength(result.stdout.text)).toBeLessThanOrEqual(16 * 1024);
    expect(result.stdout.bytes).toBeGreaterThan(16 * 1024);
  });

  it('an output loop that swallows the interrupt still ends (output-limit or timeout)', async () => {
    const result = await probe('while True:\n    try:\n        print("x" * 1000)\n    except BaseException:\n        pass');
    expect(['output-limit', 'timeout']).toContain(result.status);
    expect(Buffer.byteLength(result.stdout.text)).toBeLessThanOrEqual(16 * 1024);
  });

  it('deep recursion fails inside the sandbox, with and without a raised recursion limit', async () => {
    const plain = await probe('def f(n):\n    return f(n + 1)\nf(0)');
    expect(plain.status).toBe('error');
    expect(plain.error?.type).toBe('RecursionError');
    const raised = await probe('import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n):\n    return f(n + 1)\nf(0)');
    // A stack overflow in wasm, or (on a loaded machine) the timeout: either way it ends inside the sandbox.
    expect(['error', 'memory', 'timeout']).toContain(raised.status);
  });
});
