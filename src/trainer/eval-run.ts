import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type TrainerConfig, TrainerConfigSchema, TribunalError } from '../contracts/index.js';
import { RUN_FILES } from './run-trainer.js';

/** A complete checkpoint of a training run (a `checkpoints/step-NNNNNNNN` folder holding trainer_state.json). */
export interface TrainingCheckpoint {
  step: number;
  path: string;
}

/** A training run directory as `tribunal train` (or the worker) left it. */
export interface TrainingRun {
  runDir: string;
  configFile: string;
  /** Its config.json, validated; relative paths resolved against the run directory. */
  config: TrainerConfig;
  /** Complete checkpoints, oldest first (a `.tmp` folder of an interrupted save is not one). */
  checkpoints: TrainingCheckpoint[];
}

const STEP_DIR = /^step-(\d+)$/;

/**
 * Reads a training run directory: its config.json (validated with the trainer contract) and its complete
 * checkpoints. A directory that is not a training run is INPUT_INVALID, naming what is missing.
 * @example const run = await readTrainingRun('runs/rm-pairs'); console.log(run.checkpoints.at(-1)?.step);
 */
export async function readTrainingRun(runDir: string): Promise<TrainingRun> {
  const root = path.resolve(runDir);
  const configFile = path.join(root, RUN_FILES.config);
  const stats = await stat(root).catch(() => undefined);
  if (!stats?.isDirectory()) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${root} is not a directory: give the --out folder of a "tribunal train rm|dpo" run`,
      {
        location: { file: root },
      },
    );
  }
  const text = await readFile(configFile, 'utf8').catch(() => undefined);
  if (text === undefined) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${root} is not a training run (no ${RUN_FILES.config}): give the --out folder of a "tribunal train rm|dpo" run`,
      { location: { file: configFile } },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new TribunalError('INPUT_INVALID', `${configFile} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      location: { file: configFile },
    });
  }
  const parsed = TrainerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join('.') ?? '';
    throw new TribunalError(
      'INPUT_INVALID',
      `${configFile}: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'} (this is not a config "tribunal train" wrote)`,
      { location: { file: configFile, ...(field ? { field } : {}) } },
    );
  }
  return { runDir: root, configFile, config: resolvePaths(parsed.data, root), checkpoints: await listCheckpoints(root) };
}

/** The complete checkpoints under `runDir/checkpoints`, oldest first. */
export async function listCheckpoints(runDir: string): Promise<TrainingCheckpoint[]> {
  const root = path.join(runDir, 'checkpoints');
  const names = await readdir(root).catch(() => [] as string[]);
  const found: TrainingCheckpoint[] = [];
  for (const name of names) {
    const match = STEP_DIR.exec(name);
    if (!match) continue;
    const folder = path.join(root, name);
    if (
      await stat(path.join(folder, 'trainer_state.json')).then(
        (s) => s.isFile(),
        () => false,
      )
    ) {
      found.push({ step: Number(match[1]), path: folder });
    }
  }
  return found.sort((a, b) => a.step - b.step);
}

/**
 * Which checkpoint of `run` to evaluate: `latest` (default), `initial` (the model before training: a baseline),
 * a step number, or a checkpoint folder. Null means the initial model.
 */
export async function pickCheckpoint(run: TrainingRun, choice = 'latest'): Promise<TrainingCheckpoint | null> {
  if (choice === 'initial') return null;
  if (choice === 'latest') {
    const latest = run.checkpoints.at(-1);
    if (!latest) {
      throw new TribunalError(
        'INPUT_INVALID',
        `${run.runDir} has no complete checkpoint yet: let the run save one (it always does at the end and on Ctrl-C), ` +
          'or evaluate the untrained model with --checkpoint initial',
        { location: { file: path.join(run.runDir, 'checkpoints') } },
      );
    }
    return latest;
  }
  if (/^\d+$/.test(choice)) {
    const step = Number(choice);
    const found = run.checkpoints.find((checkpoint) => checkpoint.step === step);
    if (!found) {
      const steps = run.checkpoints.map((checkpoint) => checkpoint.step);
      throw new TribunalError(
        'INPUT_INVALID',
        `${run.runDir} has no checkpoint at step ${step}; ${steps.length ? `it has steps ${steps.join(', ')}` : 'it has none yet'}`,
        { location: { file: path.join(run.runDir, 'checkpoints') } },
      );
    }
    return found;
  }
  const folder = path.resolve(choice);
  if (
    !(await stat(path.join(folder, 'trainer_state.json')).then(
      (s) => s.isFile(),
      () => false,
    ))
  ) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${folder} is not a complete checkpoint (no trainer_state.json): give latest, initial, a step number or a checkpoint folder`,
      { location: { file: folder } },
    );
  }
  const match = STEP_DIR.exec(path.basename(folder));
  return { step: match ? Number(match[1]) : 0, path: folder };
}

/**
 * The checkpoint a `--init-from`/`--reference-from` DIR names: DIR itself when it is a checkpoint folder (it holds
 * trainer_state.json), else the latest complete checkpoint of the training run in DIR. With `task`, a run directory
 * of another task is refused. Anything else is INPUT_INVALID naming `flag` and DIR.
 * @example const start = await resolveCheckpoint({ dir: 'runs/iter-0/train', flag: '--init-from', task: 'dpo' });
 */
export async function resolveCheckpoint(options: {
  dir: string;
  flag: string;
  task?: TrainerConfig['task'];
}): Promise<TrainingCheckpoint> {
  const folder = path.resolve(options.dir);
  const state = path.join(folder, 'trainer_state.json');
  if (
    await stat(state).then(
      (s) => s.isFile(),
      () => false,
    )
  ) {
    const saved = await readTrainerState(state);
    if (options.task !== undefined && saved.task !== undefined && saved.task !== options.task) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `${options.flag} ${folder} is a checkpoint of a ${saved.task} run, not ${options.task}`,
        { location: { file: state, field: 'task' } },
      );
    }
    const match = STEP_DIR.exec(path.basename(folder));
    return { step: match ? Number(match[1]) : (saved.step ?? 0), path: folder };
  }
  let run: TrainingRun;
  try {
    run = await readTrainingRun(folder);
  } catch (error) {
    if (!(error instanceof TribunalError)) throw error;
    throw new TribunalError(
      'INPUT_INVALID',
      `${options.flag} ${folder}: neither a checkpoint folder (no trainer_state.json) nor a training run (${error.message})`,
      { cause: error, location: { file: folder } },
    );
  }
  if (options.task !== undefined && run.config.task !== options.task) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `${options.flag} ${folder} trained ${run.config.task ?? 'an unknown task'}, not ${options.task}: give a "tribunal train ${options.task}" run or one of its checkpoints`,
      { location: { file: run.configFile, field: 'task' } },
    );
  }
  const latest = run.checkpoints.at(-1);
  if (!latest) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${options.flag} ${folder}: the run has no complete checkpoint yet (it saves one at the end and on Ctrl-C); finish or stop it first`,
      { location: { file: path.join(run.runDir, 'checkpoints') } },
    );
  }
  return latest;
}

