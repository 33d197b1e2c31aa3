import { type DebateEvent, type InputFormat, type ResolvedPanel, TribunalError, type Usage } from '../contracts/index.js';
import { detectFormat, type ItemRejection, validateInput } from '../datasets/index.js';
import type { DebateTools } from '../engine/index.js';
import type { ModelRegistry } from '../models/index.js';
import { lockRunDirectory, openStore, type RunLock, type RunOpening, type RunTotals, type Store } from '../store/index.js';
import { estimateLabeling, perItemUsage } from './estimate-labeling.js';
import { type ExportSettings, ExportSettingsSchema, exportRun, type RunExport } from './export-run.js';
import type { BreakerSettings, BreakerTrip } from './failure-breaker.js';
import { type FailureSummary, summarizeFailures } from './failure-summary.js';
import { fileSha256 } from './file-sha256.js';
import { type ImportReport, importItems } from './import-items.js';
import { checkInputFile } from './input-file.js';
import { requirePricesForBudget, runModelPrices, type StopReason } from './labeling-budget.js';
import { labelingRunConfig } from './labeling-config.js';
import type { LabelingProgress } from './labeling-progress.js';
import { LabelingWorker, type WorkerOutcome } from './labeling-worker.js';
import { type LabelingWorkerSpec, labelingWorkerSpec } from './worker-spec.js';

/** Options of `runLabeling`. */
export interface RunLabelingOptions {
  /** The input JSONL file (native, HH-RLHF or TRL; gzipped or not). */
  input: string;
  /** The run directory: the store (`tribunal.sqlite`) and every output file live here. */
  outDir: string;
  panel: ResolvedPanel;
  models: ModelRegistry;
  /** The model of every critic that names none. */
  defaultModel: string;
  /** Overrides every critic's model (`--model`). */
  modelOverride?: string | undefined;
  /** Items debated at once. */
  concurrency: number;
  /** Import at most this many items of the input (items earlier runs imported stay in the run). */
  limit?: number | undefined;
  /** Stop taking items when this session's projected spend would pass this many USD. */
  maxCostUsd?: number | undefined;
  /** Stop taking items when this session's projected model calls would pass this many. */
  maxCalls?: number | undefined;
  /** Check the whole input first and refuse to start if any line is rejected. */
  strict?: boolean | undefined;
  /** Stop with `TooManyRejectedError` past this many rejected input lines (`--max-rejected`; default 1000). */
  maxRejected?: number | undefined;
  /** Skip format detection. */
  format?: InputFormat | undefined;
  /** Put items whose debate failed back in the queue. */
  retryFailed?: boolean | undefined;
  /** When the model keeps failing, stop early (the circuit breaker); defaults in `BreakerSettingsSchema`. */
  breaker?: Partial<BreakerSettings> | undefined;
  /** How the outputs are written; recorded in the run so `tribunal export DIR` repeats it. */
  export?: Partial<ExportSettings> | undefined;
  /** Abort to stop gracefully: no new items, in-flight debates are cancelled (their finished rounds are checkpointed). */
  signal?: AbortSignal | undefined;
  /** Called on every settled item and every `progressIntervalMs`. */
  onProgress?: ((progress: LabelingProgress) => void) | undefined;
  /** Default 500 ms. */
  progressIntervalMs?: number | undefined;
  /** Every debate event, as stored (seq continues across resumes). */
  onEvent?: ((event: DebateEvent) => void) | undefined;
  /**
   * Join each turn's tokens into one `turn-delta` per this many ms instead of one per token (`onEvent` then sees the
   * joined deltas): `tribunal label` passes `LABELING_DELTA_INTERVAL_MS`, having no in-process watcher. Default: every token.
   */
  deltaIntervalMs?: number | undefined;
  /** An input line the importer refused (reported once per run, the first `REJECTION_MESSAGES` only). */
  onRejected?: ((rejection: ItemRejection) => void) | undefined;
  /** An item that failed or was refused by the engine. */
  onItemFailed?:
    | ((failure: { itemId: string; line: number; state: 'failed' | 'rejected'; code: string; message: string }) => void)
    | undefined;
  /** Use this store instead of opening `outDir`'s (it is then left open). */
  store?: Store | undefined;
  /** Keep runs in this Postgres database (`--store`) instead of `outDir/tribunal.sqlite`; outputs still go to `outDir`. */
  storeUrl?: string | undefined;
  /**
   * Tools for critics that declare them (the sandbox for `run-python`); the caller keeps owning what it passes. Without
   * it, a panel with such a critic gets a sandbox pool started on first use and closed when the session ends; a panel
   * without one never starts the sandbox.
   */
  tools?: DebateTools | undefined;
  /** `false`: import the items and return (status `queued`) for workers to label (`--no-work`). Default true. */
  work?: boolean | undefined;
  /** Prices the registry was built with, recorded in the run for workers that join it (`tribunal worker`). */
  pricing?: LabelingWorkerSpec['pricing'] | undefined;
  /** The lease of this session's claims (see `LabelingWorker`). */
  leaseMs?: number | undefined;
  /**
   * Starts helpers that work on the same run (`--processes N`: `tribunal worker` child processes) once the run's
   * items are imported and this session is the run's coordinator; this session works beside them, waits for the run
   * to be settled, stops them when it stops early, and waits for them before it exports.
   */
  startHelpers?: ((run: { runId: string }) => LabelingHelpers) | undefined;
}

