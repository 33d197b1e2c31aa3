import type { ExecutionResult } from '../contracts/index.js';
import { createSandboxPool, type RunPythonOptions, type SandboxPool, type SandboxPoolOptions } from './sandbox-pool.js';

/** A sandbox pool that starts on its first run; `close` stops it if it started. */
export interface LazySandboxPool {
  runPython(options: RunPythonOptions): Promise<ExecutionResult>;
  close(): Promise<void>;
  /** Whether the pool has started (a run was asked of it). */
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
      await pool?.close();
    },
    get started() {
      return pool !== undefined;
    },
  };
}

let shared: LazySandboxPool | undefined;
/** Runs in flight on the process-wide pool; while any is, a timer holds the process (its workers do not). */
let inFlight = 0;
let hold: NodeJS.Timeout | undefined;

/**
 * The process-wide sandbox of hosts that run debates without owning a sandbox (the LangGraph graphs in Studio and
 * LangGraph Server): one lazy pool (one interpreter) per process, started by the first run. Its idle workers never
 * keep the process alive, and it is closed when the process runs out of work (`beforeExit`).
 */
export function processSandbox(): LazySandboxPool {
  if (shared !== undefined) return shared;
  const lazy = lazySandboxPool({ size: 1, holdProcess: false });
  process.once('beforeExit', () => {
    void lazy.close();
  });
  shared = {
    runPython: async (run) => {
      inFlight += 1;
      hold ??= setInterval(() => undefined, 60_000);
      try {
        return await lazy.runPython(run);
      } finally {
        inFlight -= 1;
        if (inFlight === 0 && hold !== undefined) {
          clearInterval(hold);
          hold = undefined;
        }
      }
    },
    close: () => lazy.close(),
    get started() {
      return lazy.started;
    },
  };
  return shared;
}
