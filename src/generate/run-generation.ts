import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import { addUsage, type InputFormat, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { detectFormat, type ItemRejection, validateInput } from '../datasets/index.js';
import { createModelRegistry, loadSettings, type ModelRegistry, type PricingTable, type Settings } from '../models/index.js';
import {
  BreakerSettingsSchema,
  checkInputFile,
  FailureBreaker,
  fileSha256,
  type ImportReport,
  importItems,
  isModelFailure,
  LabelingBudget,
  type LabelingProgress,
  type StopReason,
  sessionProgress,
} from '../runner/index.js';
import {
  type ClaimedItem,
  lockRunDirectory,
  openStore,
  type RunConfig,
  type RunOpening,
  type RunTotals,
  type Store,
} from '../store/index.js';
import { type CandidatesExport, writeCandidatesFile } from './candidates-file.js';
import { createPolicy } from './create-policy.js';
import { estimateGeneration } from './estimate-generation.js';
import {
  type CallPolicy,
  type Policy,
  type PolicySpec,
  parsePolicy,
  type SamplingSettings,
  type WorkerPolicy,
} from './policy.js';
import type { WorkerPolicyOptions } from './worker-policy.js';

/** The `panel.id` a generation run is stored under (runs are found by input and this id). */
export const GENERATION_RUN_ID = 'generate';

/** Sampling defaults: K = 4 samples of at most 256 tokens at temperature 1, no nucleus cut, seed 0. */
export const GENERATION_DEFAULTS = { n: 4, temperature: 1, topP: 1, maxTokens: 256, seed: 0 } as const;

/** Options of `runGeneration`. */
export interface RunGenerationOptions {
  /** The prompts: any input `tribunal label` reads (native rows may omit candidates); existing candidates are ignored. */
  input: string;
  /** The run directory: the store, candidates.jsonl and the worker's files live here. */
  outDir: string;
  /** `tiny`, `checkpoint:DIR`, or a model id (`openai:…`, `anthropic:…`, `local:…`, `fake:…`). */
  policy: string;
  /** Samples per prompt (K). */
  n: number;
  /**
   * Also score every sample under this policy (`tiny` or `checkpoint:DIR`; the policy must be one too): candidates get
   * `meta.refLogprob`, and `logprob − refLogprob` averaged over samples estimates KL(policy ‖ reference).
   */
  reference?: string | undefined;
  temperature?: number | undefined;
  topP?: number | undefined;
  /** Most new tokens per sample. */
  maxTokens?: number | undefined;
  seed?: number | undefined;
  /** Prompts sampled at once by API and local policies (the worker batches on its own). Default 8. */
  concurrency?: number | undefined;
  limit?: number | undefined;
  maxCostUsd?: number | undefined;
  maxCalls?: number | undefined;
  strict?: boolean | undefined;
  format?: InputFormat | undefined;
  /** Put prompts whose sampling failed back in the queue. */
  retryFailed?: boolean | undefined;
  /** Abort to stop gracefully: no new prompts; sampled prompts are kept and written out. */
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: LabelingProgress) => void) | undefined;
  progressIntervalMs?: number | undefined;
  onRejected?: ((rejection: ItemRejection) => void) | undefined;
  onItemFailed?: ((failure: { itemId: string; line: number; code: string; message: string }) => void) | undefined;
  /** The Python worker's stderr lines. */
  onLog?: ((line: string) => void) | undefined;
  /** Resolves `checkpoint:` paths. Default the process's cwd. */
  cwd?: string | undefined;
  settings?: Settings | undefined;
  /** The registry for `local:` policies (created and closed here when omitted). */
  models?: ModelRegistry | undefined;
  pricing?: PricingTable | undefined;
  /** HTTP retry waits (tests pass 0). */
  backoffMs?: number | undefined;
  /** Python worker options for `tiny` and `checkpoint:DIR`. */
  worker?: Omit<WorkerPolicyOptions, 'spec' | 'runDir' | 'reference'> | undefined;
}

/** How a generation session ended. */
export interface GenerationResult {
  runId: string;
  opening: RunOpening['outcome'];
  /** Prompts requeued because the policy or sampling settings changed. */
  requeued: number;
  status: 'done' | 'stopped';
  stopReason?: StopReason | undefined;
  policy: { id: string; fingerprint: string };
  imported: ImportReport;
  recovered: number;
  totals: RunTotals;
  session: { done: number; failed: number; aborted: number; usage: Usage; elapsedMs: number };
  /** DIR/candidates.jsonl and its counts (duplicates folded). */
  export: CandidatesExport;
}