/** Helpers started by `startHelpers`: stop them (gracefully), and wait until all have exited. */
export interface LabelingHelpers {
  stop(): void;
  exited: Promise<void>;
}

/** How a labeling session ended. */
export interface LabelingResult {
  runId: string;
  /** Whether this session created the run, resumed it, or resumed it under a changed config. */
  opening: RunOpening['outcome'];
  /** Items requeued because the config changed. */
  requeued: number;
  /**
   * `done` when the queue is empty (failed items aside), `stopped` when the session stopped early, `queued` when it
   * only imported (`work: false`) and left the items to workers.
   */
  status: 'done' | 'stopped' | 'queued';
  stopReason?: StopReason | undefined;
  imported: ImportReport;
  /** Items a crashed session left running, put back in the queue. */
  recovered: number;
  totals: RunTotals;
  session: {
    done: number;
    failed: number;
    rejected: number;
    aborted: number;
    /** Items this session's claims dead-lettered (their leases expired too often). */
    deadLettered: number;
    usage: Usage;
    elapsedMs: number;
  };
  /** The run's failed items per error code (earlier sessions included) and the share of items labeled. */
  failures: FailureSummary;
  /** Set when the circuit breaker stopped the session (`stopReason` is then `provider-failing`). */
  breaker?: BreakerTrip | undefined;
  export: RunExport;
}

/**
 * Runs (or resumes) a labeling job: opens the store in `outDir`, creates or resumes the run by config hash,
 * imports the input (refused lines go to the store and `DIR/rejected.jsonl`), puts items a crash left running back
 * in the queue, and debates pending items `concurrency` at a time with the store's debate snapshots and turn cache.
 * Each finished item is settled with its label row and its last events in one transaction; then the outputs are
 * exported atomically. Rerunning after any crash resumes: done items are skipped and interrupted debates continue
 * from their last snapshot (after their last finished round), so every item ends up labeled exactly once.
 *
 * One session at a time per run directory: the session holds `DIR/tribunal.lock` (see `lockRunDirectory`) and a
 * second one fails at once with `RunDirectoryLockedError`; a crashed holder's lock is gone with its process. That
 * session is the run's coordinator: it imports, puts items a crash left running back in the queue, labels, and
 * exports. Workers (`tribunal worker`, `startHelpers`) need no lock: they only claim items with a lease and settle
 * them, so any number of them may work beside it (see `LabelingWorker`).
 *
 * Stopping: aborting `signal` stops taking items and cancels in-flight debates (they resume later from their
 * checkpoint). Budget caps stop taking items once the projected spend would pass a cap; in-flight items finish,
 * unless the actual spend reaches the cap, which cancels them too. Either way the run is marked `stopped`, what is
 * done is exported, and rerunning the command continues.
 * @example
 * const result = await runLabeling({ input: 'items.jsonl', outDir: 'out', panel, models, defaultModel: 'fake:judge', concurrency: 8 });
 * console.log(result.totals.done, result.export.summary.pairs);
 */
