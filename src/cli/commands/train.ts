import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DPO_LOSS_TYPES,
  TRAINER_TASKS,
  TRUNCATION_POLICIES,
  type TrainerConfig,
  type TrainerEvent,
  type TrainerTask,
  TribunalError,
  type TruncationPolicy,
} from '../../contracts/index.js';
import {
  buildTrainConfig,
  countPairLines,
  RUN_FILES,
  resolveCheckpoint,
  runTrainer,
  type TrainerRunResult,
} from '../../trainer/index.js';
import { EXIT } from '../exit-codes.js';
import { integerFlag, numberFlag, pairSmoothingFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import { type Style, styleFor, terminalSafe } from '../terminal.js';
import { TrainProgress, workerLogPrinter } from '../train-progress.js';
import {
  dataNote,
  heldOutTable,
  lengthBaselineLine,
  lengthBaselines,
  lengthBias,
  pairsName,
  readableFile,
} from '../train-report.js';
import { trainEvalCommand } from './train-eval.js';

export const TRAIN_HELP = `Usage: tribunal train rm|dpo --pairs FILE [options]
       tribunal train eval --run DIR [--pairs FILE] [options]   (see tribunal train eval --help)

Trains a reward model (rm: Bradley-Terry, with each pair's margin) or a DPO policy (dpo) on preference pairs
(pairs.jsonl from "tribunal label", or any TRL preference file) with the Python worker in trainers/, shows
progress, then evaluates a held-out split: accuracy, calibration of sigma(r+ - r-) (ECE, Brier) and accuracy
when the chosen answer is the longer vs the shorter one (a length-bias check).

Options:
  --pairs FILE|DIR         training pairs, JSONL or .jsonl.gz, or a "tribunal label" run directory (required)
  --eval FILE              held-out pairs (default: hold out --eval-fraction of --pairs)
  --eval-fraction F        share of --pairs held out, seeded (default 0.1; 0 for none)
  --model tiny|PATH        the built-in tiny decoder (default) or a local Hugging Face model folder
  --gpus N                 0: CPU; 1: one GPU; N > 1: torchrun with N processes (default: a GPU when present)
  --out DIR                run directory (default: runs/<task>-<pairs name>); run again to resume
  --steps N                optimizer steps (default: --epochs over the pairs)
  --epochs N               passes over the training pairs (default 1; may be fractional)
  --batch-size N           pairs per device per micro-batch (default 8)
  --grad-accum N           micro-batches per optimizer step (default 1)
  --lr X                   peak learning rate (default 3e-3 tiny, 1e-5 rm, 1e-6 dpo)
  --beta X                 dpo: beta (default 0.1)
  --loss L                 dpo: sigmoid (default) | ipo | hinge | robust
  --label-smoothing E      label smoothing: -(1-E) log s(x) - E log s(-x), x = beta z (dpo sigmoid/robust: cDPO) or
                           r+ - r- - margin (rm); 0 <= E < 0.5 (default 0)
  --pair-smoothing C       per-pair E from a column of the pairs ("tribunal label --uncertainty" writes both):
                           label-smoothing (the row's own) or consensus-probability (E = min(0.5, 1 - p)); rows
                           without it use --label-smoothing. dpo: sigmoid loss only
  --center-rewards C       rm: TRL's centring term C * mean((r+ + r-)^2) (0.01 is TRL's suggestion; default none)
  --no-margin              rm: ignore the pairs' margin column (default: subtract it inside the loss)
  --margin-scale S         rm: multiply margins (panel score points, e.g. 0-9) by S (default 1)
  --max-length N           max tokens of prompt + answer (default 512)
  --truncation P           a pair longer than --max-length: keep-answers (default: cut the prompt's start, keeping
                           BOS; drop the pair if its answers still do not fit), drop (TRL's reward trainer: drop
                           it), keep-end (also cut answers' beginnings, keeping their end and EOS), keep-start (cut
                           answers' ends: TRL's DPO; a reward model then scores a cut answer). Counts are reported
  --eval-steps N           also evaluate the held-out split every N steps (an overfitting curve; default: at the end)
  --save-steps N           write a checkpoint every N steps (default 500; always at the end and on Ctrl-C)
  --gradient-checkpointing recompute activations in backward (less memory)
  --lora R                 train rank-R LoRA adapters (q/k/v/o projections) instead of every weight; for dpo the
                           reference is the model with adapters off, so no second copy is kept
  --lora-alpha A           LoRA scaling alpha / R (default 2R)
  --merge-lora             Hugging Face models: save DIR/final with the adapters merged into the weights (a plain
                           model for AutoModelForCausalLM or vLLM) instead of peft adapters
  --init-from DIR          start the policy from a checkpoint: a checkpoint folder, or a "tribunal train" run
                           directory (its latest checkpoint) of the same task, --model, --lora and --seed. Only a
                           fresh run loads it (a resumed one continues from its own). dpo: the reference stays the
                           fresh model (policy_0), as iterative DPO keeps it fixed
  --reference-from DIR     dpo: the reference's weights come from this checkpoint or run (its latest checkpoint;
                           LoRA adapters included) instead of the fresh model; e.g. the same DIR as --init-from for
                           reference = previous policy
  --seed N                 model init, held-out split and batch order (default 0)
  --json                   print the worker's validated events as JSON lines on stdout, nothing else
  --verbose                also show the worker's log (always kept in DIR/worker.log)
  -h, --help               show this help

The worker needs Python 3 with PyTorch: /usr/bin/python3 (Debian: apt-get install python3-torch), or set
TRIBUNAL_PYTHON. Ctrl-C stops after the current step with a checkpoint (run again to resume); a second
Ctrl-C kills the worker. Exit codes: 0 done, 1 invalid pairs file, 2 usage or config, 5 out of memory,
130 stopped. See docs/training.md.`;

/** Which command-line flag sets each worker config field, for messages about a refused value. */
const FIELD_FLAGS: Record<string, string> = {
  'data.train': '--pairs',
  'data.eval': '--eval',
  'data.eval_fraction': '--eval-fraction',
  'data.max_length': '--max-length',
  'data.max_prompt_length': '--max-length',
  'data.truncation': '--truncation',
  'data.pair_label_smoothing': '--pair-smoothing',
  'dpo.label_smoothing': '--label-smoothing',
  'rm.label_smoothing': '--label-smoothing',
  'rm.center_rewards_coefficient': '--center-rewards',
  'rm.use_margin': '--no-margin',
  'rm.margin_scale': '--margin-scale',
  model: '--model',
  'model.path': '--model',
  'training.max_steps': '--steps',
  'training.eval_steps': '--eval-steps',
  'training.save_steps': '--save-steps',
  'training.num_train_epochs': '--epochs',
  'training.batch_size': '--batch-size',
  'training.gradient_accumulation_steps': '--grad-accum',
  'training.learning_rate': '--lr',
  'dpo.beta': '--beta',
  'dpo.loss_type': '--loss',
  lora: '--lora',
  'lora.r': '--lora',
  'lora.alpha': '--lora-alpha',
  seed: '--seed',
  init_checkpoint: '--init-from',
  ref_checkpoint: '--reference-from',
  device: '--gpus',
  run_dir: '--out',
};

/** `tribunal train`: train a reward model or DPO policy on preference pairs and report held-out metrics. */
export async function trainCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  if (argv[0] === 'eval') return trainEvalCommand(argv.slice(1), io, signal);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pairs: { type: 'string' },
      eval: { type: 'string' },
      'eval-fraction': { type: 'string' },
      model: { type: 'string' },
      gpus: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' },
      lr: { type: 'string' },
      beta: { type: 'string' },
      loss: { type: 'string' },
      'max-length': { type: 'string' },
      truncation: { type: 'string' },
      'label-smoothing': { type: 'string' },
      'pair-smoothing': { type: 'string' },
      'center-rewards': { type: 'string' },
      'no-margin': { type: 'boolean' },
      'margin-scale': { type: 'string' },
      'gradient-checkpointing': { type: 'boolean' },
      'eval-steps': { type: 'string' },
      'save-steps': { type: 'string' },
      lora: { type: 'string' },
      'lora-alpha': { type: 'string' },
      'merge-lora': { type: 'boolean' },
      'init-from': { type: 'string' },
      'reference-from': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${TRAIN_HELP}\n`);
    return EXIT.ok;
  }
  const [taskName, ...extra] = positionals;
  if (!taskName || !(TRAINER_TASKS as readonly string[]).includes(taskName) || extra.length > 0) {
    throw new TribunalError(
      'CONFIG_INVALID',
      'say what to train: tribunal train rm|dpo --pairs FILE (or evaluate a run: tribunal train eval --run DIR)',
    );
  }
  const task = taskName as TrainerTask;
  if (!values.pairs) throw new TribunalError('CONFIG_INVALID', '--pairs FILE is required: the preference pairs to train on');
  const pairs = await readableFile(path.resolve(io.cwd, values.pairs), '--pairs');
  const evalPairs = values.eval === undefined ? undefined : await readableFile(path.resolve(io.cwd, values.eval), '--eval');
  if (task === 'rm' && (values.beta !== undefined || values.loss !== undefined)) {
    throw new TribunalError(
      'CONFIG_INVALID',
      '--beta and --loss apply to dpo only; a reward model trains with the Bradley-Terry loss',
    );
  }
  if (
    task === 'dpo' &&
    (values['center-rewards'] !== undefined || values['no-margin'] !== undefined || values['margin-scale'] !== undefined)
  ) {
    throw new TribunalError(
      'CONFIG_INVALID',
      '--center-rewards, --no-margin and --margin-scale apply to rm only; DPO does not use margins',
    );
  }
  if (values['no-margin'] && values['margin-scale'] !== undefined) {
    throw new TribunalError('CONFIG_INVALID', 'give --no-margin or --margin-scale S, not both');
  }
  if (values.loss !== undefined && !(DPO_LOSS_TYPES as readonly string[]).includes(values.loss)) {
    throw new TribunalError('CONFIG_INVALID', `--loss must be one of ${DPO_LOSS_TYPES.join(', ')}, got "${values.loss}"`);
  }
  if (values['merge-lora'] && values.lora === undefined) {
    throw new TribunalError('CONFIG_INVALID', '--merge-lora needs --lora R (there are no adapters to merge)');
  }
  if (values['lora-alpha'] !== undefined && values.lora === undefined) {
    throw new TribunalError('CONFIG_INVALID', "--lora-alpha needs --lora R (the adapters' rank)");
  }
  if (task === 'rm' && values['reference-from'] !== undefined) {
    throw new TribunalError('CONFIG_INVALID', '--reference-from applies to dpo only; a reward model has no reference');
  }
  if (evalPairs !== undefined && values['eval-fraction'] !== undefined) {
    throw new TribunalError('CONFIG_INVALID', 'give --eval FILE or --eval-fraction F, not both');
  }
  const model =
    values.model === undefined || values.model === 'tiny' ? 'tiny' : await modelFolder(path.resolve(io.cwd, values.model));
  const gpus = integerFlag(values.gpus, '--gpus', { min: 0, max: 1024 });
  const runDir = path.resolve(io.cwd, values.out ?? path.join('runs', `${task}-${pairsName(pairs)}`));
  const initFrom = values['init-from'];
  const referenceFrom = values['reference-from'];
  const initCheckpoint =
    initFrom === undefined
      ? undefined
      : await resolveCheckpoint({ dir: path.resolve(io.cwd, initFrom), flag: '--init-from', task });
  const refCheckpoint =
    referenceFrom === undefined
      ? undefined
      : await resolveCheckpoint({ dir: path.resolve(io.cwd, referenceFrom), flag: '--reference-from', task });

  const config = buildTrainConfig({
    task,
    pairs,
    evalPairs,
    evalFraction: numberFlag(values['eval-fraction'], '--eval-fraction', { min: 0, max: 0.9 }),
    model,
    gpus,
    steps: integerFlag(values.steps, '--steps', { min: 1 }),
    epochs: numberFlag(values.epochs, '--epochs', { min: 0, exclusive: true }),
    batchSize: integerFlag(values['batch-size'], '--batch-size', { min: 1 }),
    gradientAccumulation: integerFlag(values['grad-accum'], '--grad-accum', { min: 1 }),
    learningRate: numberFlag(values.lr, '--lr', { min: 0, exclusive: true }),
    beta: numberFlag(values.beta, '--beta', { min: 0, exclusive: true }),
    loss: values.loss as (typeof DPO_LOSS_TYPES)[number] | undefined,
    seed: integerFlag(values.seed, '--seed', { min: 0 }),
    maxLength: integerFlag(values['max-length'], '--max-length', { min: 8 }),
    truncation: truncationFlag(values.truncation),
    labelSmoothing: numberFlag(values['label-smoothing'], '--label-smoothing', { min: 0, max: 0.5, exclusiveMax: true }),
    pairSmoothing: pairSmoothingFlag(values['pair-smoothing']),
    centerRewards: numberFlag(values['center-rewards'], '--center-rewards', { min: 0 }),
    useMargin: values['no-margin'] ? false : undefined,
    marginScale: numberFlag(values['margin-scale'], '--margin-scale', { min: 0, exclusive: true }),
    gradientCheckpointing: values['gradient-checkpointing'],
    evalSteps: integerFlag(values['eval-steps'], '--eval-steps', { min: 1 }),
    saveSteps: integerFlag(values['save-steps'], '--save-steps', { min: 1 }),
    loraRank: integerFlag(values.lora, '--lora', { min: 1, max: 4096 }),
    loraAlpha: numberFlag(values['lora-alpha'], '--lora-alpha', { min: 0, exclusive: true }),
    mergeLora: values['merge-lora'],
    initCheckpoint: initCheckpoint?.path,
    refCheckpoint: refCheckpoint?.path,
    pairCount: await countPairLines(pairs),
  });
  await refuseChangedRun(runDir, { ...config, run_dir: runDir });

  const err = styleFor(io.stderr);
  const progress = values.json ? undefined : new TrainProgress({ stream: io.stderr, style: err });
  if (!values.json) io.stderr.write(err.dim(`run directory: ${runDir}\n`));
  const onAbort = () => progress?.stopping();
  signal.addEventListener('abort', onAbort, { once: true });
  let result: TrainerRunResult;
  try {
    result = await runTrainer({
      task,
      config,
      runDir,
      ...(gpus === undefined ? {} : { gpus }),
      signal,
      onEvent: (event: TrainerEvent) => {
        if (values.json) io.stdout.write(`${JSON.stringify(event)}\n`);
        else progress?.handle(event);
      },
      onProtocolProblem: (problem) => {
        const line = `warning: ${problem.message} (skipped)`;
        if (progress) progress.log(err.yellow(line));
        else io.stderr.write(`${terminalSafe(line)}\n`);
      },
      ...(values.verbose ? { onLog: workerLogPrinter({ progress, stream: io.stderr, style: err }) } : {}),
    });
  } catch (error) {
    progress?.finish();
    throw withFlagHint(error);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  progress?.finish();

  if (result.status === 'stopped') {
    io.stderr.write(
      `${err.yellow(`stopped at step ${result.done.step}`)}${result.done.checkpoint ? `; checkpoint ${result.done.checkpoint}` : ''}. ` +
        'Run the same command again to resume.\n',
    );
    return EXIT.interrupted;
  }
  if (!values.json) io.stdout.write(`${renderTrainReport(result, styleFor(io.stdout))}\n`);
  return EXIT.ok;
}

/** The final report: held-out accuracy, calibration and accuracy by length, then where the run's files are. */
export function renderTrainReport(result: TrainerRunResult, style: Style): string {
  const { done, start } = result;
  const lines: string[] = [];
  const total = start?.command === 'eval' ? undefined : start?.total_steps;
  const data = start?.command === 'eval' ? undefined : start?.data;
  lines.push(
    style.bold(
      `${(start?.task ?? '').toUpperCase() || 'Training'} ${done.status} at step ${done.step}${total === undefined ? '' : `/${total}`}` +
        `${data ? ` · ${data.train_pairs} training pairs, ${data.eval_pairs} held out` : ''}`,
    ),
  );
  const trainNote = dataNote(data?.truncation?.train);
  if (trainNote) lines.push(style.yellow(`Of the training pairs read: ${trainNote}.`));
  const metrics = result.eval;
  if (metrics === null) {
    lines.push('', 'No held-out split (--eval-fraction 0 and no --eval): nothing was evaluated.');
  } else {
    lines.push('', style.bold(`Held-out evaluation (${metrics.pairs} pairs)`));
    const note = dataNote(data?.truncation?.eval);
    if (note) lines.push(style.yellow(`Of the held-out pairs read: ${note}.`));
    if (start?.task === 'dpo') lines.push(style.dim("r is DPO's implicit reward β · (log π − log π_ref) of an answer"));
    lines.push(heldOutTable(metrics, style));
    const baseline = lengthBaselineLine(lengthBaselines(metrics));
    if (baseline) lines.push('', baseline);
    const bias = lengthBias(metrics);
    if (bias) lines.push('', style.yellow(bias));
  }
  lines.push('', `run directory: ${result.runDir}`);
  if (done.checkpoint) lines.push(`  checkpoint:  ${done.checkpoint}`);
  if (done.final_model) lines.push(`  model:       ${done.final_model}`);
  lines.push(`  events:      ${result.eventsFile}`, `  worker log:  ${result.logFile}`);
  if (done.checkpoint && start?.command !== 'eval') {
    lines.push('', style.dim(`Next: tribunal train eval --run ${result.runDir} --pairs HUMAN_PAIRS   (agreement with people)`));
  }
  return lines.join('\n');
}

/**
 * Config fields that may change between a run and its resumption: how often it logs, evaluates and saves, and how long
 * it runs (the worker rebuilds its learning-rate schedule for the new total and says so in its start event).
 */
const RESUMABLE_CHANGES = new Set([
  'training.logging_steps',
  'training.eval_steps',
  'training.save_steps',
  'training.max_steps',
  'training.num_train_epochs',
]);

/** A run directory that holds checkpoints of a run with other settings would silently resume the wrong run. */
async function refuseChangedRun(runDir: string, config: TrainerConfig): Promise<void> {
  const checkpoints = await readdir(path.join(runDir, 'checkpoints')).then(
    (names) => names.filter((name) => name.startsWith('step-')),
    () => [],
  );
  if (checkpoints.length === 0) return;
  const previous = await readFile(path.join(runDir, RUN_FILES.config), 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  if (previous === undefined) return;
  const changed = differingFields(previous, config).filter((field) => !RESUMABLE_CHANGES.has(field));
  if (changed.length === 0) return;
  const flags = [...new Set(changed.map((field) => FIELD_FLAGS[field] ?? field))];
  throw new TribunalError(
    'CONFIG_INVALID',
    `${runDir} holds checkpoints of a run with other settings (${flags.join(', ')}); resuming it would mix the two. ` +
      'Use another --out, run again with the original options to resume, or delete the directory.',
    { location: { file: path.join(runDir, RUN_FILES.config) } },
  );
}

function differingFields(before: unknown, after: unknown, prefix = ''): string[] {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isObject(before) || !isObject(after)) return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '<root>'];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((key) => differingFields(before[key], after[key], prefix ? `${prefix}.${key}` : key));
}

function withFlagHint(error: unknown): unknown {
  if (!(error instanceof TribunalError) || error.code !== 'CONFIG_INVALID') return error;
  const field = error.location?.field;
  const flag = field === undefined ? undefined : FIELD_FLAGS[field];
  if (flag === undefined) return error;
  const hinted = new TribunalError(error.code, `${error.message} (set with ${flag})`, {
    cause: error,
    ...(error.location ? { location: error.location } : {}),
  });
  return hinted;
}

/** `--truncation keep-end` → the worker's `keep_end`. */
function truncationFlag(value: string | undefined): TruncationPolicy | undefined {
  if (value === undefined) return undefined;
  const policy = value.replaceAll('-', '_');
  if (!(TRUNCATION_POLICIES as readonly string[]).includes(policy)) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--truncation must be one of ${TRUNCATION_POLICIES.map((name) => name.replaceAll('_', '-')).join(', ')}, got "${value}"`,
    );
  }
  return policy as TruncationPolicy;
}

async function modelFolder(folder: string): Promise<string> {
  const stats = await stat(folder).catch(() => undefined);
  if (!stats?.isDirectory()) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--model ${folder} is not a folder: give "tiny" or a local Hugging Face model folder (config.json, weights, tokenizer)`,
      { location: { field: 'model.path' } },
    );
  }
  return folder;
}
