import { Worker } from 'node:worker_threads';
import {
  EXECUTION_TEXT_LIMIT,
  type ExecutionResult,
  ExecutionResultSchema,
  type ExecutionStatus,
  TribunalError,
} from '../contracts/index.js';

/** Options of `createSandboxPool`; every bound has a default (docs/sandbox.md, Limits). */
export interface SandboxPoolOptions {
  /** Warm interpreters kept, each in its own worker thread. Default 1. */
  size?: number;
  /** Wall-clock limit of one run; past it the worker is terminated and replaced. Default 10 000 ms. */
  timeoutMs?: number;
  /** Cap on the interpreter's WebAssembly memory, in MiB. Default 256. */
  memoryMb?: number;
  /** Bytes of stdout and of stderr kept per run (at most 1 000 000); writing more ends the run with `output-limit`. Default 64 KiB. */
  outputLimitBytes?: number;
  /** Most tests counted per run (at most 10 000). Default 1000. */
  maxTests?: number;
  /** Longest accepted code or tests source, in characters. Default 200 000. */
  maxSourceChars?: number;
  /**
   * `when-tainted` (default) reuses an interpreter unless the run changed state a fresh namespace does not reset
   * (module or class attributes, builtins, sys settings, files); `always` starts a fresh interpreter after every run.
   */
  recycle?: 'when-tainted' | 'always';
  /**
   * Most the host process's resident memory may grow, in MiB, while runs are in flight (over its size when the first
   * of them started). Python can hold JavaScript buffers (`pyodide.ffi.to_js`) outside the wasm cap and the worker's
   * heap limit; past this bound every running worker is terminated and its run ends `memory`.
   * Default `size * (memoryMb + 256)`.
   */
  hostMemoryMb?: number;
}

/** One program to run: `code`, and optionally HumanEval-style `tests` with the `entryPoint` they check. */
export interface RunPythonOptions {
  code: string;
  tests?: string;
  entryPoint?: string;
  signal?: AbortSignal;
}

/** Counters of a pool's life, for benches and diagnostics. */
export interface SandboxPoolStats {
  runs: number;
  /** Interpreters started, the first `size` included. */
  started: number;
  /** Interpreters replaced after a timeout, a crash, or a tainting run. */
  recycled: number;
  /** Load time of each interpreter started so far (the last 100), in ms (inside its worker). */
  loadMs: number[];
  /** Why the last interpreter was replaced (e.g. `module math`, `fs`, `timeout`), for diagnostics. */
  lastRecycle?: string;
}

/** A pool of warm, hardened Pyodide interpreters. */
export interface SandboxPool {
  /** Runs one program; resolves with a result for every outcome of the code, rejects only when aborted or the sandbox cannot start. */
  runPython(options: RunPythonOptions): Promise<ExecutionResult>;
  /** Loads every interpreter now instead of on first use. */
  warm(): Promise<void>;
  stats(): SandboxPoolStats;
  /** Terminates every worker; pending runs reject with ABORTED. */
  close(): Promise<void>;
}

const DEFAULTS = {
  size: 1,
  timeoutMs: 10_000,
  memoryMb: 256,
  outputLimitBytes: 64 * 1024,
  maxTests: 1000,
  maxSourceChars: 200_000,
  recycle: 'when-tainted' as const,
};
/** V8 heap of a worker: Pyodide's JavaScript side needs ~60 MB; Python's own memory is the wasm memory capped above. */
const WORKER_HEAP_MB = 192;
const MAX_START_FAILURES = 3;
/** Load times kept in `stats().loadMs`. */
const MAX_LOAD_TIMES = 100;
/** How often the host memory watchdog samples RSS while runs are in flight. */
const MEMORY_SAMPLE_MS = 20;
const WORKER_URL = new URL('./python-worker.js', import.meta.url);

interface Job {
  options: RunPythonOptions;
  resolve: (result: ExecutionResult) => void;
  reject: (error: unknown) => void;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
  startedAt: number;
  runId: number;
  /** The process's RSS when the current run started: the memory watchdog measures growth from the oldest of these. */
  rssAtStart: number;
}