/**
 * Runs (or resumes) a generation job: K samples per prompt from a policy, kept in the run directory's store (one
 * transaction per prompt, all its samples at once) and written to DIR/candidates.jsonl, the native input format
 * `tribunal label` reads, with identical samples of a prompt folded and counted. Rerunning after any crash resumes:
 * sampled prompts are kept, prompts in flight are sampled again from the start (the seeded policies draw the same
 * samples), so every prompt ends up with its K samples exactly once. A changed policy (a newer checkpoint) or
 * changed sampling settings resample every prompt.
 *
 * One session per run directory (`DIR/tribunal.lock`). Aborting `signal` stops taking prompts; budgets (`maxCostUsd`,
 * `maxCalls`) stop taking prompts once the projected spend would pass a cap. Either way what is sampled is written out.
 * @example
 * const result = await runGeneration({ input: 'prompts.jsonl', outDir: 'gen', policy: 'tiny', n: 4, maxTokens: 64 });
 * console.log(result.export.file, result.export.duplicates);
 */
export async function runGeneration(options: RunGenerationOptions): Promise<GenerationResult> {
  const lock = lockRunDirectory({ dir: options.outDir, purpose: 'generate' });
  try {
    return await generateLocked(options);
  } finally {
    lock.release();
  }
}

/** Validated sampling settings from the options, with defaults. */
export function samplingSettingsOf(
  options: Pick<RunGenerationOptions, 'n' | 'temperature' | 'topP' | 'maxTokens' | 'seed'>,
): SamplingSettings {
  const settings: SamplingSettings = {
    n: options.n,
    temperature: options.temperature ?? GENERATION_DEFAULTS.temperature,
    topP: options.topP ?? GENERATION_DEFAULTS.topP,
    maxTokens: options.maxTokens ?? GENERATION_DEFAULTS.maxTokens,
    seed: options.seed ?? GENERATION_DEFAULTS.seed,
  };
  const bad = (field: string, rule: string, value: number) =>
    new TribunalError('CONFIG_INVALID', `${field} must be ${rule}, got ${value}`, { location: { field } });
  if (!Number.isInteger(settings.n) || settings.n < 1 || settings.n > 1024)
    throw bad('n', 'a whole number from 1 to 1024', settings.n);
  if (!(settings.temperature >= 0 && settings.temperature <= 10)) throw bad('temperature', 'from 0 to 10', settings.temperature);
  if (!(settings.topP > 0 && settings.topP <= 1)) throw bad('topP', 'greater than 0 and at most 1', settings.topP);
  if (!Number.isInteger(settings.maxTokens) || settings.maxTokens < 1)
    throw bad('maxTokens', 'a whole number of at least 1', settings.maxTokens);
  if (!Number.isInteger(settings.seed) || settings.seed < 0) throw bad('seed', 'a whole number of at least 0', settings.seed);
  return settings;
}

/** An input with no prompt is a mistake, not a finished run: say so (and how many lines were rejected) and fail. */
async function refuseEmptyInput(options: { store: Store; runId: string; input: string }): Promise<void> {
  const totals = (await options.store.getRun({ runId: options.runId }))?.totals;
  if (totals === undefined || totals.items > 0) return;
  const why =
    totals.rejectedLines === 0
      ? 'it is empty or blank'
      : `all ${totals.rejectedLines} of its lines were rejected (the messages above say why)`;
  throw new TribunalError('INPUT_INVALID', `${options.input} holds no prompts: ${why}; nothing to sample`, {
    location: { file: options.input },
  });
}

