import type { PythonSandbox } from '../engine/index.js';
import { createSandboxPool, type SandboxPool, type SandboxPoolOptions } from '../sandbox/index.js';

/**
 * A sandbox whose pool of Pyodide interpreters starts on its first run (loading takes seconds), so a caller can hand
 * it to every debate of a panel with a tool and pay nothing when no code runs. `close` stops the pool if it started.
 * @example
 * const lazy = lazySandbox({ size: 2 });
 * try { await runDebate({ ...options, tools: { sandbox: lazy.sandbox } }); } finally { await lazy.close(); }
 */
export function lazySandbox(options: SandboxPoolOptions = {}): { sandbox: PythonSandbox; close: () => Promise<void> } {
  let pool: SandboxPool | undefined;
  const started = (): SandboxPool => {
    if (pool === undefined) pool = createSandboxPool(options);
    return pool;
  };
  return {
    sandbox: { runPython: (run) => started().runPython(run) },
    close: async () => {
      await pool?.close();
    },
  };
}
