import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import type { BaseCheckpointSaver } from '@langchain/langgraph';
import {
  addUsage,
  type DatasetItem,
  type DebateEvent,
  type DebateInput,
  type DebateResult,
  ERROR_CODES,
  type ErrorCode,
  type InputFormat,
  type ResolvedPanel,
  TribunalError,
  type Usage,
} from '../contracts/index.js';
import { detectFormat, type ItemRejection, validateInput } from '../datasets/index.js';
import { type DebateSnapshots, type DebateTools, panelUsesTools, runDebate } from '../engine/index.js';
import { buildLabelRow } from '../export/index.js';
import type { ModelRegistry } from '../models/index.js';
import { lazySandboxPool } from '../sandbox/index.js';
import {
  type ClaimedItem,
  EventWriter,
  lockRunDirectory,
  openStore,
  type RunLock,
  type RunOpening,
  type RunTotals,
  type Store,
} from '../store/index.js';
import { BufferedTurnCache } from './buffered-turn-cache.js';
import { criticModels, labelPanelOf } from './critic-models.js';
import { debateSlotFor, sweepSettledCheckpoints } from './debate-ids.js';
import { estimateLabeling, perItemUsage } from './estimate-labeling.js';
import { type ExportSettings, ExportSettingsSchema, exportRun, type RunExport } from './export-run.js';
import { type BreakerSettings, BreakerSettingsSchema, type BreakerTrip, FailureBreaker } from './failure-breaker.js';
import { type FailureSummary, summarizeFailures } from './failure-summary.js';
import { fileSha256 } from './file-sha256.js';
import { type ImportReport, importItems } from './import-items.js';
import { checkInputFile } from './input-file.js';
import { type ItemSpend, LabelingBudget, requirePricesForBudget, runModelPrices, type StopReason } from './labeling-budget.js';
import { labelingRunConfig } from './labeling-config.js';
import { type LabelingProgress, rateAndEta } from './labeling-progress.js';
import { isModelFailure } from './model-failures.js';
import { usageBeforeResume } from './resumed-usage.js';
import { labelReview } from './review-queue.js';

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
}

/** How a labeling session ended. */
export interface LabelingResult {
  runId: string;
  /** Whether this session created the run, resumed it, or resumed it under a changed config. */
  opening: RunOpening['outcome'];
  /** Items requeued because the config changed. */
  requeued: number;
  /** `done` when the queue is empty (failed items aside), `stopped` when the session stopped early. */
  status: 'done' | 'stopped';
  stopReason?: StopReason | undefined;
  imported: ImportReport;
  /** Items a crashed session left running, put back in the queue. */
  recovered: number;
  totals: RunTotals;
  session: { done: number; failed: number; rejected: number; aborted: number; usage: Usage; elapsedMs: number };
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
 * second one fails at once with `RunDirectoryLockedError`; a crashed holder's lock is gone with its process.
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
    runtime: { concurrency, limit: options.limit, export: exportSettings },
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
    const recovered = await store.resetRunning({ runId: run.id });
    if (options.retryFailed) await store.requeueFailed({ runId: run.id });

