import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainerCommand } from '../contracts/index.js';

/** The repository root: `python3 -m trainers` resolves the worker package from here (the process's cwd). */
export const TRAINERS_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's interpreter, where `apt-get install python3-torch` puts PyTorch. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/**
 * The Python interpreter for the worker: an explicit one (the `TRIBUNAL_PYTHON` setting), else `/usr/bin/python3`
 * when it exists, else `python3` from the PATH.
 */
export function resolvePython(options: { python?: string | undefined } = {}): string {
  if (options.python) return options.python;
  return existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';
}

/** How to start the worker: an executable and its arguments. */
export interface WorkerCommand {
  file: string;
  args: string[];
}

/**
 * The command line of one worker run: `PYTHON -m trainers TASK --config FILE`, or with `gpus` > 1 the same module
 * under torchrun (`PYTHON -m torch.distributed.run --standalone --nproc_per_node N -m trainers ...`, which is what the
 * `torchrun` script runs, with the chosen interpreter).
 * @example workerCommand({ python: '/usr/bin/python3', task: 'dpo', configFile: 'runs/a/config.json', gpus: 8 });
 */
export function workerCommand(options: {
  python: string;
  task: TrainerCommand;
  configFile: string;
  gpus?: number | undefined;
  checkpoint?: string | undefined;
}): WorkerCommand {
  const worker = ['-m', 'trainers', options.task, '--config', options.configFile];
  if (options.checkpoint !== undefined) worker.push('--checkpoint', options.checkpoint);
  const gpus = options.gpus ?? 1;
  if (gpus <= 1) return { file: options.python, args: worker };
  return {
    file: options.python,
    args: ['-m', 'torch.distributed.run', '--standalone', '--nnodes', '1', '--nproc_per_node', String(gpus), ...worker],
  };
}