/**
 * Starts a pool of sandboxed Python interpreters (Pyodide in worker threads, hardened before untrusted code runs).
 * @example
 * const pool = createSandboxPool({ size: 2, timeoutMs: 5000 });
 * const result = await pool.runPython({ code: 'def add(a, b):\n    return a + b', tests: 'def check(f):\n    assert f(1, 2) == 3', entryPoint: 'add' });
 * await pool.close();
 */
export function createSandboxPool(options: SandboxPoolOptions = {}): SandboxPool {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const hostMemoryMb = options.hostMemoryMb ?? settings.size * (settings.memoryMb + 256);
  for (const key of ['size', 'timeoutMs', 'memoryMb', 'outputLimitBytes', 'maxTests', 'maxSourceChars'] as const) {
    const value = settings[key];
    const tooLarge = (key === 'maxTests' && value > 10_000) || (key === 'outputLimitBytes' && value > EXECUTION_TEXT_LIMIT);
    if (!Number.isInteger(value) || value < 1 || tooLarge) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `sandbox ${key} must be a positive integer${tooLarge ? ' within its bound (docs/sandbox.md)' : ''}, got ${String(value)}`,
      );
    }
  }
  const slots: Slot[] = [];
  const queue: Job[] = [];
  const stats: SandboxPoolStats = { runs: 0, started: 0, recycled: 0, loadMs: [] };
  let closed = false;
  let startFailures = 0;
  let nextRunId = 1;
  let warmWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  if (!Number.isInteger(hostMemoryMb) || hostMemoryMb < 1) {
    throw new TribunalError('CONFIG_INVALID', `sandbox hostMemoryMb must be a positive integer, got ${String(hostMemoryMb)}`);
  }
  let watchdog: NodeJS.Timeout | undefined;

  /**
   * Samples the process's RSS while runs are in flight; when it has grown past the bound since the oldest running run
   * started, every running worker is stopped (their growth cannot be told apart).
   */
  function watchMemory(): void {
    const running = slots.filter((slot) => slot.job !== undefined);
    if (running.length === 0) {
      if (watchdog !== undefined) clearInterval(watchdog);
      watchdog = undefined;
      return;
    }
    if (watchdog === undefined) {
      watchdog = setInterval(watchMemory, MEMORY_SAMPLE_MS);
      watchdog.unref();
    }
    const baseline = Math.min(...running.map((slot) => slot.rssAtStart));
    const grownMb = (process.memoryUsage.rss() - baseline) / (1024 * 1024);
    if (grownMb <= hostMemoryMb) return;
    for (const slot of running) {
      const message = `the run grew the host process's memory by ${Math.round(grownMb)} MiB, over the bound of ${hostMemoryMb} MiB`;
      replace(slot, failure('memory', message, performance.now() - slot.startedAt), 'host memory');
    }
  }

  function startSlot(): Slot {
    const worker = new Worker(WORKER_URL, {
      workerData: { memoryMb: settings.memoryMb, outputLimitBytes: settings.outputLimitBytes },
      env: {},
      argv: [],
      execArgv: [],
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    });
    // The worker's own stdout/stderr are silenced inside it; drain whatever still arrives so it never piles up here.
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker, ready: false, startedAt: performance.now(), runId: 0, rssAtStart: 0 };
    stats.started += 1;
    worker.on('message', (message: unknown) => onMessage(slot, message));
    worker.on('error', (error: Error) => onExit(slot, error));
    worker.on('exit', () => onExit(slot, undefined));
    slots.push(slot);
    return slot;
  }

  function onMessage(slot: Slot, message: unknown): void {
    if (!slots.includes(slot)) return; // a worker already replaced (e.g. timed out) may still answer
    if (!isRecord(message)) {
      replace(slot, sandboxFailure('the worker sent a message that is not an object'));
      return;
    }
    if (message.type === 'ready') {
      slot.ready = true;
      startFailures = 0;
      if (typeof message.loadMs === 'number') stats.loadMs.push(message.loadMs);
      if (stats.loadMs.length > MAX_LOAD_TIMES) stats.loadMs.splice(0, stats.loadMs.length - MAX_LOAD_TIMES);
      if (slots.every((each) => each.ready)) {
        for (const waiter of warmWaiters) waiter.resolve();
        warmWaiters = [];
      }
      dispatch();
      return;
    }
    if (message.type !== 'result' || slot.job === undefined || message.id !== slot.runId) return;
    const parsed = ExecutionResultSchema.safeParse(message.result);
    const job = slot.job;
    finish(slot);
    if (!parsed.success) {
      job.resolve(sandboxFailure(`the worker sent an invalid result: ${parsed.error.issues[0]?.message ?? 'unknown'}`));
      replace(slot, undefined, 'invalid result');
      return;
    }
    job.resolve(parsed.data);
    if (typeof message.tainted === 'string' && message.tainted !== '') {
      replace(slot, undefined, message.tainted.slice(0, 200));
      return;
    }
    if (settings.recycle === 'always') {
      replace(slot, undefined, 'recycle: always');
      return;
    }
    dispatch();
  }

  function onExit(slot: Slot, error: Error | undefined): void {
    if (!slots.includes(slot)) return;
    const wasReady = slot.ready;
    const job = slot.job;
    finish(slot);
    remove(slot);
    if (job !== undefined) {
      const oom = (error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      job.resolve(
        oom
          ? failure('memory', 'the sandbox worker ran out of JavaScript heap', performance.now() - slot.startedAt)
          : sandboxFailure(`the sandbox worker stopped: ${error?.message ?? 'exited'}`),
      );
    }
    if (closed) return;
    if (!wasReady) {
      startFailures += 1;
      if (startFailures >= MAX_START_FAILURES) {
        const reason = new TribunalError(
          'INTERNAL',
          `the Python sandbox could not start: ${error?.message ?? 'the worker exited'}`,
          {
            cause: error,
          },
        );
        for (const pending of queue.splice(0)) reject(pending, reason);
        for (const waiter of warmWaiters) waiter.reject(reason);
        warmWaiters = [];
        return;
      }
    }
    stats.recycled += 1;
    stats.lastRecycle = `worker exited: ${error?.message.slice(0, 200) ?? 'no error'}`;
    startSlot();
  }

  function replace(slot: Slot, result?: ExecutionResult, reason?: string): void {
    const job = slot.job;
    const known = slots.includes(slot);
    finish(slot);
    remove(slot);
    void slot.worker.terminate();
    if (job !== undefined && result !== undefined) job.resolve(result);
    if (closed || !known) return;
    stats.recycled += 1;
    stats.lastRecycle = reason ?? result?.status ?? 'invalid message';
    startSlot();
    dispatch();
  }

  function finish(slot: Slot): void {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    if (slot.job?.onAbort !== undefined) slot.job.options.signal?.removeEventListener('abort', slot.job.onAbort);
    delete slot.timer;
    delete slot.job;
  }

  function remove(slot: Slot): void {
    const index = slots.indexOf(slot);
    if (index >= 0) slots.splice(index, 1);
  }

  function dispatch(): void {
    while (queue.length > 0) {
      const slot = slots.find((each) => each.ready && each.job === undefined);
      if (slot === undefined) return;
      const job = queue.shift() as Job;
      if (job.onAbort !== undefined) job.options.signal?.removeEventListener('abort', job.onAbort);
      if (job.options.signal?.aborted) {
        reject(job, aborted());
        continue;
      }
      slot.job = job;
      slot.runId = nextRunId++;
      slot.startedAt = performance.now();
      slot.rssAtStart = process.memoryUsage.rss();
      stats.runs += 1;
      const { code, tests, entryPoint } = job.options;
      slot.worker.postMessage({ type: 'run', id: slot.runId, code, tests, entryPoint, maxTests: settings.maxTests });
      watchMemory();
      slot.timer = setTimeout(() => {
        replace(slot, failure('timeout', `the run took longer than ${settings.timeoutMs} ms`, settings.timeoutMs), 'timeout');
      }, settings.timeoutMs);
      job.onAbort = () => {
        const running = slot.job;
        if (running !== job) return;
        finish(slot);
        replace(slot, undefined, 'aborted');
        reject(job, aborted());
      };
      job.options.signal?.addEventListener('abort', job.onAbort, { once: true });
    }
  }

  function ensureStarted(): void {
    while (!closed && slots.length < settings.size) startSlot();
  }

  return {
    runPython(run) {
      if (closed) return Promise.reject(new TribunalError('ABORTED', 'the sandbox pool is closed'));
      const invalid = validateRun(run, settings.maxSourceChars);
      if (invalid !== undefined) return Promise.reject(invalid);
      if (run.signal?.aborted) return Promise.reject(aborted());
      if (startFailures >= MAX_START_FAILURES) {
        return Promise.reject(new TribunalError('INTERNAL', 'the Python sandbox could not start (see the earlier error)'));
      }
      ensureStarted();
      return new Promise<ExecutionResult>((resolve, rejectRun) => {
        const job: Job = { options: run, resolve, reject: rejectRun };
        job.onAbort = () => {
          const index = queue.indexOf(job);
          if (index >= 0) {
            queue.splice(index, 1);
            reject(job, aborted());
          }
        };
        run.signal?.addEventListener('abort', job.onAbort, { once: true });
        queue.push(job);
        dispatch();
      });
    },
    warm() {
      ensureStarted();
      if (slots.every((slot) => slot.ready)) return Promise.resolve();
      if (startFailures >= MAX_START_FAILURES) {
        return Promise.reject(new TribunalError('INTERNAL', 'the Python sandbox could not start (see the earlier error)'));
      }
      return new Promise((resolve, rejectWarm) => warmWaiters.push({ resolve, reject: rejectWarm }));
    },
    stats() {
      return { ...stats, loadMs: [...stats.loadMs] };
    },
    async close() {
      closed = true;
      if (watchdog !== undefined) clearInterval(watchdog);
      for (const job of queue.splice(0)) reject(job, new TribunalError('ABORTED', 'the sandbox pool was closed'));
      const running = slots.splice(0);
      for (const slot of running) {
        const job = slot.job;
        finish(slot);
        if (job !== undefined) reject(job, new TribunalError('ABORTED', 'the sandbox pool was closed'));
      }
      for (const waiter of warmWaiters) waiter.resolve();
      warmWaiters = [];
      await Promise.all(running.map((slot) => slot.worker.terminate()));
    },
  };
}

