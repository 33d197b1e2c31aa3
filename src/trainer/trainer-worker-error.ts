import {
  type ErrorCode,
  TRAINER_EXIT,
  type TrainerDataErrorReason,
  type TrainerErrorEvent,
  TribunalError,
} from '../contracts/index.js';

/** What is known about a failed worker run. */
export interface WorkerFailure {
  /** The worker's exit code, or null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended the worker (e.g. `SIGKILL`), or null. */
  signal: string | null;
  /** The worker's own `error` event, when it wrote one. */
  errorEvent: TrainerErrorEvent | undefined;
  /** The interpreter that ran the worker. */
  python: string;
  /** RUN_DIR/worker.log: the worker's stderr. */
  logFile: string;
  /** The last lines of the worker's stderr. */
  logTail: string[];
  /** True when Tribunal asked the worker to stop (abort) or killed it. */
  stopRequested: boolean;
  killed: boolean;
  /** The last step the worker reported, if any. */
  step: number | undefined;
  /** The last checkpoint the worker wrote, if any. */
  checkpoint: string | null;
}

/**
 * The training worker failed; `code` says how (CONFIG_INVALID: config or environment, INPUT_INVALID: a data file,
 * OUT_OF_MEMORY: out of memory, ABORTED: stopped before it could checkpoint or killed, INTERNAL: a bug or a crash),
 * and the fields keep the worker's exit status, its error event and the end of its log.
 */
export class TrainerWorkerError extends TribunalError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly errorEvent: TrainerErrorEvent | undefined;
  readonly logFile: string;
  readonly logTail: string[];

  constructor(code: ErrorCode, message: string, failure: WorkerFailure) {
    const event = failure.errorEvent;
    super(code, message, {
      location: {
        ...(event?.file === undefined ? {} : { file: event.file }),
        ...(event?.line === undefined ? {} : { line: event.line }),
        ...(event?.field === undefined ? {} : { field: event.field }),
      },
    });
    this.name = 'TrainerWorkerError';
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.errorEvent = event;
    this.logFile = failure.logFile;
    this.logTail = failure.logTail;
  }
}

/** What to do about each kind of data error (the worker's `reason`; its message names the file and line). */
const DATA_HINTS: Record<TrainerDataErrorReason, string> = {
  row:
    'Each line must be a preference pair in TRL format ({"prompt", "chosen", "rejected"}, strings or lists of ' +
    '{"role", "content"} messages; see trainers/README.md).',
  encoding: 'The file must be UTF-8 text: re-encode it (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8) or fix that line.',
  unreadable: 'Check that the file exists and is readable (a .gz file must be complete gzip).',
  empty: 'The file has no non-blank lines: give a pairs file with at least one pair.',
  split:
    'A held-out split needs pairs with at least two distinct prompts, whole prompts being held out: add pairs, give ' +
    'a separate held-out file with --eval FILE, or hold nothing out with --eval-fraction 0.',
  length: 'No pair fits --max-length under the truncation policy: raise --max-length or choose --truncation keep-end.',
};

const TORCH_MISSING = /No module named '?torch'?/;
const TRAINERS_MISSING = /No module named '?trainers'?/;

/**
 * Turns a failed worker run into a clear error: the worker's `error` event decides the kind (its exit code is the
 * fallback: torchrun exits 1 whatever failed), and the message says what to do next.
 */
export function workerFailureError(failure: WorkerFailure): TrainerWorkerError {
  const { errorEvent: event } = failure;
  const log = `worker log: ${failure.logFile}`;
  const tail = failure.logTail.length > 0 ? `\nLast lines of the worker log:\n${indent(failure.logTail)}` : '';
  const resume = failure.checkpoint ? `the last checkpoint (${failure.checkpoint}) is intact; run again to resume` : '';

  if (failure.killed) {
    return new TrainerWorkerError(
      'ABORTED',
      `training was killed${failure.step === undefined ? '' : ` at step ${failure.step}`}${resume ? `; ${resume}` : ''}`,
      failure,
    );
  }
  const text = `${event?.message ?? ''}\n${failure.logTail.join('\n')}`;
  if (TORCH_MISSING.test(text)) {
    return new TrainerWorkerError(
      'CONFIG_INVALID',
      `${failure.python} has no PyTorch. Install it (Debian/Ubuntu: apt-get install python3-torch; elsewhere: ` +
        `pip install torch) or point TRIBUNAL_PYTHON at a Python that has it. ${log}`,
      failure,
    );
  }
  if (TRAINERS_MISSING.test(text)) {
    return new TrainerWorkerError(
      'INTERNAL',
      `${failure.python} cannot import the trainers package (it runs from the Tribunal checkout). ${log}${tail}`,
      failure,
    );
  }
  const kind = event?.code ?? codeForExit(failure.exitCode);
  if (failure.stopRequested && (kind === 'INTERNAL' || failure.signal !== null)) {
    return new TrainerWorkerError(
      'ABORTED',
      `training stopped before its first checkpoint${resume ? `; ${resume}` : ''}`,
      failure,
    );
  }
  switch (kind) {
    case 'CONFIG_INVALID':
      return new TrainerWorkerError(
        'CONFIG_INVALID',
        `invalid trainer config: ${event?.message ?? 'the worker refused its config'} (${log})`,
        failure,
      );
    case 'DATA_INVALID':
      return new TrainerWorkerError(
        'INPUT_INVALID',
        `${event?.message ?? 'a data file is invalid'}. ${DATA_HINTS[event?.reason ?? 'row']}`,
        failure,
      );
    case 'OUT_OF_MEMORY':
      return new TrainerWorkerError(
        'OUT_OF_MEMORY',
        `the trainer ran out of memory${event?.message ? ` (${firstLine(event.message)})` : ''}. Try a smaller ` +
          '--batch-size (raise --grad-accum to keep the effective batch), a shorter --max-length, ' +
          `--gradient-checkpointing, or LoRA for large models. ${log}${resume ? `; ${resume}` : ''}`,
        failure,
      );
    case 'INTERNAL': {
      const how =
        failure.signal !== null
          ? `was killed by ${failure.signal}${failure.signal === 'SIGKILL' ? ' (the system may have run out of memory)' : ''}`
          : event
            ? `failed: ${event.message}`
            : failure.exitCode === 0
              ? 'exited without finishing its run (no done event)'
              : `exited with code ${failure.exitCode} without reporting an error`;
      return new TrainerWorkerError('INTERNAL', `the trainer ${how}. ${log}${resume ? `; ${resume}` : ''}${tail}`, failure);
    }
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

function codeForExit(exitCode: number | null): TrainerErrorEvent['code'] {
  switch (exitCode) {
    case TRAINER_EXIT.config:
      return 'CONFIG_INVALID';
    case TRAINER_EXIT.data:
      return 'DATA_INVALID';
    case TRAINER_EXIT.outOfMemory:
      return 'OUT_OF_MEMORY';
    default:
      return 'INTERNAL';
  }
}

function indent(lines: string[]): string {
  return lines.map((line) => `  ${line}`).join('\n');
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
