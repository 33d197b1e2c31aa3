import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type HeldOutMetrics,
  type PredictionRow,
  PredictionRowSchema,
  type TrainerDataReport,
  type TrainerEvent,
  TribunalError,
} from '../../contracts/index.js';
import {
  buildEvalConfig,
  pickCheckpoint,
  RUN_FILES,
  readTrainingRun,
  runTrainer,
  type TrainerRunResult,
  type TrainingCheckpoint,
  writeJsonAtomic,
} from '../../trainer/index.js';
import { EXIT } from '../exit-codes.js';
import { integerFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import { oneLine, type Style, styleFor } from '../terminal.js';
import { TrainProgress, workerLogPrinter } from '../train-progress.js';
import {
  dataNote,
  heldOutTable,
  type LengthBaselines,
  lengthBaselineLine,
  lengthBaselines,
  lengthBias,
  longerAnswerBaseline,
  pairsName,
  readableFile,
  shorterAnswerBaseline,
} from '../train-report.js';

export const TRAIN_EVAL_HELP = `Usage: tribunal train eval --run DIR [--pairs FILE] [options]

Evaluates a trained reward model or DPO policy (a "tribunal train rm|dpo --out DIR" run) on held-out preference
pairs: accuracy, calibration of sigma(r+ - r-) (ECE, Brier), accuracy when the chosen answer is the longer vs the
shorter one, and both length baselines on the same pairs (always pick the longer answer; always pick the shorter)
with the model's margin over the better of the two. Typical use: train on pairs your
panel labeled, then measure agreement with human preferences, e.g.
  tribunal train eval --run runs/rm-pairs --pairs ../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz

Options:
  --run DIR                the training run (required); nothing in it is changed
  --pairs FILE             pairs to evaluate on: TRL preference rows or HH-RLHF, JSONL or .jsonl.gz
                           (default: the run's own held-out split)
  --checkpoint C           latest (default), initial (the untrained model: a baseline), a step number, or a
                           checkpoint folder
  --max-pairs N            read at most N pairs of --pairs
  --out DIR                where the evaluation is written (default: DIR/evals/<pairs name>-<step>): config.json,
                           events.jsonl, worker.log, metrics.json and predictions.jsonl (every pair with
                           its scores, prompt and answers: the report lists the most confident mistakes)
  --gpus N                 0: CPU; 1: one GPU; N > 1: torchrun with N processes (default: as the run was trained)
  --json                   print the worker's validated events as JSON lines on stdout, nothing else
  --verbose                also show the worker's log
  -h, --help               show this help

The model is rebuilt exactly as it was trained (same model, tokenizer, max length and seed), so for DPO the
reference is the same initial policy. Exit codes: 0 done, 1 invalid run or pairs file, 2 usage, 5 out of memory,
130 stopped. See docs/training.md.`;

/** What `tribunal train eval` writes to DIR/metrics.json: the evaluation's headline, for scripts. */
export { lengthBaselineLine, lengthBaselines, longerAnswerBaseline, shorterAnswerBaseline };

export interface EvalSummary extends LengthBaselines {
  /** What tokenisation did to the evaluated pairs: dropped or cut as too long, empty or identical answers. */
  data?: TrainerDataReport | null | undefined;
  task: string;
  run: string;
  checkpoint: string | null;
  step: number;
  pairs: string;
  metrics: HeldOutMetrics | null;
  /** Every evaluated pair with its scores (PredictionRow lines). */
  predictions: string | null;
}

/** How many of the most confident mistakes the report shows. */
const MISTAKES_SHOWN = 3;

/** The worker's per-pair output in the evaluation directory (trainers/engine.py PREDICTIONS_FILE). */
const PREDICTIONS_FILE = 'predictions.jsonl';
/** The evaluation's summary for scripts. */
const METRICS_FILE = 'metrics.json';

/** `tribunal train eval`: evaluate a training run's checkpoint on held-out pairs. */
export async function trainEvalCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      run: { type: 'string' },
      pairs: { type: 'string' },
      checkpoint: { type: 'string' },
      'max-pairs': { type: 'string' },
      out: { type: 'string' },
      gpus: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${TRAIN_EVAL_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 0) {
    throw new TribunalError('CONFIG_INVALID', `unexpected argument "${positionals[0]}": the run is given with --run DIR`);
  }
  if (!values.run)
    throw new TribunalError('CONFIG_INVALID', '--run DIR is required: the folder of a "tribunal train rm|dpo" run');
  const run = await readTrainingRun(path.resolve(io.cwd, values.run));
  const pairs = values.pairs === undefined ? undefined : await readableFile(path.resolve(io.cwd, values.pairs), '--pairs');
  const checkpoint = await pickCheckpoint(
    run,
    values.checkpoint === undefined || ['latest', 'initial'].includes(values.checkpoint) || /^\d+$/.test(values.checkpoint)
      ? values.checkpoint
      : path.resolve(io.cwd, values.checkpoint),
  );
  const gpus = integerFlag(values.gpus, '--gpus', { min: 0, max: 1024 });
  const config = buildEvalConfig({
    run,
    pairs,
    maxPairs: integerFlag(values['max-pairs'], '--max-pairs', { min: 1 }),
    gpus,
  });
  const evalDir = path.resolve(
    io.cwd,
    values.out ?? path.join(run.runDir, 'evals', `${pairs ? pairsName(pairs) : 'held-out'}-${stepName(checkpoint)}`),
  );
  if (evalDir === run.runDir) {
    throw new TribunalError(
      'CONFIG_INVALID',
      '--out must not be the training run itself: the evaluation writes its own config.json',
    );
  }

  const err = styleFor(io.stderr);
  const progress = values.json ? undefined : new TrainProgress({ stream: io.stderr, style: err });
  let result: TrainerRunResult;
  const written: { predictions: string | null } = { predictions: null };
  try {
    result = await runTrainer({
      task: 'eval',
      config,
      runDir: evalDir,
      ...(checkpoint === null ? {} : { checkpoint: checkpoint.path }),
      // An evaluation is a pure function of its config: a rerun replaces the previous one's outputs rather than
      // appending a second evaluation to its events.
      removeBeforeStart: [RUN_FILES.events, METRICS_FILE, PREDICTIONS_FILE],
      ...(gpus === undefined ? {} : { gpus }),
      signal,
      onEvent: (event: TrainerEvent) => {
        if (event.type === 'eval' && typeof event.predictions === 'string') written.predictions = event.predictions;
        if (values.json) io.stdout.write(`${JSON.stringify(event)}\n`);
        else progress?.handle(event);
      },
      ...(values.verbose ? { onLog: workerLogPrinter({ progress, stream: io.stderr, style: err }) } : {}),
    });
  } finally {
    progress?.finish();
  }
  if (result.status === 'stopped') {
    io.stderr.write(`${err.yellow('stopped')}: the evaluation did not finish; run the same command again.\n`);
    return EXIT.interrupted;
  }
  const summary: EvalSummary = {
    task: config.task ?? 'rm',
    run: run.runDir,
    checkpoint: checkpoint?.path ?? null,
    step: checkpoint?.step ?? 0,
    pairs: pairs ?? evaluatedPairs(config.data),
    metrics: result.eval,
    data: result.start?.command === 'eval' ? (result.start.data.truncation?.eval ?? null) : null,
    ...lengthBaselines(result.eval),
    predictions: written.predictions,
  };
  await writeJsonAtomic({ file: path.join(evalDir, METRICS_FILE), value: summary });
  if (!values.json) {
    const mistakes = summary.predictions ? await confidentMistakes(summary.predictions, MISTAKES_SHOWN) : undefined;
    io.stdout.write(`${renderEvalReport(summary, evalDir, styleFor(io.stdout), mistakes)}\n`);
  }
  return EXIT.ok;
}

