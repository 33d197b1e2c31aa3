import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { contentHash } from '../config/index.js';
import {
  type InputFormat,
  type PairSmoothingColumn,
  type ResolvedPanel,
  type TrainerConfig,
  type TrainerEvent,
  TribunalError,
} from '../contracts/index.js';
import { writeFileAtomic } from '../export/index.js';
import { type PolicySpec, parsePolicy, runGeneration } from '../generate/index.js';
import type { ModelRegistry } from '../models/index.js';
import { diversity, klEstimate, lengthControlledWinRate, lengthDrift, mean, winRate } from '../quality/index.js';
import {
  type ExportSettings,
  fileSha256,
  LABELING_DELTA_INTERVAL_MS,
  type LabelingProgress,
  runLabeling,
  type StopReason,
} from '../runner/index.js';
import { lockRunDirectory } from '../store/index.js';
import {
  buildEvalConfig,
  buildTrainConfig,
  countPairLines,
  pickCheckpoint,
  readTrainingRun,
  runTrainer,
} from '../trainer/index.js';
import { markEndedCompletions } from './ended-completions.js';
import {
  type Comparison,
  type HeldOutSamples,
  planComparisons,
  readComparisonVerdicts,
  readHeldOutSamples,
  writeComparisons,
} from './held-out.js';
import { type FiredStopRule, type InitialReport, type IterationReport, type LoopReport, writeLoopReport } from './loop-report.js';
import { exists, splitPrompts } from './split-prompts.js';

/** Defaults of `tribunal loop`. */
export const LOOP_DEFAULTS = {
  n: 4,
  heldOut: 0.2,
  evalSamples: 2,
  temperature: 1,
  topP: 1,
  maxTokens: 128,
  seed: 0,
  reference: 'initial',
} as const;

/** The DPO settings of each iteration's training (the rest are `tribunal train dpo`'s defaults). */
export interface LoopTrainSettings {
  beta?: number | undefined;
  learningRate?: number | undefined;
  epochs?: number | undefined;
  steps?: number | undefined;
  batchSize?: number | undefined;
  loss?: NonNullable<NonNullable<TrainerConfig['dpo']>['loss_type']> | undefined;
  labelSmoothing?: number | undefined;
  /** Each pair's own label smoothing from a column the label stage exported with `uncertainty`. */
  pairSmoothing?: PairSmoothingColumn | undefined;
  maxLength?: number | undefined;
  loraRank?: number | undefined;
  loraAlpha?: number | undefined;
  evalFraction?: number | undefined;
  saveSteps?: number | undefined;
  gpus?: number | undefined;
}

/** Stop rules checked after each iteration; the first that fires ends the loop after that iteration. */
export interface LoopStopRules {
  /** KL(policy_{i+1} ‖ policy_0) above this (nats per sample). */
  maxKl?: number | undefined;
  /** Win rate of policy_{i+1} over policy_i minus 0.5 below this. */
  minWinRateGain?: number | undefined;
  /** |mean tokens / policy_0's mean tokens − 1| above this. */
  maxLengthDrift?: number | undefined;
  /** distinct-2 of policy_{i+1}'s held-out samples below this. */
  minDiversity?: number | undefined;
}

/** Where the loop is: reported on every stage change. */
export interface LoopStage {
  /** -1 for the stages before the first iteration (split, policy_0's held-out samples). */
  iteration: number;
  stage: 'split' | 'initial' | 'generate' | 'label' | 'train' | 'held-out' | 'compare' | 'gold' | 'measure';
  /** `done` when the stage was already complete (a resumed loop skips it). */
  state: 'start' | 'done' | 'skipped';
  detail?: string | undefined;
}

