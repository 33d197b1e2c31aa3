import type { ExecutionResult } from '../contracts/index.js';
import { createSandboxPool, type RunPythonOptions, type SandboxPool, type SandboxPoolOptions } from './sandbox-pool.js';

/** A sandbox pool that starts on its first run; `close` stops it if it started (a later run starts it again). */
export interface LazySandboxPool {
  runPython(options: RunPythonOptions): Promise<ExecutionResult>;
  close(): Promise<void>;
  /** Whether the pool is started now. */
  readonly started: boolean;
}

/**
 * A pool of Pyodide interpreters that loads on its first run (seconds), so a caller can hand it to every debate of a
 * panel with a tool and pay nothing when no code runs.
 * @example
 * const lazy = lazySandboxPool({ size: 2 });
 * try { await lazy.runPython({ code: 'print(1)' }); } finally { await lazy.close(); }
 */
export function lazySandboxPool(options: SandboxPoolOptions = {}): LazySandboxPool {
  let pool: SandboxPool | undefined;
  return {
    runPython: (run) => {
      pool ??= createSandboxPool(options);
      return pool.runPython(run);
    },
    close: async () => {
      const started = pool;
      pool = undefined;
      await started?.close();
    },
    get started() {
      return pool !== undefined;
    },
  };
}

/** How long the process-wide pool stays warm without a run before it closes (its workers keep a process alive). */
export const PROCESS_SANDBOX_IDLE_MS = 60_000;

let shared: LazySandboxPool | undefined;

/**
 * The process-wide sandbox of hosts that run debates without owning a sandbox (the LangGraph graphs in Studio and
 * LangGraph Server): one lazy pool of one interpreter per process, started by the first run. It closes after `idleMs`
 * (default 60 s) without a run in flight, so a process whose work is done can exit (live workers would hold it), and
 * the next run starts it again. `idleMs` counts only on the first call, which creates it.
 */
export function processSandbox(options: { idleMs?: number } = {}): LazySandboxPool {
  if (shared !== undefined) return shared;
  const idleMs = options.idleMs ?? PROCESS_SANDBOX_IDLE_MS;
  const lazy = lazySandboxPool({ size: 1 });
  let inFlight = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  shared = {
    runPython: async (run) => {
      inFlight += 1;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      try {
        return await lazy.runPython(run);
      } finally {
        inFlight -= 1;
        if (inFlight === 0) {
          idleTimer = setTimeout(() => {
            idleTimer = undefined;
            if (inFlight === 0) void lazy.close();
          }, idleMs);
          idleTimer.unref();
        }
      }
    },
    close: async () => {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      await lazy.close();
    },
    get started() {
      return lazy.started;
    },
  };
  return shared;
}