/** What an evaluation without --pairs ran on: the run's own --eval file, or its held-out split (whole prompts). */
function evaluatedPairs(data: { train: string; eval?: string | undefined }): string {
  return data.eval === undefined
    ? `held-out split of ${data.train} (whole prompts held out)`
    : `${data.eval} (the run's --eval file)`;
}

/** The `count` wrong (not tied) pairs the model was surest of, most confident first, and how many were wrong. */
export async function confidentMistakes(file: string, count: number): Promise<{ shown: PredictionRow[]; wrong: number }> {
  const text = await readFile(file, 'utf8');
  const wrong: PredictionRow[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: ReturnType<typeof PredictionRowSchema.safeParse>;
    try {
      parsed = PredictionRowSchema.safeParse(JSON.parse(line));
    } catch (error) {
      throw new TribunalError('INTERNAL', `${file}:${index + 1}: not JSON (${(error as Error).message})`, { location: { file } });
    }
    if (!parsed.success) {
      throw new TribunalError('INTERNAL', `${file}:${index + 1}: not a prediction row: ${parsed.error.issues[0]?.message}`, {
        location: { file },
      });
    }
    const row = parsed.data;
    if (!row.correct && !row.tie && row.margin !== null) wrong.push(row);
  });
  wrong.sort((a, b) => (a.margin ?? 0) - (b.margin ?? 0));
  return { shown: wrong.slice(0, count), wrong: wrong.length };
}

