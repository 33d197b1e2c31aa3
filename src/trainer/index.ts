/**
 * Trainer: runs the Python preference-training worker (`trainers/`, `python3 -m trainers rm|dpo|eval`) from
 * TypeScript. `runTrainer` writes the run directory's config.json, spawns the worker (under torchrun for several
 * GPUs), validates its JSON-lines events with the zod contracts, keeps its stderr in worker.log, forwards aborts as
 * SIGTERM (a graceful, checkpointed stop) and turns failures into clear `TrainerWorkerError`s.
 * `followTrainerEvents` tails a run directory's events.jsonl from any process (the server forwards it to subscribers).
 *
 * ```ts
 * const config = buildTrainConfig({ task: 'dpo', pairs: 'out/pairs.jsonl', steps: 200 });
 * const result = await runTrainer({ task: 'dpo', config, runDir: 'runs/dpo', signal, onEvent: render });
 * console.log(result.status, result.eval?.accuracy, result.eval?.ece);
 * ```
 */

export {
  buildEvalConfig,
  type EvalSettings,
  listCheckpoints,
  pickCheckpoint,
  readTrainingRun,
  resolveCheckpoint,
  type TrainingCheckpoint,
  type TrainingRun,
} from './eval-run.js';
export {
  FOLLOW_POLL_MS,
  type FollowedTrainerEvent,
  type FollowTrainerEventsOptions,
  followTrainerEvents,
} from './follow-trainer-events.js';
export { parseTrainerEventLine } from './parse-event-line.js';
export {
  RUN_FILES,
  type RunTrainerOptions,
  runTrainer,
  type TrainerProtocolProblem,
  type TrainerRunResult,
} from './run-trainer.js';
export { buildTrainConfig, countPairLines, DEFAULT_LEARNING_RATE, type TrainSettings } from './train-config.js';
export { TrainerWorkerError, type WorkerFailure, workerFailureError } from './trainer-worker-error.js';
export { resolvePython, SYSTEM_PYTHON, TRAINERS_ROOT, type WorkerCommand, workerCommand } from './worker-command.js';
export { writeJsonAtomic } from './write-json-atomic.js';