/** The step and task a checkpoint's trainer_state.json records (either absent when unreadable). */
async function readTrainerState(stateFile: string): Promise<{ step?: number; task?: string }> {
  const raw: unknown = await readFile(stateFile, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  if (typeof raw !== 'object' || raw === null) return {};
  const { step, task } = raw as { step?: unknown; task?: unknown };
  return {
    ...(typeof step === 'number' && Number.isInteger(step) && step >= 0 ? { step } : {}),
    ...(typeof task === 'string' ? { task } : {}),
  };
}

/** Options of `buildEvalConfig`. */
export interface EvalSettings {
  /** The training run whose model is evaluated. */
  run: TrainingRun;
  /** Held-out pairs to evaluate on (e.g. human preferences); default: the run's own held-out split. */
  pairs?: string | undefined;
  /** Read at most this many pairs of `pairs`. */
  maxPairs?: number | undefined;
  /** 0: CPU; 1 or more: CUDA. Default: the training run's device setting. */
  gpus?: number | undefined;
}

/**
 * The worker config of an evaluation (without `run_dir`): the training run's model, tokenizer, data limits and seed
 * (so the model is built exactly as it was trained, and DPO's reference is the same initial policy), evaluated on
 * `pairs` or on the run's own seeded held-out split. Nothing of the training run's directory is written.
 */
export function buildEvalConfig(settings: EvalSettings): Omit<TrainerConfig, 'run_dir'> {
  const { config, runDir } = settings.run;
  const task = config.task;
  if (task === undefined) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${settings.run.configFile} names no task (rm or dpo); it was not written by "tribunal train"`,
      {
        location: { file: settings.run.configFile, field: 'task' },
      },
    );
  }
  if (settings.pairs === undefined) {
    if (settings.maxPairs !== undefined) {
      throw new TribunalError(
        'CONFIG_INVALID',
        '--max-pairs applies to --pairs only: limiting the training file would change which pairs the run held out',
      );
    }
    if (!config.data.eval && !(config.data.eval_fraction !== undefined && config.data.eval_fraction > 0)) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `the run in ${runDir} held nothing out (--eval-fraction 0, no --eval): give the pairs to evaluate on with --pairs FILE`,
      );
    }
  }
  const { run_dir: _runDir, resume: _resume, ...rest } = config;
  const data = { ...config.data };
  if (settings.pairs !== undefined) {
    data.eval = path.resolve(settings.pairs);
    delete data.eval_fraction;
    if (settings.maxPairs === undefined) delete data.max_rows;
    else data.max_rows = settings.maxPairs;
  }
  const device = settings.gpus === undefined ? config.device : settings.gpus === 0 ? 'cpu' : 'cuda';
  return {
    ...rest,
    task,
    ...(device === undefined ? {} : { device }),
    data,
  };
}

function resolvePaths(config: TrainerConfig, base: string): TrainerConfig {
  const resolve = (value: string) => path.resolve(base, value);
  const model = (spec: TrainerConfig['model']) =>
    spec !== undefined && typeof spec === 'object' && spec.kind === 'hf' ? { ...spec, path: resolve(spec.path) } : spec;
  return {
    ...config,
    data: {
      ...config.data,
      train: resolve(config.data.train),
      ...(config.data.eval === undefined ? {} : { eval: resolve(config.data.eval) }),
    },
    ...(config.model === undefined ? {} : { model: model(config.model) }),
    ...(config.init_checkpoint === undefined ? {} : { init_checkpoint: resolve(config.init_checkpoint) }),
    ...(config.ref_checkpoint === undefined ? {} : { ref_checkpoint: resolve(config.ref_checkpoint) }),
  };
}
