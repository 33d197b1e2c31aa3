import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  type HeldOutMetrics,
  type TrainerCommand,
  type TrainerConfig,
  TrainerConfigSchema,
  type TrainerDoneEvent,
  type TrainerErrorEvent,
  type TrainerEvent,
  type TrainerStartEvent,
  TribunalError,
} from '../contracts/index.js';
import { loadSettings } from '../models/settings.js';
import { lockRunDirectory } from '../store/index.js';
import { parseTrainerEventLine, quoteLine } from './parse-event-line.js';
import { workerFailureError } from './trainer-worker-error.js';
import { resolvePython, TRAINERS_ROOT, workerCommand } from './worker-command.js';
import { writeJsonAtomic } from './write-json-atomic.js';

/** Files of a run directory that Tribunal writes (the worker adds events.jsonl, checkpoints/, ref_logps.pt, final/). */
export const RUN_FILES = { config: 'config.json', log: 'worker.log', events: 'events.jsonl' } as const;

/** How many stderr lines a failure message quotes. */
const LOG_TAIL_LINES = 20;

/** A stdout line that is not a valid event: reported, never fatal. */
export interface TrainerProtocolProblem {
  /** 1-based line number on the worker's stdout. */
  line: number;
  text: string;
  message: string;
}

/** Options of `runTrainer`. */
export interface RunTrainerOptions {
  /** `rm` or `dpo` trains; `eval` evaluates the latest (or `checkpoint`) checkpoint on the held-out split. */
  task: TrainerCommand;
  /** The worker config; `run_dir` is set from `runDir`. Paths should be absolute (the worker resolves relative ones
   * against the run directory, where the config file is written). */
  config: Omit<TrainerConfig, 'run_dir'>;
  /** The run directory: config.json, worker.log, events.jsonl and checkpoints/ live here. Created if missing. */
  runDir: string;
  /** Python interpreter; default the `TRIBUNAL_PYTHON` setting, else /usr/bin/python3 when it exists, else python3. */
  python?: string;
  /** Processes (GPUs) on this node: more than 1 runs the worker under torchrun. */
  gpus?: number;
  /** `eval`: the checkpoint folder to evaluate (default: the latest in the run directory). */
  checkpoint?: string;
  /** Files of the run directory to delete once it is locked, before the worker starts (an evaluation's old outputs). */
  removeBeforeStart?: readonly string[];
  /** Abort: SIGTERM to the worker, which finishes its step, checkpoints and ends with `done` `stopped`. */
  signal?: AbortSignal;
  /** Abort: SIGKILL to the worker at once (checkpoints already written stay intact). */
  killSignal?: AbortSignal;
  /** Every validated event, in order. */
  onEvent?: (event: TrainerEvent) => void;
  /** Every line the worker writes to stderr (they also go to RUN_DIR/worker.log). */
  onLog?: (line: string) => void;
  /** A stdout line that is not a valid event (also noted in worker.log). */
  onProtocolProblem?: (problem: TrainerProtocolProblem) => void;
}

/** A worker run that ended with a `done` event. */
export interface TrainerRunResult {
  /** `completed`, or `stopped` after an abort (run again with the same run directory to resume). */
  status: TrainerDoneEvent['status'];
  start: TrainerStartEvent | undefined;
  done: TrainerDoneEvent;
  /** The last held-out metrics of this run, or null when there is no held-out split. */
  eval: HeldOutMetrics | null;
  /** Valid events received. */
  events: number;
  /** Stdout lines that were not valid events. */
  protocolProblems: number;
  runDir: string;
  configFile: string;
  logFile: string;
  eventsFile: string;
}

/**
 * Runs the Python training worker to its end: writes RUN_DIR/config.json atomically, spawns
 * `python3 -m trainers TASK --config RUN_DIR/config.json` (under torchrun when `gpus` > 1) from the repository root,
 * validates every stdout line as a trainer event, appends stderr to RUN_DIR/worker.log and resolves with the `done`
 * event. A failure rejects with a `TrainerWorkerError` whose code and message say what to fix; an invalid stdout
 * line is reported through `onProtocolProblem` and skipped.
 * @example
 * const result = await runTrainer({ task: 'dpo', runDir: 'runs/dpo', config: { data: { train: '/data/pairs.jsonl',
 *   eval_fraction: 0.1 }, model: 'tiny' }, signal, onEvent: (event) => console.log(event.type) });
 * console.log(result.eval?.accuracy);
 */
