import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LabelingHelpers } from '../runner/index.js';

/** The `tribunal` launcher that child workers run (bin/tribunal.js of this checkout). */
const BIN = fileURLToPath(new URL('../../bin/tribunal.js', import.meta.url));

/** Most stderr kept per child, for the message when it fails. */
const STDERR_TAIL_CHARS = 2000;

/**
 * Starts `count` `tribunal worker` child processes on one run (`tribunal label --processes N` starts N-1 beside
 * itself). A Postgres URL reaches them through `TRIBUNAL_STORE`, never their command line (which `ps` shows); a
 * SQLite store by its file. `stop` sends each live child SIGINT (a graceful stop: its items go back to the queue);
 * `onExit` hears of every child that exits, with the tail of its stderr when it failed.
 */
export function startWorkerProcesses(options: {
  count: number;
  runId: string;
  /** A postgres:// URL, or the SQLite file of the run directory. */
  store: { url: string } | { file: string };
  concurrency: number;
  leaseS?: number | undefined;
  /** The endpoint fleets file the coordinator runs with (`--models`): children get it as TRIBUNAL_MODELS. */
  modelsFile?: string | undefined;
  cwd: string;
  onExit?: (exit: { index: number; code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void;
}): LabelingHelpers {
  const children: ChildProcess[] = [];
  const exits: Array<Promise<void>> = [];
  let stopping = false;
  for (let index = 0; index < options.count; index++) {
    const args = [
      BIN,
      'worker',
      '--run',
      options.runId,
      '--concurrency',
      String(options.concurrency),
      ...('file' in options.store ? ['--store', options.store.file] : []),
      ...(options.leaseS === undefined ? [] : ['--lease-s', String(options.leaseS)]),
    ];
    const env = {
      ...process.env,
      ...('url' in options.store ? { TRIBUNAL_STORE: options.store.url } : {}),
      ...(options.modelsFile === undefined ? {} : { TRIBUNAL_MODELS: options.modelsFile }),
    };
    // Its own process group: a Ctrl-C in the terminal reaches only the coordinator, which stops each child once (a
    // second SIGINT would make the child exit at once instead of putting its items back in the queue).
    const child = spawn(process.execPath, args, { cwd: options.cwd, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_CHARS);
    });
    exits.push(
      new Promise<void>((resolve) => {
        child.on('error', (error) => {
          stderr += `\n${error.message}`;
        });
        child.on('close', (code, signal) => {
          options.onExit?.({ index, code, signal, stderr: stopping ? '' : stderr });
          resolve();
        });
      }),
    );
  }
  return {
    stop: () => {
      stopping = true;
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      }
    },
    exited: Promise.all(exits).then(() => undefined),
  };
}