/** The report of one evaluation: what was evaluated on what, the held-out table, the length baseline and the
 * pairs the model got most confidently wrong. */
export function renderEvalReport(
  summary: EvalSummary,
  evalDir: string,
  style: Style,
  mistakes: { shown: PredictionRow[]; wrong: number } = { shown: [], wrong: 0 },
): string {
  const model = summary.task === 'dpo' ? 'DPO policy' : 'Reward model';
  const which = summary.checkpoint === null ? 'untrained (initial weights)' : `step ${summary.step}`;
  const lines = [style.bold(`${model}, ${which}, on ${summary.pairs}`)];
  const metrics = summary.metrics;
  if (metrics === null || metrics.pairs === 0) {
    lines.push('', 'No pairs to evaluate.');
  } else {
    lines.push('', style.bold(`Held-out evaluation (${metrics.pairs} pairs)`));
    if (summary.task === 'dpo') lines.push(style.dim("r is DPO's implicit reward β · (log π − log π_ref) of an answer"));
    const note = dataNote(summary.data);
    if (note) lines.push(style.yellow(`Of the pairs read: ${note}.`));
    lines.push(heldOutTable(metrics, style));
    const baseline = lengthBaselineLine(summary);
    if (baseline) lines.push('', baseline);
    const bias = lengthBias(metrics);
    if (bias) lines.push('', style.yellow(bias));
  }
  if (mistakes.shown.length > 0) {
    lines.push('', style.bold(`Most confident mistakes (${mistakes.shown.length} of ${mistakes.wrong} wrong)`));
    for (const row of mistakes.shown) {
      lines.push(
        `  margin ${(row.margin ?? 0).toFixed(3)} · ${path.basename(row.file)}:${row.line}`,
        `    prompt:   ${promptTail(contentText(row.prompt), 110)}`,
        `    chosen:   ${oneLine(contentText(row.chosen), 110)}`,
        `    rejected: ${oneLine(contentText(row.rejected), 110)}`,
      );
    }
  }
  lines.push(
    '',
    `evaluation: ${evalDir}`,
    `  metrics:   ${path.join(evalDir, METRICS_FILE)}`,
    ...(summary.predictions ? [`  pairs:     ${summary.predictions} (every pair with its scores)`] : []),
    `  events:    ${path.join(evalDir, RUN_FILES.events)}`,
  );
  return lines.join('\n');
}

function stepName(checkpoint: TrainingCheckpoint | null): string {
  return checkpoint === null ? 'initial' : `step-${checkpoint.step}`;
}

/** The text of a prompt or completion: itself, or a conversation's last message (earlier turns are context). */
function contentText(content: PredictionRow['prompt']): string {
  if (typeof content === 'string') return content;
  const last = content.at(-1);
  return last ? `${last.role}: ${last.content}` : '';
}

/** The end of a prompt on one line: the last turn is what the answers reply to. */
function promptTail(text: string, max: number): string {
  const flat = oneLine(text, Number.MAX_SAFE_INTEGER);
  return flat.length > max ? `…${flat.slice(flat.length - max + 1)}` : flat;
}