/** Options of `runLoop`. */
export interface RunLoopOptions {
  /** Prompts to train on and hold out: any input format `tribunal label` reads. */
  prompts: string;
  outDir: string;
  /** policy_0: `tiny`, `tiny?seed=N` or `checkpoint:DIR` (a `tribunal train dpo` run). */
  policy: string;
  iterations: number;
  /** Samples per train prompt (K). */
  n?: number | undefined;
  /** Held-out prompts: a fraction (< 1) or a count. */
  heldOut?: number | undefined;
  /** Samples per held-out prompt and policy, each compared pairwise. */
  evalSamples?: number | undefined;
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  seed?: number | undefined;
  limit?: number | undefined;
  format?: InputFormat | undefined;
  panel: ResolvedPanel;
  models: ModelRegistry;
  defaultModel: string;
  modelOverride?: string | undefined;
  /** Debates at once. */
  concurrency?: number | undefined;
  /** Stop before this session's spend on the critics' models would pass this many USD (each label stage gets what is left). */
  maxCostUsd?: number | undefined;
  /** Stop before this session's model calls would pass this many. */
  maxCalls?: number | undefined;
  /** How labels become pairs (`tribunal label`'s pair flags); the pairs format is always TRL. */
  export?: Partial<ExportSettings> | undefined;
  train?: LoopTrainSettings | undefined;
  /** DPO's reference: policy_0 (default) or the policy the iteration starts from. */
  reference?: 'initial' | 'previous' | undefined;
  stopRules?: LoopStopRules | undefined;
  /** Human preference pairs (TRL or HH-RLHF): agreement of each policy's implicit reward with them. */
  gold?: string | undefined;
  goldMaxPairs?: number | undefined;
  /** Python worker options for sampling. */
  worker?: { python?: string | undefined; device?: 'auto' | 'cpu' | 'cuda' | undefined; batchSize?: number | undefined };
  cwd?: string | undefined;
  signal?: AbortSignal | undefined;
  onStage?: ((stage: LoopStage) => void) | undefined;
  onProgress?: ((progress: { iteration: number; stage: string; progress: LabelingProgress }) => void) | undefined;
  onTrainerEvent?: ((event: TrainerEvent, iteration: number) => void) | undefined;
  onLog?: ((line: string) => void) | undefined;
}

/** How a loop session ended. */
export interface LoopResult {
  /** `done`: every requested iteration ran; `stopped`: a stop rule fired; `interrupted`: Ctrl-C (rerun to continue). */
  status: 'done' | 'stopped' | 'interrupted' | 'halted';
  /** A sub-run that stopped early without an interrupt (a budget or the circuit breaker): why. */
  halted?: { iteration: number; stage: string; reason: StopReason } | undefined;
  report: LoopReport;
  reportFiles: string[];
}

/** DIR/loop.json: the settings the loop was started with and the stages it finished. */
interface LoopState {
  version: 1;
  settingsHash: string;
  settings: Record<string, unknown>;
  completed: string[];
  split?: { train: number; heldOut: number; rejected: number } | undefined;
}

const STATE_FILE = 'loop.json';
const PROMPT_FILES = { train: 'prompts-train.jsonl', heldOut: 'prompts-heldout.jsonl' } as const;
const MEASURES_FILE = 'measures.json';

/** The directories of one iteration (DIR/iter-<i>/…). */
export function iterationDirs(outDir: string, iteration: number) {
  const root = path.join(outDir, `iter-${iteration}`);
  return {
    root,
    /** The generation run: candidates.jsonl is what policy_i generated. */
    generate: root,
    label: path.join(root, 'label'),
    train: path.join(root, 'train'),
    heldOut: path.join(root, 'held-out'),
    comparePrevious: path.join(root, 'compare-previous'),
    compareInitial: path.join(root, 'compare-initial'),
    gold: path.join(root, 'gold'),
    measures: path.join(root, MEASURES_FILE),
  };
}

/**
 * Runs (or resumes) the RLAIF loop: split the prompts once; then for each iteration i, sample K answers per train
 * prompt from policy_i, label them with the panel, export pairs, train DPO from policy_i (reference policy_0 by
 * default) into policy_{i+1}, sample the held-out prompts from policy_{i+1} and measure it against policy_i and
 * policy_0 (pairwise debates with order swap, length, diversity, KL). Every stage is a resumable sub-run under
 * DIR/iter-<i>/ and DIR/loop.json lists the finished ones, so after kill -9 the same call continues where it
 * stopped. DIR/report.json and report.md are rewritten after every stage.
 */
export async function runLoop(options: RunLoopOptions): Promise<LoopResult> {
  const outDir = path.resolve(options.outDir);
  const lock = lockRunDirectory({ dir: outDir, purpose: 'loop' });
  try {
    return await loopLocked({ ...options, outDir });
  } finally {
    lock.release();
  }
}