export async function runLabeling(options: RunLabelingOptions): Promise<LabelingResult> {
  // One session per run directory: a second process (or session) is refused here, before it touches the store.
  const lock = lockRunDirectory({ dir: options.outDir, purpose: 'label' });
  try {
    return await labelLocked(options);
  } finally {
    lock.release();
  }
}

async function labelLocked(options: RunLabelingOptions): Promise<LabelingResult> {
  const startedAt = Date.now();
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const exportSettings = ExportSettingsSchema.parse(options.export ?? {});
  await checkInputFile(options.input);
  // A length-controlled panel's consensus is only complete with the run's length regression: export with it.
  if (options.panel.panel.aggregation === 'length-controlled') exportSettings.lengthControl = true;
  const format = options.format ?? (await detectFormat({ file: options.input })).format;
  if (options.strict) {
    const report = await validateInput({
      file: options.input,
      format,
      ...(options.maxRejected === undefined ? {} : { maxRejected: options.maxRejected }),
    });
    if (report.error) throw report.error;
  }
  // A cost cap needs a price for every model: refuse before the run starts rather than count unpriced calls as $0.
  if (options.maxCostUsd !== undefined) requirePricesForBudget(await runModelPrices(options));
  const sha256 = await fileSha256(options.input);
  const config = labelingRunConfig({
    input: { file: options.input, sha256, format },
    panel: options.panel,
    defaultModel: options.defaultModel,
    modelOverride: options.modelOverride,
    runtime: {
      concurrency,
      limit: options.limit,
      export: exportSettings,
      worker: labelingWorkerSpec({
        panel: options.panel,
        defaultModel: options.defaultModel,
        modelOverride: options.modelOverride,
        pricing: options.pricing,
        breaker: options.breaker,
      }),
    },
  });
  const store = options.store ?? openStore({ dir: options.outDir, url: options.storeUrl });
  let runId: string | undefined;
  let runLock: RunLock | undefined;
  try {
    const opening = await store.createOrResumeRun({ config });
    const run = opening.run;
    // One session per run in the store too: with a shared (Postgres) store, sessions in other directories or on
    // other machines are refused here, as the directory lock refuses them in one directory. (Before `runId` is
    // set: a refused session must not mark the other session's run failed.)
    runLock = await store.lockRun({ runId: run.id, purpose: 'label' });
    runId = run.id;
    const imported = await importItems({
      store,
      runId: run.id,
      file: options.input,
      format,
      limit: options.limit,
      maxRejected: options.maxRejected,
      onRejected: options.onRejected,
    });
    await refuseEmptyRun({ store, runId: run.id, input: options.input, outDir: options.outDir, settings: exportSettings });
    // The coordinator takes back what a crashed session left running at once (a worker still working on such an item
    // loses it: its late settle is refused by the attempt count, so its label is not written twice).
    const recovered = await store.resetRunning({ runId: run.id });
    if (options.retryFailed) await store.requeueFailed({ runId: run.id });

    const session =
      options.work === false
        ? { stopReason: undefined, counts: { done: 0, failed: 0, rejected: 0, aborted: 0, deadLettered: 0 }, usage: zeroUsage() }
        : await labelPending({ ...options, store, runId: run.id, configHash: run.configHash, concurrency, format });
    const totals = (await store.getRun({ runId: run.id }))?.totals ?? run.totals;
    const drained = totals.pending === 0 && totals.running === 0;
    // A queued run stays `running`: open for workers to join.
    const status = options.work === false ? 'queued' : drained && session.stopReason === undefined ? 'done' : 'stopped';
    if (status !== 'queued') {
      await store.setRunStatus({ runId: run.id, status });
      // What no resume needs any more: the snapshots and turn-deltas of settled items (turn-ends keep each turn's text).
      await store.pruneSettled({ runId: run.id });
    }
    const exported = await exportRun({ store, runId: run.id, directory: options.outDir, settings: exportSettings });
    const failures = await summarizeFailures({ store, runId: run.id, done: totals.done });
    return {
      runId: run.id,
      opening: opening.outcome,
      requeued: opening.outcome === 'reconfigured' ? opening.requeued : 0,
      status,
      ...(session.stopReason === undefined ? {} : { stopReason: session.stopReason }),
      imported,
      recovered,
      totals,
      session: { ...session.counts, usage: session.usage, elapsedMs: Date.now() - startedAt },
      failures,
      ...(session.breaker === undefined ? {} : { breaker: session.breaker }),
      export: exported,
    };
  } catch (error) {
    if (runId !== undefined) await store.setRunStatus({ runId, status: 'failed' }).catch(() => undefined);
    throw error;
  } finally {
    await runLock?.release();
    if (options.store === undefined) await store.close();
  }
}