async function generateLocked(options: RunGenerationOptions): Promise<GenerationResult> {
  const startedAt = Date.now();
  const sampling = samplingSettingsOf(options);
  const spec = parsePolicy({ text: options.policy, cwd: options.cwd ?? process.cwd() });
  const reference =
    options.reference === undefined ? undefined : parsePolicy({ text: options.reference, cwd: options.cwd ?? process.cwd() });
  const settings = options.settings ?? loadSettings();
  // The labeling runs' input check: a directory, a device or a missing path is named before anything reads it.
  await checkInputFile(options.input);
  const format = options.format ?? (await detectFormat({ file: options.input })).format;
  if (options.strict) {
    const report = await validateInput({ file: options.input, format, requireCandidates: false });
    if (report.error) throw report.error;
  }
  const sha256 = await fileSha256(options.input);
  const models = options.models ?? createModelRegistry({ settings });
  const store = openStore({ dir: options.outDir });
  let policy: Policy | undefined;
  let runId: string | undefined;
  try {
    policy = await createPolicy({
      spec,
      runDir: options.outDir,
      settings,
      models,
      pricing: options.pricing,
      backoffMs: options.backoffMs,
      worker: options.worker,
      reference,
    });
    const config = generationRunConfig({ input: { file: options.input, sha256, format }, policy, sampling, options });
    const opening = await store.createOrResumeRun({ config });
    runId = opening.run.id;
    const imported = await importItems({
      store,
      runId,
      file: options.input,
      format,
      limit: options.limit,
      requireCandidates: false,
      onRejected: options.onRejected,
    });
    await refuseEmptyInput({ store, runId, input: options.input });
    const recovered = await store.resetRunning({ runId });
    if (options.retryFailed) await store.requeueFailed({ runId });

    const session = await samplePending({ options, store, runId, policy, spec, sampling, settings, format });
    // Prompts claimed but not sampled (a stop, a failed worker) wait for the next session.
    await store.resetRunning({ runId });
    const totals = (await store.getRun({ runId }))?.totals ?? opening.run.totals;
    const drained = totals.pending === 0 && totals.running === 0;
    const status = drained && session.stopReason === undefined ? 'done' : 'stopped';
    await store.setRunStatus({ runId, status });
    const exported = await writeCandidatesFile({ store, runId, directory: options.outDir });
    return {
      runId,
      opening: opening.outcome,
      requeued: opening.outcome === 'reconfigured' ? opening.requeued : 0,
      status,
      ...(session.stopReason === undefined ? {} : { stopReason: session.stopReason }),
      policy: { id: policy.id, fingerprint: policy.fingerprint },
      imported,
      recovered,
      totals,
      session: { ...session.counts, usage: session.usage, elapsedMs: Date.now() - startedAt },
      export: exported,
    };
  } catch (error) {
    if (runId !== undefined) {
      await store.resetRunning({ runId }).catch(() => undefined);
      await store.setRunStatus({ runId, status: 'failed' }).catch(() => undefined);
    }
    throw error;
  } finally {
    await policy?.close();
    await store.close();
    if (options.models === undefined) await models.close();
  }
}

/** The run config of a generation run: the input by content, the policy's fingerprint and the sampling settings. */
function generationRunConfig(options: {
  input: RunConfig['input'];
  policy: Policy;
  sampling: SamplingSettings;
  options: RunGenerationOptions;
}): RunConfig {
  const { policy, sampling } = options;
  return {
    kind: 'generation',
    input: options.input,
    panel: { id: GENERATION_RUN_ID, hash: createHash('sha256').update(policy.fingerprint).digest('hex').slice(0, 16) },
    personas: {},
    constitution: null,
    models: { policy: policy.id },
    options: { policy: policy.fingerprint, ...sampling },
    runtime: {
      concurrency: options.options.concurrency ?? 8,
      limit: options.options.limit ?? null,
      file: path.resolve(options.input.file),
    },
  };
}

interface SessionOutcome {
  stopReason: StopReason | undefined;
  counts: { done: number; failed: number; aborted: number };
  usage: Usage;
}