async function loopLocked(options: RunLoopOptions & { outDir: string }): Promise<LoopResult> {
  const { outDir } = options;
  const cwd = options.cwd ?? process.cwd();
  if (!Number.isInteger(options.iterations) || options.iterations < 1) {
    throw new TribunalError('CONFIG_INVALID', `--iterations must be a whole number ≥ 1, got ${options.iterations}`);
  }
  const policy0 = parsePolicy({ text: options.policy, cwd });
  if (policy0.kind === 'model') {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--policy ${options.policy}: the loop trains its policy, so it must be tiny, tiny?seed=N or checkpoint:DIR (a "tribunal train dpo" run); an API model cannot be trained here — sample it with "tribunal generate" instead`,
    );
  }
  const exportSettings: Partial<ExportSettings> = { ...options.export };
  if (exportSettings.pairFormat !== undefined && exportSettings.pairFormat !== 'trl') {
    throw new TribunalError('CONFIG_INVALID', '--pairs-format: the loop trains on TRL pairs; leave --pairs-format out');
  }
  const base = await basePolicy(policy0);
  const settings = {
    prompts: (await fileSha256(path.resolve(cwd, options.prompts))).slice(0, 16),
    policy: policy0.kind === 'tiny' ? policy0.id : `checkpoint:${base.initCheckpoint}`,
    n: options.n ?? LOOP_DEFAULTS.n,
    heldOut: options.heldOut ?? LOOP_DEFAULTS.heldOut,
    evalSamples: options.evalSamples ?? LOOP_DEFAULTS.evalSamples,
    temperature: options.temperature ?? LOOP_DEFAULTS.temperature,
    topP: options.topP ?? LOOP_DEFAULTS.topP,
    maxTokens: options.maxTokens ?? LOOP_DEFAULTS.maxTokens,
    seed: options.seed ?? LOOP_DEFAULTS.seed,
    limit: options.limit ?? null,
    panel: options.panel.hash,
    model: options.modelOverride ?? options.defaultModel,
    export: exportSettings,
    train: options.train ?? {},
    reference: options.reference ?? LOOP_DEFAULTS.reference,
  };
  const state = await openState(outDir, settings);
  const save = async (): Promise<void> => {
    await writeFileAtomic({ file: path.join(outDir, STATE_FILE), content: `${JSON.stringify(state, null, 2)}\n` });
  };
  const completed = new Set(state.completed);
  const finish = async (key: string): Promise<void> => {
    completed.add(key);
    state.completed = [...completed];
    await save();
  };
  const stage = (value: LoopStage): void => options.onStage?.(value);
  const trainFile = path.join(outDir, PROMPT_FILES.train);
  const heldOutFile = path.join(outDir, PROMPT_FILES.heldOut);

  const report: LoopReport = {
    version: 1,
    status: 'running',
    stage: null,
    prompts: { file: path.resolve(options.prompts), train: 0, heldOut: 0 },
    policy: settings.policy,
    iterationsRequested: options.iterations,
    reference: settings.reference,
    initial: null,
    iterations: [],
    stoppedBy: null,
  };
  let reportFiles: string[] = [];
  const writeReport = async (stageName: string | null): Promise<void> => {
    report.stage = stageName;
    reportFiles = await writeLoopReport({ report, outDir });
  };

  // 1. The split, once.
  if (!completed.has('split')) {
    stage({ iteration: -1, stage: 'split', state: 'start' });
    state.split = await splitPrompts({
      input: path.resolve(cwd, options.prompts),
      format: options.format,
      limit: options.limit,
      heldOut: settings.heldOut,
      seed: settings.seed,
      trainFile,
      heldOutFile,
    });
    await finish('split');
  } else stage({ iteration: -1, stage: 'split', state: 'skipped' });
  report.prompts.train = state.split?.train ?? 0;
  report.prompts.heldOut = state.split?.heldOut ?? 0;

  const heldOutSeed = settings.seed + 1_000_003;
  const sampling = { temperature: settings.temperature, topP: settings.topP, maxTokens: settings.maxTokens };
  const generationWorker = {
    ...(options.worker?.python === undefined ? {} : { python: options.worker.python }),
    ...(options.worker?.device === undefined ? {} : { device: options.worker.device }),
    ...(options.worker?.batchSize === undefined ? {} : { batchSize: options.worker.batchSize }),
  };
  const interrupted = (): boolean => options.signal?.aborted === true;
  const haltedResult = async (iteration: number, stageName: string, reason: StopReason): Promise<LoopResult> => {
    await writeReport(`iteration ${iteration}: ${stageName} stopped (${reason})`);
    return {
      status: reason === 'interrupted' ? 'interrupted' : 'halted',
      ...(reason === 'interrupted' ? {} : { halted: { iteration, stage: stageName, reason } }),
      report,
      reportFiles,
    };
  };
  const generate = async (args: {
    iteration: number;
    stageName: string;
    input: string;
    dir: string;
    policy: string;
    n: number;
    seed: number;
    reference?: string;
  }) => {
    const result = await runGeneration({
      input: args.input,
      outDir: args.dir,
      policy: args.policy,
      n: args.n,
      ...sampling,
      seed: args.seed,
      cwd,
      ...(args.reference === undefined ? {} : { reference: args.reference }),
      worker: generationWorker,
      signal: options.signal,
      onProgress: (progress) => options.onProgress?.({ iteration: args.iteration, stage: args.stageName, progress }),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    if (result.status !== 'done' || result.totals.pending > 0) return { ok: false as const, reason: result.stopReason };
    if (result.totals.failed > 0) {
      throw new TribunalError(
        'PROVIDER_FAILED',
        `${args.stageName}: sampling failed for ${result.totals.failed} prompts of ${args.input} (see ${args.dir}); rerun the loop to retry them`,
      );
    }
    return { ok: true as const, result };
  };
  // This session's spend on the critics' models (the policies here run locally), against --max-cost / --max-calls.
  const spent = { costUsd: 0, calls: 0 };
  const label = async (args: { iteration: number; stageName: string; input: string; dir: string }) => {
    const costLeft = options.maxCostUsd === undefined ? undefined : options.maxCostUsd - spent.costUsd;
    const callsLeft = options.maxCalls === undefined ? undefined : options.maxCalls - spent.calls;
    if (costLeft !== undefined && costLeft <= 0) return { ok: false as const, reason: 'max-cost' as StopReason };
    if (callsLeft !== undefined && callsLeft < 1) return { ok: false as const, reason: 'max-calls' as StopReason };
    const result = await runLabeling({
      input: args.input,
      outDir: args.dir,
      panel: options.panel,
      models: options.models,
      defaultModel: options.defaultModel,
      modelOverride: options.modelOverride,
      concurrency: options.concurrency ?? 8,
      export: exportSettings,
      retryFailed: true,
      // No one watches a loop's debates token by token in this process: join each turn's tokens as `label` does.
      deltaIntervalMs: LABELING_DELTA_INTERVAL_MS,
      ...(costLeft === undefined ? {} : { maxCostUsd: costLeft }),
      ...(callsLeft === undefined ? {} : { maxCalls: callsLeft }),
      signal: options.signal,
      onProgress: (progress) => options.onProgress?.({ iteration: args.iteration, stage: args.stageName, progress }),
    });
    spent.costUsd += result.session.usage.costUsd;
    spent.calls += result.session.usage.calls;
    if (result.status !== 'done') return { ok: false as const, reason: result.stopReason ?? ('interrupted' as StopReason) };
    return { ok: true as const, result };
  };

  // 2. policy_0's held-out samples: the baseline of every comparison and of the length and diversity curves.
  const initialHeldOutDir = path.join(outDir, 'held-out-0');
  const referenceSpec = policy0.id;
  if (!completed.has('initial')) {
    stage({ iteration: -1, stage: 'initial', state: 'start' });
    const generated = await generate({
      iteration: -1,
      stageName: 'policy_0 held-out samples',
      input: heldOutFile,
      dir: initialHeldOutDir,
      policy: policy0.id,
      n: settings.evalSamples,
      seed: heldOutSeed,
    });
    if (!generated.ok) return haltedResult(0, 'policy_0 held-out samples', generated.reason ?? 'interrupted');
    await finish('initial');
  } else stage({ iteration: -1, stage: 'initial', state: 'skipped' });
  const initialSamples = await readHeldOutSamples(path.join(initialHeldOutDir, 'candidates.jsonl'));
  const initialDiversity = diversity({ samplesByPrompt: samplesByPrompt(initialSamples) });
  report.initial = {
    policy: settings.policy,
    meanTokens: mean(tokensOf(initialSamples)),
    distinct1: initialDiversity.distinct1,
    distinct2: initialDiversity.distinct2,
    pairwiseOverlap: initialDiversity.meanPairwiseOverlap,
    meanConsensus: null,
  } satisfies InitialReport;

  // Iterations already measured (a resumed loop) go back into the report first.
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    const dirs = iterationDirs(outDir, iteration);
    if (!completed.has(`iter-${iteration}/measure`)) break;
    const measured = JSON.parse(await readFile(dirs.measures, 'utf8')) as {
      report: IterationReport;
      initialConsensus?: number | null;
    };
    // The stop rules are this call's: a rerun with a looser rule (or none) goes on past an iteration that fired one.
    report.iterations.push({ ...measured.report, stopRule: firedStopRule(measured.report, options.stopRules ?? {}) });
    if (iteration === 0 && report.initial) report.initial.meanConsensus = measured.initialConsensus ?? null;
  }
  const alreadyStopped = report.iterations.find((row) => row.stopRule !== null);
  if (alreadyStopped) {
    report.status = 'stopped';
    report.stoppedBy = alreadyStopped.stopRule;
    report.iterations = report.iterations.slice(0, report.iterations.indexOf(alreadyStopped) + 1);
    await writeReport(null);
    return { status: 'stopped', report, reportFiles };
  }
  await writeReport(null);

  for (let iteration = report.iterations.length; iteration < options.iterations; iteration++) {
    if (interrupted()) return haltedResult(iteration, 'start', 'interrupted');
    const dirs = iterationDirs(outDir, iteration);
    const policyI = iteration === 0 ? policy0.id : `checkpoint:${iterationDirs(outDir, iteration - 1).train}`;
    const key = (name: string): string => `iter-${iteration}/${name}`;
    const run = async (
      name: LoopStage['stage'],
      body: () => Promise<LoopResult | undefined>,
    ): Promise<LoopResult | undefined> => {
      if (completed.has(key(name))) {
        stage({ iteration, stage: name, state: 'skipped' });
        return undefined;
      }
      stage({ iteration, stage: name, state: 'start' });
      await writeReport(`iteration ${iteration}: ${name}`);
      const halted = await body();
      if (halted) return halted;
      await finish(key(name));
      stage({ iteration, stage: name, state: 'done' });
      return undefined;
    };

    // a. policy_i samples the train prompts.
    let samples = 0;
    let duplicates = 0;
    const halt1 = await run('generate', async () => {
      const generated = await generate({
        iteration,
        stageName: `iteration ${iteration}: generate`,
        input: trainFile,
        dir: dirs.generate,
        policy: policyI,
        n: settings.n,
        seed: settings.seed + iteration,
      });
      if (!generated.ok) return haltedResult(iteration, 'generate', generated.reason ?? 'interrupted');
      return undefined;
    });
    if (halt1) return halt1;
    const trainSamples = await readHeldOutSamples(path.join(dirs.generate, 'candidates.jsonl'));
    for (const entry of trainSamples.prompts.values()) {
      samples += entry.samples.length;
      duplicates += entry.samples.length - new Set(entry.samples.map((sample) => sample.text)).size;
    }

    // b. The panel labels them; pairs.jsonl.
    const halt2 = await run('label', async () => {
      const labeled = await label({
        iteration,
        stageName: `iteration ${iteration}: label`,
        input: path.join(dirs.generate, 'candidates.jsonl'),
        dir: dirs.label,
      });
      if (!labeled.ok) return haltedResult(iteration, 'label', labeled.reason);
      return undefined;
    });
    if (halt2) return halt2;
    const pairsFile = path.join(dirs.label, 'pairs.jsonl');
    const trainPairsFile = path.join(dirs.root, 'train-pairs.jsonl');
    const pairs = await countPairLines(pairsFile);
    if (pairs === 0) {
      throw new TribunalError(
        'INPUT_INVALID',
        `iteration ${iteration}: the panel's labels of ${samples} samples gave no preference pair (every prompt's samples tied or were filtered out; see ${dirs.label}): raise --n, loosen --min-margin/--min-agreement, or use a panel that separates the samples`,
        { location: { file: pairsFile } },
      );
    }

    // c. DPO from policy_i, reference policy_0 (or policy_i).
    let trainerAccuracy: number | null = null;
    const halt3 = await run('train', async () => {
      const initCheckpoint =
        iteration === 0 ? base.initCheckpoint : await latestCheckpoint(iterationDirs(outDir, iteration - 1).train);
      const refCheckpoint = settings.reference === 'previous' ? initCheckpoint : base.initCheckpoint;
      const train = options.train ?? {};
      // The pairs as trained: each completion marked with whether the policy ended it (EOS) or was cut off.
      const ended = await markEndedCompletions({
        pairsFile,
        candidatesFile: path.join(dirs.generate, 'candidates.jsonl'),
        out: trainPairsFile,
      });
      const built = buildTrainConfig({
        task: 'dpo',
        pairs: trainPairsFile,
        pairCount: pairs,
        model: base.model,
        seed: base.seed,
        beta: train.beta,
        learningRate: train.learningRate,
        epochs: train.epochs,
        steps: train.steps,
        batchSize: train.batchSize,
        loss: train.loss,
        labelSmoothing: train.labelSmoothing,
        pairSmoothing: train.pairSmoothing,
        maxLength: train.maxLength,
        loraRank: train.loraRank,
        loraAlpha: train.loraAlpha,
        evalFraction: train.evalFraction,
        saveSteps: train.saveSteps ?? 50,
        gpus: train.gpus,
      });
      const config = {
        ...built,
        ...(base.trainerModel === undefined ? {} : base.trainerModel),
        ...(initCheckpoint === undefined ? {} : { init_checkpoint: initCheckpoint }),
        ...(refCheckpoint === undefined ? {} : { ref_checkpoint: refCheckpoint }),
      } as Omit<TrainerConfig, 'run_dir'>;
      const result = await runTrainer({
        task: 'dpo',
        runDir: dirs.train,
        config,
        ...(train.gpus === undefined ? {} : { gpus: train.gpus }),
        ...(options.signal ? { signal: options.signal } : {}),
        onEvent: (event) => options.onTrainerEvent?.(event, iteration),
        ...(options.onLog ? { onLog: options.onLog } : {}),
      });
      if (result.status !== 'completed') return haltedResult(iteration, 'train', 'interrupted');
      trainerAccuracy = result.eval?.accuracy ?? null;
      await writeFileAtomic({
        file: path.join(dirs.root, 'train-result.json'),
        content: `${JSON.stringify({ accuracy: trainerAccuracy, step: result.done.step, cutOff: ended.cutOff })}\n`,
      });
      return undefined;
    });
    if (halt3) return halt3;
    if (trainerAccuracy === null) trainerAccuracy = await readJsonField(path.join(dirs.root, 'train-result.json'), 'accuracy');
    const cutOff = (await readJsonField(path.join(dirs.root, 'train-result.json'), 'cutOff')) ?? 0;
    const policyNext = `checkpoint:${dirs.train}`;

    // d. policy_{i+1} samples the held-out prompts, each sample also scored under policy_0 (the KL).
    const halt4 = await run('held-out', async () => {
      const generated = await generate({
        iteration,
        stageName: `iteration ${iteration}: held-out samples`,
        input: heldOutFile,
        dir: dirs.heldOut,
        policy: policyNext,
        n: settings.evalSamples,
        seed: heldOutSeed,
        reference: referenceSpec,
      });
      if (!generated.ok) return haltedResult(iteration, 'held-out', generated.reason ?? 'interrupted');
      return undefined;
    });
    if (halt4) return halt4;
    const policySamples = await readHeldOutSamples(path.join(dirs.heldOut, 'candidates.jsonl'));
    const previousSamples =
      iteration === 0
        ? initialSamples
        : await readHeldOutSamples(path.join(iterationDirs(outDir, iteration - 1).heldOut, 'candidates.jsonl'));

    // e. Pairwise debates, order swapped: vs policy_i, and vs policy_0 (the same debates in iteration 0).
    const comparisons: Record<'previous' | 'initial', Comparison[]> = { previous: [], initial: [] };
    const halt5 = await run('compare', async () => {
      for (const [which, baseline, dir] of [
        ['previous', previousSamples, dirs.comparePrevious],
        ...(iteration === 0 ? [] : [['initial', initialSamples, dirs.compareInitial]]),
      ] as [keyof typeof comparisons, HeldOutSamples, string][]) {
        const input = path.join(dirs.root, `compare-${which}.jsonl`);
        if (!(await exists(input))) await writeComparisons({ policy: policySamples, baseline, file: input });
        const labeled = await label({ iteration, stageName: `iteration ${iteration}: compare vs ${which}`, input, dir });
        if (!labeled.ok) return haltedResult(iteration, 'compare', labeled.reason);
      }
      return undefined;
    });
    if (halt5) return halt5;
    // The comparison files are rebuilt in memory from the same samples (deterministic), to read the verdicts back.
    const previousVerdicts = await readComparisonVerdicts({
      labelsFile: path.join(dirs.comparePrevious, 'labels.jsonl'),
      comparisons: planComparisons(policySamples, previousSamples),
    });
    const initialVerdicts =
      iteration === 0
        ? previousVerdicts
        : await readComparisonVerdicts({
            labelsFile: path.join(dirs.compareInitial, 'labels.jsonl'),
            comparisons: planComparisons(policySamples, initialSamples),
          });

    // f. Gold agreement of the implicit reward.
    let goldAgreement: number | null = null;
    if (options.gold !== undefined) {
      const halt6 = await run('gold', async () => {
        const trainingRun = await readTrainingRun(dirs.train);
        const result = await runTrainer({
          task: 'eval',
          runDir: dirs.gold,
          config: buildEvalConfig({
            run: trainingRun,
            pairs: path.resolve(cwd, options.gold as string),
            maxPairs: options.goldMaxPairs,
          }),
          checkpoint: await latestCheckpoint(dirs.train),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onLog ? { onLog: options.onLog } : {}),
        });
        if (result.status !== 'completed') return haltedResult(iteration, 'gold', 'interrupted');
        await writeFileAtomic({
          file: path.join(dirs.root, 'gold-result.json'),
          content: `${JSON.stringify({ accuracy: result.eval?.accuracy ?? null })}\n`,
        });
        return undefined;
      });
      if (halt6) return halt6;
      goldAgreement = await readJsonField(path.join(dirs.root, 'gold-result.json'), 'accuracy');
    }

    // g. Measures, stop rules, report.
    stage({ iteration, stage: 'measure', state: 'start' });
    const seed = `loop:${settings.seed}:iter-${iteration}`;
    const versusPrevious = winRate({ outcomes: previousVerdicts.outcomes, seed });
    const versusInitial = winRate({ outcomes: initialVerdicts.outcomes, seed: `${seed}:initial` });
    const lengthControlled = lengthControlledWinRate({ outcomes: previousVerdicts.outcomes, seed });
    const lengthControlledInitial = lengthControlledWinRate({ outcomes: initialVerdicts.outcomes, seed: `${seed}:initial` });
    const policyDiversity = diversity({ samplesByPrompt: samplesByPrompt(policySamples) });
    const policyTokens = tokensOf(policySamples);
    const drift = lengthDrift({ tokens: policyTokens, baselineTokens: tokensOf(initialSamples) });
    const kl = klEstimate({ samples: [...policySamples.prompts.values()].flatMap((entry) => entry.samples) });
    const row: IterationReport = {
      iteration,
      policy: policyNext,
      samples,
      duplicates,
      pairs,
      cutOffCompletions: cutOff,
      trainerAccuracy,
      winRate: versusPrevious.value,
      winRateInterval: pairOf(versusPrevious.low, versusPrevious.high),
      wins: versusPrevious.wins,
      losses: versusPrevious.losses,
      ties: versusPrevious.ties,
      swapInconsistent: versusPrevious.swapInconsistent,
      comparisons: previousVerdicts.outcomes.length,
      missingComparisons: previousVerdicts.missing,
      winRateVsInitial: versusInitial.value,
      winRateVsInitialInterval: pairOf(versusInitial.low, versusInitial.high),
      lengthControlledWinRate: lengthControlled.value,
      lengthControlledWinRateInterval: pairOf(lengthControlled.low, lengthControlled.high),
      lengthControlledWinRateVsInitial: lengthControlledInitial.value,
      meanConsensus: initialVerdicts.meanPolicyScore,
      meanTokens: drift.meanTokens,
      lengthDrift: drift.ratio,
      distinct1: policyDiversity.distinct1,
      distinct2: policyDiversity.distinct2,
      pairwiseOverlap: policyDiversity.meanPairwiseOverlap,
      kl: kl.value,
      klInterval: pairOf(kl.low, kl.high),
      goldAgreement,
      stopRule: null,
    };
    row.stopRule = firedStopRule(row, options.stopRules ?? {});
    if (iteration === 0 && report.initial) report.initial.meanConsensus = initialVerdicts.meanBaselineScore;
    await writeFileAtomic({
      file: dirs.measures,
      content: `${JSON.stringify({ report: row, initialConsensus: initialVerdicts.meanBaselineScore }, null, 2)}\n`,
    });
    await finish(key('measure'));
    report.iterations.push(row);
    stage({ iteration, stage: 'measure', state: 'done', detail: row.stopRule?.message });
    if (row.stopRule) {
      report.status = 'stopped';
      report.stoppedBy = row.stopRule;
      await writeReport(null);
      return { status: 'stopped', report, reportFiles };
    }
    await writeReport(null);
  }
  report.status = 'done';
  await writeReport(null);
  return { status: 'done', report, reportFiles };
}

/** The first stop rule an iteration's measures fire, or null. */
export function firedStopRule(row: IterationReport, rules: LoopStopRules): FiredStopRule | null {
  if (rules.maxKl !== undefined && row.kl !== null && row.kl > rules.maxKl) {
    return {
      rule: 'max-kl',
      value: row.kl,
      threshold: rules.maxKl,
      message: `KL(policy_${row.iteration + 1} ‖ policy_0) = ${row.kl.toFixed(3)} nats passed --max-kl ${rules.maxKl}`,
    };
  }
  if (rules.minWinRateGain !== undefined && row.winRate !== null && row.winRate - 0.5 < rules.minWinRateGain - 1e-9) {
    return {
      rule: 'min-win-rate-gain',
      value: row.winRate - 0.5,
      threshold: rules.minWinRateGain,
      message: `the win rate over policy_${row.iteration} is ${(row.winRate * 100).toFixed(1)}%, a gain of ${((row.winRate - 0.5) * 100).toFixed(1)} points, below --min-win-rate-gain ${rules.minWinRateGain}`,
    };
  }
  if (rules.maxLengthDrift !== undefined && row.lengthDrift !== null && Math.abs(row.lengthDrift - 1) > rules.maxLengthDrift) {
    return {
      rule: 'max-length-drift',
      value: row.lengthDrift,
      threshold: rules.maxLengthDrift,
      message: `mean length is ${row.lengthDrift.toFixed(2)}× policy_0's, past --max-length-drift ${rules.maxLengthDrift}`,
    };
  }
  if (rules.minDiversity !== undefined && row.distinct2 !== null && row.distinct2 < rules.minDiversity) {
    return {
      rule: 'min-diversity',
      value: row.distinct2,
      threshold: rules.minDiversity,
      message: `distinct-2 of the held-out samples is ${row.distinct2.toFixed(3)}, below --min-diversity ${rules.minDiversity}`,
    };
  }
  return null;
}