/** This session's share of the labeling: a `LabelingWorker` in this process, beside the helpers it starts. */
async function labelPending(
  options: RunLabelingOptions & { store: Store; runId: string; configHash: string; concurrency: number; format: InputFormat },
): Promise<WorkerOutcome> {
  const { store, runId } = options;
  const initial = (await store.getRun({ runId }))?.totals;
  if (!initial) throw new TribunalError('STORE_FAILED', `run ${runId} disappeared from ${store.location}`);
  const capped = options.maxCostUsd !== undefined || options.maxCalls !== undefined;
  const worker = new LabelingWorker({
    ...options,
    priorUsage: capped ? await priorUsage(options, initial) : zeroUsage(),
    sharedTotals: options.startHelpers !== undefined,
  });
  const helpers = initial.pending + initial.running > 0 ? options.startHelpers?.({ runId }) : undefined;
  let outcome: WorkerOutcome;
  try {
    outcome = await worker.run();
  } catch (error) {
    helpers?.stop();
    await helpers?.exited;
    throw error;
  }
  // The run is settled (the helpers exit on their own) or this session stopped early: then stop them too.
  if (outcome.stopReason !== undefined) helpers?.stop();
  await helpers?.exited;
  return outcome;
}

/**
 * Refuses a run without a single item: an empty input, or one whose every line was rejected (after writing
 * `rejected.jsonl`, so the reasons can be read). A run that imported items earlier is never empty.
 */
async function refuseEmptyRun(options: {
  store: Store;
  runId: string;
  input: string;
  outDir: string;
  settings: ExportSettings;
}): Promise<void> {
  const totals = (await options.store.getRun({ runId: options.runId }))?.totals;
  if (totals === undefined || totals.items > 0) return;
  if (totals.rejectedLines === 0) {
    throw new TribunalError('INPUT_INVALID', `${options.input} holds no items (it is empty or blank): nothing to label`, {
      location: { file: options.input },
    });
  }
  const exported = await exportRun({
    store: options.store,
    runId: options.runId,
    directory: options.outDir,
    settings: options.settings,
  });
  throw new TribunalError(
    'INPUT_INVALID',
    `${options.input} holds no valid item: all ${totals.rejectedLines} of its lines were rejected; ` +
      `see ${exported.rejectedFile ?? 'the messages above'} for each line and reason, fix the input and rerun`,
    { location: { file: options.input } },
  );
}

/** The budget's per-item expectation before this session finished an item: earlier sessions' average, else an estimate. */
async function priorUsage(options: RunLabelingOptions & { format: InputFormat }, totals: RunTotals): Promise<Usage> {
  if (totals.done > 0 && totals.usage.calls > 0) {
    const n = totals.done;
    const { inputTokens, outputTokens, calls, costUsd } = totals.usage;
    return { inputTokens: inputTokens / n, outputTokens: outputTokens / n, calls: calls / n, costUsd: costUsd / n };
  }
  // The models' prices as the registry resolved them (--price, --prices, the panel's prices:), as the run will count.
  const prices = options.maxCostUsd === undefined ? undefined : await runModelPrices(options);
  const estimate = await estimateLabeling({
    ...(prices === undefined ? {} : { priceOf: (id: string) => prices.get(id) }),
    input: options.input,
    panel: options.panel,
    defaultModel: options.defaultModel,
    modelOverride: options.modelOverride,
    format: options.format,
    limit: Math.min(options.limit ?? 50, 50),
  });
  return perItemUsage(estimate);
}

function zeroUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };
}