    const session = await labelPending({ ...options, store, runId: run.id, configHash: run.configHash, concurrency, format });
    const totals = (await store.getRun({ runId: run.id }))?.totals ?? run.totals;
    const drained = totals.pending === 0 && totals.running === 0;
    const status = drained && session.stopReason === undefined ? 'done' : 'stopped';
    await store.setRunStatus({ runId: run.id, status });
    // What no resume needs any more: the snapshots and turn-deltas of settled items (turn-ends keep each turn's text).
    await store.pruneSettled({ runId: run.id });
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

interface SessionOutcome {
  stopReason: StopReason | undefined;
  breaker?: BreakerTrip | undefined;
  counts: { done: number; failed: number; rejected: number; aborted: number };
  usage: Usage;
}

/** The worker pool: claims pending items one at a time per worker and settles each with its label or its failure. */
async function labelPending(
  options: RunLabelingOptions & { store: Store; runId: string; configHash: string; concurrency: number; format: InputFormat },
): Promise<SessionOutcome> {
  const { store, runId, panel } = options;
  const startedAt = Date.now();
  const counts = { done: 0, failed: 0, rejected: 0, aborted: 0 };
  const initial = (await store.getRun({ runId }))?.totals;
  if (!initial) throw new TribunalError('STORE_FAILED', `run ${runId} disappeared from ${store.location}`);
  const state = { ...initial, running: 0 };
  let stopReason: SessionOutcome['stopReason'];
  const stop = new AbortController();
  // Every in-flight item listens on this one signal.
  setMaxListeners(0, stop.signal);
  const stopWith = (reason: StopReason, cancel?: TribunalError) => {
    stopReason ??= reason;
    if (cancel && !stop.signal.aborted) stop.abort(cancel);
    wakeAll();
  };
  const onAbort = () => stopWith('interrupted', new TribunalError('ABORTED', 'the labeling run was interrupted'));

  const models = criticModels(options);
  const labelPanel = labelPanelOf({ panel, models: models.critics });
  const budget = new LabelingBudget({
    maxCostUsd: options.maxCostUsd,
    maxCalls: options.maxCalls,
    prior: options.maxCostUsd === undefined && options.maxCalls === undefined ? zeroUsage() : await priorUsage(options, initial),
  });

  // Waiting workers (refused by the budget while others run) wake when an item settles or the session stops.
  let waiters: Array<() => void> = [];
  function wakeAll() {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  }

  const progress = (): LabelingProgress => {
    const elapsedMs = Date.now() - startedAt;
    const settled = counts.done + counts.failed + counts.rejected;
    const { itemsPerSecond, etaSeconds } = rateAndEta({ settled, elapsedMs, remaining: state.pending + state.running });
    return {
      runId,
      total: state.items,
      done: state.done,
      failed: state.failed,
      rejected: state.rejected,
      rejectedLines: state.rejectedLines,
      running: state.running,
      pending: state.pending,
      sessionSettled: settled,
      elapsedMs,
      itemsPerSecond,
      etaSeconds,
      usage: budget.spent(),
      ...(stopReason === undefined ? {} : { stopping: stopReason }),
    };
  };
  const report = () => options.onProgress?.(progress());

  // Debates run on the direct driver and resume from their snapshots (the same events and results as LangGraph
  // checkpoints, at a fraction of the CPU); debates that a Tribunal before it left with LangGraph checkpoints resume
  // on the LangGraph driver.
  const checkpointer = await store.checkpointer();
  const langGraphThreads = await sweepSettledCheckpoints({ store, checkpointer, runId });
  await store.sweepDebateSnapshots({ runId });
  const snapshots: DebateSnapshots = {
    load: (debateId) => store.getDebateSnapshot({ debateId }),
    save: (debateId, snapshot) => store.putDebateSnapshot({ runId, debateId, snapshot }),
  };
  const forgetDebate = (debateId: string) =>
    langGraphThreads.has(debateId) ? store.deleteCheckpoints({ threadId: debateId }) : store.deleteDebateSnapshot({ debateId });
  if (state.pending === 0) {
    report();
    return { stopReason, counts, usage: budget.spent() };
  }
  // Resolve every model before the first item, so a bad model id or missing key fails the run, not each item.
  await Promise.all(
    [...Object.values(models.critics), ...(models.chair ? [models.chair] : [])].map((id) => options.models.resolve(id)),
  );
  const writer = new EventWriter({ store });
  const sessionTools = toolsFor({ panel, tools: options.tools, concurrency: options.concurrency });
  // Cache entries are written after the events of their turns (see BufferedTurnCache), so resumed usage is complete.
  const turnCache = new BufferedTurnCache({ store, beforeWrite: () => writer.flush() });
  const breaker = new FailureBreaker(BreakerSettingsSchema.parse(options.breaker ?? {}));
  let fatal: unknown;
  /** Feeds the circuit breaker; when it trips, the session stops and in-flight items go back to the queue. */
  const recordOutcome = (outcome: 'labeled' | 'failed') => {
    if (breaker.record(outcome) && stopReason === undefined) {
      stopWith('provider-failing', new TribunalError('ABORTED', 'stopped: the model keeps failing'));
    }
  };

  const settleFailure = async (claimed: ClaimedItem, error: unknown, forced?: 'failed') => {
    const failure =
      error instanceof TribunalError
        ? error
        : new TribunalError('INTERNAL', `the debate failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
          });
    if (failure.code === 'ABORTED' || stop.signal.aborted) {
      await writer.markFailed({
        runId,
        itemId: claimed.itemId,
        state: 'pending',
        error: { code: 'ABORTED', message: 'stopped before the debate finished; it resumes from its checkpoint' },
        attempt: claimed.attempt,
      });
      counts.aborted += 1;
      state.pending += 1;
      return;
    }
    if (failure.code === 'STORE_FAILED') throw failure;
    const itemState = forced ?? (failure.code === 'INPUT_INVALID' || failure.code === 'PANEL_INVALID' ? 'rejected' : 'failed');
    await writer.markFailed({
      runId,
      itemId: claimed.itemId,
      state: itemState,
      error: { code: failure.code, message: failure.message },
      attempt: claimed.attempt,
    });
    counts[itemState] += 1;
    state[itemState] += 1;
    if (itemState === 'failed' && isModelFailure(failure.code)) recordOutcome('failed');
    options.onItemFailed?.({
      itemId: claimed.itemId,
      line: claimed.line,
      state: itemState,
      code: failure.code,
      message: failure.message,
    });
  };

  const labelItem = async (claimed: ClaimedItem, spend: ItemSpend) => {
    if (stop.signal.aborted) {
      spend.finish({ completed: false });
      await settleFailure(claimed, stop.signal.reason);
      return;
    }
    const { debateId, nextSeq } = await debateSlotFor({
      store,
      checkpointer,
      runId,
      itemId: claimed.itemId,
      configHash: options.configHash,
    });
    // A resumed debate's label counts the calls its interrupted attempts made after their last snapshot too.
    const earlierUsage = langGraphThreads.has(debateId)
      ? undefined
      : await usageBeforeResume({ store, runId, debateId, nextSeq });
    // Events of a debate resumed after a crash may restart below the seq the store already holds; shift them past it.
    let shift: number | undefined;
    let consensusRan = false;
    const onEvent = (event: DebateEvent) => {
      shift ??= Math.max(0, nextSeq - event.seq);
      const stored = shift === 0 ? event : { ...event, seq: event.seq + shift };
      writer.append(stored);
      if (stored.type === 'turn-end') {
        spend.add(stored.usage);
        const exceeded = budget.exceeded();
        if (exceeded) stopWith(exceeded, new TribunalError('BUDGET_EXCEEDED', `the session reached its ${exceeded} budget`));
      } else if (stored.type === 'debate-end') {
        consensusRan = true;
      }
      options.onEvent?.(stored);
    };
    // runDebate links the session's signal once to a signal of the debate's own, so a model call's abort listeners go
    // there and no signal collects thousands of them (EventTarget's add is linear in the listeners it already holds).
    let result: DebateResult;
    try {
      result = await runDebate({
        panel,
        input: debateInputOf(claimed.item),
        models: options.models,
        defaultModel: options.defaultModel,
        ...(options.modelOverride === undefined ? {} : { modelOverride: options.modelOverride }),
        runId,
        debateId,
        itemId: claimed.itemId,
        onEvent,
        signal: stop.signal,
        ...(langGraphThreads.has(debateId) ? { checkpointer: checkpointer as BaseCheckpointSaver } : { snapshots }),
        turnCache,
        ...(sessionTools === undefined ? {} : { tools: sessionTools.tools }),
      });
    } catch (error) {
      spend.finish({ completed: !stop.signal.aborted });
      await settleFailure(claimed, error);
      return;
    }
    if (consensusRan && result.chair) spend.add(result.chair.usage);
    spend.finish({ completed: true });
    const scored = result.verdict.candidates.some((candidate) => candidate.score !== null);
    if (!scored) {
      // Every turn failed: no label to keep. Retryable (--retry-failed); a streak of provider errors stops the session.
      const codes = result.turns.flatMap((turn) => (turn.error ? [turn.error.code] : []));
      const code = mostCommon(codes) ?? 'OUTPUT_INVALID';
      const example = result.turns.find((turn) => turn.error?.code === code)?.error?.message ?? 'no turn succeeded';
      const errorCode: ErrorCode = (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'OUTPUT_INVALID';
      await forgetDebate(debateId);
      await settleFailure(claimed, new TribunalError(errorCode, `every critic turn failed (${code}): ${example}`), 'failed');
      return;
    }
    const row = buildLabelRow({
      item: {
        id: claimed.item.id,
        prompt: claimed.item.prompt,
        candidates: claimed.item.candidates,
        meta: claimed.item.meta,
      },
      panel: labelPanel,
      verdict: result.verdict,
      turns: result.turns,
      usage: earlierUsage === undefined ? result.usage : addUsage(result.usage, earlierUsage),
      runId,
      debateId,
    });
    // Panel `escalate`: an uncertain item is labeled as usual and queued for a human review; the run never waits.
    Object.assign(row, labelReview({ result, panel }));
    if (await writer.markDone({ runId, itemId: claimed.itemId, result: row, attempt: claimed.attempt })) {
      counts.done += 1;
      state.done += 1;
      recordOutcome('labeled');
    }
    await forgetDebate(debateId);
  };

  const worker = async () => {
    while (stopReason === undefined && fatal === undefined) {
      const refusal = budget.admit();
      if (refusal) {
        if (state.running === 0) {
          stopWith(refusal);
          break;
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
        continue;
      }
      const spend = budget.start();
      state.running += 1;
      let claimed: ClaimedItem | undefined;
      try {
        [claimed] = await store.claimPending({ runId, limit: 1 });
        if (!claimed) {
          spend.finish({ completed: false });
          break;
        }
        state.pending -= 1;
        await labelItem(claimed, spend);
      } catch (error) {
        spend.finish({ completed: false });
        fatal ??= error;
        stopWith('interrupted', new TribunalError('ABORTED', 'the labeling run failed'));
      } finally {
        state.running -= 1;
        if (claimed) report();
        wakeAll();
      }
    }
  };

  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setInterval(report, Math.max(50, options.progressIntervalMs ?? 500));
  timer.unref();
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await turnCache.flush();
    await writer.close().catch((error: unknown) => {
      fatal ??= error;
    });
    await sessionTools?.close();
  }
  if (fatal !== undefined) throw fatal;
  report();
  return { stopReason, breaker: breaker.trip, counts, usage: budget.spent() };
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

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  for (const value of values) {
    const count = (counts.get(value) ?? 0) + 1;
    counts.set(value, count);
    if (best === undefined || count > (counts.get(best) ?? 0)) best = value;
  }
  return best;
}

/** A debate's input from an item: its tests (`meta.tests`, `meta.entry_point`, as `--format humaneval` sets them) ride along. */
export function debateInputOf(item: Pick<DatasetItem, 'id' | 'prompt' | 'candidates' | 'meta'>): DebateInput {
  const input: DebateInput = { id: item.id, prompt: item.prompt, candidates: item.candidates };
  const tests = item.meta?.tests;
  const entryPoint = item.meta?.entry_point;
  // Wrong types are left for the debate's input check to refuse, naming the field (the item is then rejected).
  if (tests !== undefined) {
    input.execution = { tests, ...(entryPoint === undefined ? {} : { entryPoint }) } as DebateInput['execution'] & object;
  }
  return input;
}

/** Most interpreters a labeling session keeps warm (each is a worker thread with its own Pyodide, ~100 MB). */
const MAX_SANDBOX_WORKERS = 4;

/** The session's tools: the caller's, or a sandbox pool started on first use when the panel has a critic with a tool. */
function toolsFor(options: {
  panel: ResolvedPanel;
  tools: DebateTools | undefined;
  concurrency: number;
}): { tools: DebateTools; close: () => Promise<void> } | undefined {
  if (options.tools !== undefined) return { tools: options.tools, close: async () => {} };
  if (!panelUsesTools(options.panel)) return undefined;
  // Pyodide takes seconds to load: started by the first run, never for a panel without tools.
  const lazy = lazySandboxPool({ size: Math.max(1, Math.min(options.concurrency, availableParallelism(), MAX_SANDBOX_WORKERS)) });
  return { tools: { sandbox: lazy }, close: lazy.close };
}