/** What the trainer needs to rebuild policy_0: the model and its seed, and for `checkpoint:DIR` its weights. */
async function basePolicy(spec: Exclude<PolicySpec, { kind: 'model' }>): Promise<{
  model: string;
  seed: number;
  initCheckpoint: string | undefined;
  trainerModel: Partial<Omit<TrainerConfig, 'run_dir'>> | undefined;
}> {
  if (spec.kind === 'tiny') return { model: 'tiny', seed: spec.seed, initCheckpoint: undefined, trainerModel: undefined };
  const run = await readTrainingRun(spec.runDir);
  if (run.config.task !== 'dpo') {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--policy checkpoint:${spec.runDir} is a "${run.config.task ?? 'unknown'}" run: the loop starts from a policy (a "tribunal train dpo" run)`,
    );
  }
  const checkpoint = await pickCheckpoint(run, 'latest');
  if (!checkpoint) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--policy checkpoint:${spec.runDir} has no checkpoint yet: finish that training run first`,
    );
  }
  const { model, lora, seed } = run.config;
  return {
    model: typeof model === 'object' && model.kind === 'hf' && model.path ? model.path : 'tiny',
    seed: seed ?? 0,
    initCheckpoint: checkpoint.path,
    trainerModel: {
      model,
      ...(lora === undefined ? {} : { lora }),
      ...(seed === undefined ? {} : { seed }),
    },
  };
}