/** Share of tests passed (0 when none ran): the verifier's score before it is put on a panel's scale. */
export function passRate(result: ExecutionResult): number {
  if (result.tests.length === 0) return result.status === 'passed' ? 1 : 0;
  return result.tests.filter((test) => test.passed).length / result.tests.length;
}

function validateRun(run: RunPythonOptions, maxSourceChars: number): TribunalError | undefined {
  for (const field of ['code', 'tests', 'entryPoint'] as const) {
    const value = run[field];
    if (value === undefined && field !== 'code') continue;
    if (typeof value !== 'string') return new TribunalError('INPUT_INVALID', `runPython: ${field} must be a string`);
    if (value.length > maxSourceChars) {
      return new TribunalError(
        'INPUT_INVALID',
        `runPython: ${field} is ${value.length} characters, over the limit of ${maxSourceChars}: shorten it or raise maxSourceChars`,
      );
    }
  }
  if (run.entryPoint !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,199}$/.test(run.entryPoint)) {
    return new TribunalError(
      'INPUT_INVALID',
      `runPython: entryPoint "${run.entryPoint.slice(0, 80)}" is not a Python identifier`,
    );
  }
  return undefined;
}

function failure(status: ExecutionStatus, message: string, timeMs: number): ExecutionResult {
  return {
    language: 'python',
    status,
    tests: [],
    error: { type: status === 'timeout' ? 'Timeout' : 'MemoryError', message, traceback: '', where: 'sandbox' },
    stdout: { text: '', bytes: 0, truncated: false },
    stderr: { text: '', bytes: 0, truncated: false },
    timeMs,
  };
}

function sandboxFailure(message: string): ExecutionResult {
  return { ...failure('error', message, 0), error: { type: 'SandboxError', message, traceback: '', where: 'sandbox' } };
}

function aborted(): TribunalError {
  return new TribunalError('ABORTED', 'the sandboxed run was aborted');
}

function reject(job: Job, error: unknown): void {
  if (job.onAbort !== undefined) job.options.signal?.removeEventListener('abort', job.onAbort);
  job.reject(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined)) as Partial<T>;
}