async function samplePending(context: {
  options: RunGenerationOptions;
  store: Store;
  runId: string;
  policy: Policy;
  spec: PolicySpec;
  sampling: SamplingSettings;
  settings: Settings;
  format: InputFormat;
}): Promise<SessionOutcome> {
  const { options, store, runId } = context;
  const startedAt = Date.now();
  const initial = (await store.getRun({ runId }))?.totals;
  if (!initial) throw new TribunalError('STORE_FAILED', `run ${runId} disappeared from ${store.location}`);
  const state = { ...initial, running: 0 };
  const counts = { done: 0, failed: 0, aborted: 0 };
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  let stopReason: StopReason | undefined;
  const stopWith = (reason: StopReason) => {
    stopReason ??= reason;
    if (reason === 'interrupted' && !stop.signal.aborted)
      stop.abort(new TribunalError('ABORTED', 'the generation run was interrupted'));
  };
  const onAbort = () => stopWith('interrupted');
  const budget = new LabelingBudget({
    maxCostUsd: options.maxCostUsd,
    maxCalls: options.maxCalls,
    prior: options.maxCostUsd === undefined && options.maxCalls === undefined ? ZERO_USAGE : await priorUsage(context, initial),
  });
  // The worker's prompts cost no calls; their tokens are this session's usage (the budget tracks the pool's).
  let workerUsage: Usage = ZERO_USAGE;
  const spent = () => (context.policy.kind === 'worker' ? workerUsage : budget.spent());
  const progress = (): LabelingProgress =>
    sessionProgress({
      runId,
      totals: state,
      settled: counts.done + counts.failed,
      startedAt,
      usage: spent(),
      stopping: stopReason,
    });
  const report = () => options.onProgress?.(progress());
  if (state.pending === 0) {
    report();
    return { stopReason, counts, usage: spent() };
  }

  const settle = async (claimed: { itemId: string; attempt: number }, samples: { samples: unknown[]; usage: Usage }) => {
    const generation = { policy: context.policy.id, samples: samples.samples, usage: samples.usage };
    if (
      await store.markGenerated({ runId, itemId: claimed.itemId, generation, usage: samples.usage, attempt: claimed.attempt })
    ) {
      counts.done += 1;
      state.done += 1;
      if (context.policy.kind === 'worker') workerUsage = addUsage(workerUsage, samples.usage);
    }
  };

  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setInterval(report, Math.max(50, options.progressIntervalMs ?? 500));
  timer.unref();
  try {
    if (context.policy.kind === 'worker') {
      await sampleWithWorker({ ...context, policy: context.policy, stop, state, settle, report });
    } else {
      await sampleWithPool({ ...context, policy: context.policy, stop, state, counts, budget, stopWith, settle, report });
    }
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (stop.signal.aborted) stopReason ??= 'interrupted';
  report();
  return { stopReason, counts, usage: spent() };
}

type Settle = (claimed: { itemId: string; attempt: number }, samples: { samples: unknown[]; usage: Usage }) => Promise<void>;
type State = RunTotals & { running: number };

/** Prompts one worker process samples (the prompts file it reads and the claims it holds); more take several. */
export const WORKER_CHUNK = 4096;

/** The worker samples the pending prompts, a chunk per process, streaming each prompt's samples back as it finishes. */
async function sampleWithWorker(context: {
  options: RunGenerationOptions;
  store: Store;
  runId: string;
  policy: WorkerPolicy;
  sampling: SamplingSettings;
  stop: AbortController;
  state: State;
  settle: Settle;
  report: () => void;
}): Promise<void> {
  const { store, runId, state } = context;
  while (!context.stop.signal.aborted) {
    const claimed = await store.claimPending({ runId, limit: WORKER_CHUNK });
    if (claimed.length === 0) return;
    state.pending -= claimed.length;
    state.running += claimed.length;
    const byId = new Map<string, ClaimedItem>(claimed.map((entry) => [entry.itemId, entry]));
    context.report();
    try {
      await context.policy.run({
        items: claimed.map((entry) => ({ itemId: entry.itemId, item: entry.item })),
        settings: context.sampling,
        signal: context.stop.signal,
        onLog: context.options.onLog,
        onPrompt: async (itemId, samples) => {
          const entry = byId.get(itemId);
          if (!entry) return;
          byId.delete(itemId);
          await context.settle(entry, samples);
          state.running -= 1;
          context.report();
        },
      });
    } finally {
      // Claims the worker did not answer go back to the queue at the end of the session (resetRunning).
      state.pending += byId.size;
      state.running -= byId.size;
    }
  }
}

/** A pool of `concurrency` loops, each claiming one prompt at a time within the budget. */
async function sampleWithPool(context: {
  options: RunGenerationOptions;
  store: Store;
  runId: string;
  policy: CallPolicy;
  sampling: SamplingSettings;
  stop: AbortController;
  state: State;
  counts: SessionOutcome['counts'];
  budget: LabelingBudget;
  stopWith: (reason: StopReason) => void;
  settle: Settle;
  report: () => void;
}): Promise<void> {
  const { store, runId, state, counts, budget, stop, options } = context;
  let waiters: Array<() => void> = [];
  const wakeAll = () => {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  };
  stop.signal.addEventListener('abort', wakeAll, { once: true });
  // The labeling runs' circuit breaker at its defaults: a policy that keeps failing stops the session.
  const breaker = new FailureBreaker(BreakerSettingsSchema.parse({}));
  let fatal: unknown;
  let stopped = false;

  const sampleOne = async (claimed: ClaimedItem) => {
    const spend = budget.start();
    try {
      const result = await context.policy.samplePrompt({ item: claimed.item, settings: context.sampling, signal: stop.signal });
      spend.add(result.usage);
      spend.finish({ completed: true });
      await context.settle(claimed, result);
      breaker.record('labeled');
    } catch (error) {
      spend.finish({ completed: false });
      const failure =
        error instanceof TribunalError
          ? error
          : new TribunalError('INTERNAL', `sampling failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, {
              cause: error,
            });
      if (failure.code === 'ABORTED' || stop.signal.aborted) {
        await store.markFailed({
          runId,
          itemId: claimed.itemId,
          state: 'pending',
          error: { code: 'ABORTED', message: 'stopped before its samples were drawn; it is sampled again' },
          attempt: claimed.attempt,
        });
        counts.aborted += 1;
        state.pending += 1;
        return;
      }
      if (failure.code === 'STORE_FAILED') throw failure;
      await store.markFailed({
        runId,
        itemId: claimed.itemId,
        state: 'failed',
        error: { code: failure.code, message: failure.message },
        attempt: claimed.attempt,
      });
      counts.failed += 1;
      state.failed += 1;
      options.onItemFailed?.({ itemId: claimed.itemId, line: claimed.line, code: failure.code, message: failure.message });
      if (isModelFailure(failure.code) && breaker.record('failed')) {
        context.stopWith('provider-failing');
        stopped = true;
      }
    }
  };

  const loop = async () => {
    while (!stopped && !stop.signal.aborted && fatal === undefined) {
      const refusal = budget.admit();
      if (refusal) {
        if (state.running === 0) {
          context.stopWith(refusal);
          stopped = true;
          break;
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
        continue;
      }
      state.running += 1;
      let claimed: ClaimedItem | undefined;
      try {
        [claimed] = await store.claimPending({ runId, limit: 1 });
        if (!claimed) {
          state.running -= 1;
          break;
        }
        state.pending -= 1;
        await sampleOne(claimed);
      } catch (error) {
        fatal ??= error;
        stop.abort(new TribunalError('ABORTED', 'the generation run failed'));
      } finally {
        if (claimed) {
          state.running -= 1;
          context.report();
        }
        wakeAll();
      }
    }
  };
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
  await Promise.all(Array.from({ length: concurrency }, loop));
  if (fatal !== undefined) throw fatal;
}

/** The budget's per-prompt expectation before this session finished one: earlier sessions' average, else an estimate. */
async function priorUsage(
  context: {
    options: RunGenerationOptions;
    spec: PolicySpec;
    sampling: SamplingSettings;
    settings: Settings;
    format: InputFormat;
  },
  totals: RunTotals,
): Promise<Usage> {
  if (totals.done > 0 && totals.usage.calls > 0) {
    const n = totals.done;
    const { inputTokens, outputTokens, calls, costUsd } = totals.usage;
    return { inputTokens: inputTokens / n, outputTokens: outputTokens / n, calls: calls / n, costUsd: costUsd / n };
  }
  const estimate = await estimateGeneration({
    input: context.options.input,
    spec: context.spec,
    n: context.sampling.n,
    maxTokens: context.sampling.maxTokens,
    settings: context.settings,
    format: context.format,
    limit: Math.min(context.options.limit ?? 50, 50),
    pricing: context.options.pricing,
  });
  const prompts = Math.max(1, estimate.prompts);
  const { inputTokens, outputTokens, costUsd } = estimate.usage;
  const scale = estimate.usage.calls > 0 ? estimate.callsWithN / estimate.usage.calls : 1;
  return {
    inputTokens: inputTokens / prompts,
    outputTokens: outputTokens / prompts,
    calls: estimate.callsWithN / prompts,
    costUsd: (costUsd * Math.max(scale, 1 / context.sampling.n)) / prompts,
  };
}