async function latestCheckpoint(runDir: string): Promise<string> {
  const checkpoint = await pickCheckpoint(await readTrainingRun(runDir), 'latest');
  if (!checkpoint) throw new TribunalError('INTERNAL', `${runDir} has no checkpoint although its training finished`);
  return checkpoint.path;
}

async function openState(outDir: string, settings: Record<string, unknown>): Promise<LoopState> {
  const file = path.join(outDir, STATE_FILE);
  const settingsHash = contentHash(settings);
  if (!(await exists(file))) return { version: 1, settingsHash, settings, completed: [] };
  const state = JSON.parse(await readFile(file, 'utf8')) as LoopState;
  if (state.settingsHash !== settingsHash) {
    const changed = Object.keys({ ...settings, ...state.settings })
      .filter((name) => contentHash(settings[name] ?? null) !== contentHash(state.settings[name] ?? null))
      .sort();
    throw new TribunalError(
      'CONFIG_INVALID',
      `${outDir} holds a loop started with other settings (${changed.join(', ')} changed): rerun with the same flags to continue it, or use a new --out`,
      { location: { file } },
    );
  }
  return state;
}

function samplesByPrompt(samples: HeldOutSamples): string[][] {
  return [...samples.prompts.values()].map((entry) => entry.samples.map((sample) => sample.text));
}

function tokensOf(samples: HeldOutSamples): number[] {
  return [...samples.prompts.values()].flatMap((entry) =>
    entry.samples.flatMap((sample) => (sample.tokens === null ? [] : [sample.tokens])),
  );
}

function pairOf(low: number | null, high: number | null): [number, number] | null {
  return low === null || high === null ? null : [low, high];
}

async function readJsonField(file: string, field: string): Promise<number | null> {
  try {
    const value = (JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>)[field];
    return typeof value === 'number' ? value : null;
  } catch {
    return null;
  }
}