export async function runTrainer(options: RunTrainerOptions): Promise<TrainerRunResult> {
  const runDir = path.resolve(options.runDir);
  const parsed = TrainerConfigSchema.safeParse({ ...options.config, run_dir: runDir });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join('.') ?? '';
    throw new TribunalError('CONFIG_INVALID', `invalid trainer config: ${field ? `${field}: ` : ''}${issue?.message}`, {
      location: { field },
    });
  }
  if (options.gpus !== undefined && (!Number.isInteger(options.gpus) || options.gpus < 0)) {
    throw new TribunalError('CONFIG_INVALID', `gpus must be a whole number, got ${options.gpus}`, {
      location: { field: 'gpus' },
    });
  }
  if (options.signal?.aborted || options.killSignal?.aborted) {
    throw new TribunalError('ABORTED', 'training was cancelled before it started');
  }
  const configFile = path.join(runDir, RUN_FILES.config);
  const logFile = path.join(runDir, RUN_FILES.log);
  await mkdir(runDir, { recursive: true });
  // One worker per run directory: a second `tribunal train` on it would overwrite config.json and write checkpoints
  // beside the first. The lock dies with this process; it is held until the worker has exited.
  const lock = lockRunDirectory({ dir: runDir, purpose: options.task === 'eval' ? 'eval' : 'train' });
  try {
    for (const name of options.removeBeforeStart ?? []) await rm(path.join(runDir, name), { force: true });
    await writeJsonAtomic({ file: configFile, value: parsed.data });

    const python = resolvePython({ python: options.python ?? loadSettings().python });
    const command = workerCommand({ python, task: options.task, configFile, gpus: options.gpus, checkpoint: options.checkpoint });
    const log = createWriteStream(logFile, { flags: 'a' });
    log.write(`--- tribunal ${new Date().toISOString()}: ${[command.file, ...command.args].join(' ')} (cwd ${TRAINERS_ROOT})\n`);

    const worker = new WorkerProcess({ options, command, log, python, logFile });
    try {
      await worker.finished;
    } finally {
      await new Promise<void>((resolve) => log.end(resolve));
    }
    return worker.result({ runDir, configFile, logFile });
  } finally {
    lock.release();
  }
}

/** One spawned worker: reads its stdout and stderr, forwards signals, and decides how the run ended. */
class WorkerProcess {
  readonly finished: Promise<void>;
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private start: TrainerStartEvent | undefined;
  private done: TrainerDoneEvent | undefined;
  private errorEvent: TrainerErrorEvent | undefined;
  private lastEval: HeldOutMetrics | null = null;
  private lastStep: number | undefined;
  private lastCheckpoint: string | null = null;
  private events = 0;
  private problems = 0;
  private stopRequested = false;
  private killed = false;
  private consumerError: unknown;
  private spawnError: Error | undefined;
  private exitCode: number | null = null;
  private exitSignal: string | null = null;

  constructor(
    private readonly context: {
      options: RunTrainerOptions;
      command: { file: string; args: string[] };
      log: WriteStream;
      python: string;
      logFile: string;
    },
  ) {
    const { options, command } = context;
    // Its own process group, so that a stop reaches torchrun and every rank, and the terminal's Ctrl-C reaches the
    // worker only through the abort signal (one path for stopping).
    // TRAINERS_PARENT_PID: the worker stops (with a checkpoint) if this process dies without stopping it, e.g. on
    // kill -9, which its own process group would otherwise survive.
    this.child = spawn(command.file, command.args, {
      cwd: TRAINERS_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, TRAINERS_PARENT_PID: String(process.pid) },
    });
    const onExit = () => this.signalGroup('SIGKILL');
    process.on('exit', onExit);
    const onStop = () => this.stop();
    const onKill = () => {
      this.killed = true;
      this.signalGroup('SIGKILL');
    };
    options.signal?.addEventListener('abort', onStop, { once: true });
    options.killSignal?.addEventListener('abort', onKill, { once: true });

    let stdoutLine = 0;
    const stdout = createInterface({ input: this.child.stdout as NodeJS.ReadableStream, crlfDelay: Number.POSITIVE_INFINITY });
    stdout.on('line', (text) => {
      stdoutLine += 1;
      if (text.trim() === '') return;
      this.onStdoutLine(text, stdoutLine);
    });
    let pending = '';
    this.child.stderr?.on('data', (chunk: Buffer) => {
      context.log.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.onStderrLine(line);
    });

    this.finished = new Promise<void>((resolve) => {
      this.child.on('error', (error) => {
        this.spawnError = error;
      });
      this.child.on('close', (code, signal) => {
        if (pending) this.onStderrLine(pending);
        this.exitCode = code;
        this.exitSignal = signal;
        process.off('exit', onExit);
        options.signal?.removeEventListener('abort', onStop);
        options.killSignal?.removeEventListener('abort', onKill);
        resolve();
      });
    });
  }

  result(paths: { runDir: string; configFile: string; logFile: string }): TrainerRunResult {
    if (this.spawnError) {
      const missing = (this.spawnError as NodeJS.ErrnoException).code === 'ENOENT';
      throw new TribunalError(
        'CONFIG_INVALID',
        missing
          ? `cannot start the trainer: ${this.context.python} not found. Install Python 3 with PyTorch (Debian/Ubuntu: ` +
              'apt-get install python3-torch) or set TRIBUNAL_PYTHON to an interpreter that has it'
          : `cannot start the trainer with ${this.context.python}: ${this.spawnError.message}`,
        { cause: this.spawnError },
      );
    }
    if (this.consumerError !== undefined) throw this.consumerError;
    // Under torchrun a stopped run's launcher exits non-zero (it caught the signal too) after rank 0 wrote `done`.
    const stoppedCleanly = this.done?.status === 'stopped' && this.stopRequested && this.errorEvent === undefined;
    if (this.done && !this.killed && (this.exitCode === 0 || stoppedCleanly)) {
      return {
        status: this.done.status,
        start: this.start,
        done: this.done,
        eval: this.done.eval ?? this.lastEval,
        events: this.events,
        protocolProblems: this.problems,
        runDir: paths.runDir,
        configFile: paths.configFile,
        logFile: paths.logFile,
        eventsFile: path.join(paths.runDir, RUN_FILES.events),
      };
    }
    throw workerFailureError({
      exitCode: this.exitCode,
      signal: this.exitSignal,
      errorEvent: this.errorEvent,
      python: this.context.python,
      logFile: this.context.logFile,
      logTail: this.tail,
      stopRequested: this.stopRequested,
      killed: this.killed,
      step: this.lastStep,
      checkpoint: this.lastCheckpoint,
    });
  }

  private onStdoutLine(text: string, line: number): void {
    const parsed = parseTrainerEventLine(text);
    if (!parsed.success) {
      this.problems += 1;
      const problem = { line, text, message: `worker stdout line ${line} is ${parsed.error}: ${quoteLine(text)}` };
      this.context.log.write(`[tribunal] ${problem.message}\n`);
      this.context.options.onProtocolProblem?.(problem);
      return;
    }
    const event = parsed.value;
    this.events += 1;
    switch (event.type) {
      case 'start':
        this.start = event;
        this.lastStep = event.step;
        break;
      case 'metric':
        this.lastStep = event.step;
        break;
      case 'progress':
        break;
      case 'eval':
        this.lastEval = event.metrics;
        break;
      case 'checkpoint':
        this.lastCheckpoint = event.path;
        break;
      case 'done':
        this.done = event;
        break;
      case 'error':
        this.errorEvent = event;
        break;
      default: {
        const unreachable: never = event;
        throw new Error(`unknown trainer event ${JSON.stringify(unreachable)}`);
      }
    }
    if (this.consumerError !== undefined) return;
    try {
      this.context.options.onEvent?.(event);
    } catch (error) {
      this.consumerError = error;
      this.stop();
    }
  }

  private onStderrLine(line: string): void {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    this.context.options.onLog?.(line);
  }

  /** Graceful: the worker finishes its step, checkpoints and ends with `done` `stopped`. */
  private stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.signalGroup('SIGTERM');
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      this.child.kill(signal);
    }
  }
}
