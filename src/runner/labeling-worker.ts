import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { availableParallelism, hostname } from 'node:os';
import type { BaseCheckpointSaver } from '@langchain/langgraph';
import {
  addUsage,
  type DebateEvent,
  type DebateResult,
  ERROR_CODES,
  type ErrorCode,
  type LabelRow,
  type ResolvedPanel,
  TribunalError,
  type Usage,
} from '../contracts/index.js';
import { type DebateSnapshots, type DebateTools, panelUsesTools, runDebate } from '../engine/index.js';
import { buildLabelRow } from '../export/index.js';
import type { ModelRegistry } from '../models/index.js';
import { lazySandboxPool } from '../sandbox/index.js';
import {
  type ClaimedItem,
  DEFAULT_FLUSH_MS,
  DEFAULT_MAX_ATTEMPTS,
  EventWriter,
  type RunTotals,
  type Store,
} from '../store/index.js';
import { BufferedTurnCache } from './buffered-turn-cache.js';
import { criticModels, labelPanelOf } from './critic-models.js';
import { debateSlotFor, sweepSettledCheckpoints } from './debate-ids.js';
import { debateInputOf } from './debate-input.js';
import { type BreakerSettings, BreakerSettingsSchema, type BreakerTrip, FailureBreaker } from './failure-breaker.js';
import { type ItemSpend, LabelingBudget, type StopReason } from './labeling-budget.js';
import { type LabelingProgress, sessionProgress } from './labeling-progress.js';
import { isModelFailure } from './model-failures.js';
import { usageBeforeResume } from './resumed-usage.js';
import { labelReview } from './review-queue.js';

/** Most items one claim takes (one per slot waiting for an item). */
export const MAX_CLAIM_BATCH = 32;

/**
 * The delta interval `tribunal label` and `tribunal worker` use: the EventWriter's flush age, so a watcher reading the
 * store sees a turn's text as often as it did when every token was emitted and the writer merged them per batch.
 */
export const LABELING_DELTA_INTERVAL_MS = DEFAULT_FLUSH_MS;

/** Default lease of a claimed item: a worker that stops heart-beating loses its items this long after its last beat. */
export const DEFAULT_LEASE_MS = 30_000;

/** Options of a `LabelingWorker`: one run, the panel and models it is labeled with, and how this process works on it. */
export interface LabelingWorkerOptions {
  store: Store;
  runId: string;
  /** The run's config hash (debate ids and stale results are keyed by it). */
  configHash: string;
  panel: ResolvedPanel;
  models: ModelRegistry;
  defaultModel: string;
  modelOverride?: string | undefined;
  /** Items debated at once by this process. */
  concurrency: number;
  /** Who claims (recorded on each lease); default `workerOwnerId()`. */
  owner?: string | undefined;
  /** How long a claim lasts without a heartbeat; heartbeats go every third of it. Default `DEFAULT_LEASE_MS`. */
  leaseMs?: number | undefined;
  /** Claims of an item whose leases all expired before it is dead-lettered. Default `DEFAULT_MAX_ATTEMPTS`. */
  maxAttempts?: number | undefined;
  /** This process's budget caps (a session's, as `runLabeling` takes them), with the per-item expectation before the first item. */
  maxCostUsd?: number | undefined;
  maxCalls?: number | undefined;
  priorUsage?: Usage | undefined;
  breaker?: Partial<BreakerSettings> | undefined;
  /**
   * While other workers hold the run's last items, ask again this often (their lease may expire: then this worker
   * takes the items over). Default a quarter of the lease, at most 1 s.
   */
  pollMs?: number | undefined;
  /** Progress counts come from the store on every tick (other processes settle items too). Default false. */
  sharedTotals?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: LabelingProgress) => void) | undefined;
  progressIntervalMs?: number | undefined;
  onEvent?: ((event: DebateEvent) => void) | undefined;
  /**
   * Join each turn's tokens into one `turn-delta` per this many ms instead of one per token (see `runDebate`), for a
   * worker whose `onEvent` (if any) needs no single token: `tribunal label` and `tribunal worker` pass
   * `LABELING_DELTA_INTERVAL_MS`. The stored stream is about what the EventWriter stores anyway; default: every token.
   */
  deltaIntervalMs?: number | undefined;
  onItemFailed?:
    | ((failure: { itemId: string; line: number; state: 'failed' | 'rejected'; code: string; message: string }) => void)
    | undefined;
  tools?: DebateTools | undefined;
}

/** What one `LabelingWorker.run` did. */
export interface WorkerOutcome {
  stopReason: StopReason | undefined;
  breaker?: BreakerTrip | undefined;
  counts: { done: number; failed: number; rejected: number; aborted: number; deadLettered: number };
  usage: Usage;
}

/** What the debate step produced for a claimed item: its label row, or why it has none. */
export type DebateOutcome =
  | { kind: 'labeled'; row: LabelRow; debateId: string }
  | { kind: 'failed'; error: unknown; forced?: 'failed' | undefined };

/** A worker id that names the machine and process: `host:pid:random`. */
export function workerOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * The labeling steps every way of running shares: **claim** (items with a lease, renewed by a heartbeat while their
 * debates run), **debate** (one item to its label row, through the turn cache and debate snapshots) and **settle**
 * (`markDone`, a failure, or back to the queue when stopped), with a pool of `concurrency` slots around them. A local
 * `tribunal label` runs one in its own process; `tribunal worker` and `label --processes N` run more, in other
 * processes or on other machines, against the same store. A claim's `attempt` makes a stale worker's settle a no-op,
 * so every item is labeled exactly once whoever finishes it; a worker that dies costs at most one lease period.
 * @example
 * const worker = new LabelingWorker({ store, runId: run.id, configHash: run.configHash, panel, models, defaultModel: 'fake:judge', concurrency: 8 });
 * const outcome = await worker.run();
 */
export class LabelingWorker {
  readonly owner: string;
  private readonly options: LabelingWorkerOptions;
  private readonly leaseMs: number;
  private readonly held = new Map<string, number>();
  /** Cancels the debate of an item whose claim this worker lost (see `heartbeat`). */
  private readonly lostClaims = new Map<string, AbortController>();
  private readonly stop = new AbortController();
  private stopReason: StopReason | undefined;
  private fatal: unknown;
  private readonly counts = { done: 0, failed: 0, rejected: 0, aborted: 0, deadLettered: 0 };
  private state: RunTotals | undefined;
  private running = 0;
  private readonly startedAt = Date.now();
  private readonly budget: LabelingBudget;
  private readonly breaker: FailureBreaker;
  private waiters: Array<() => void> = [];
  /** Claimed items no slot has taken yet (a batch claim takes one per waiting slot, up to `MAX_CLAIM_BATCH`). */
  private ready: ClaimedItem[] = [];
  private claiming: Promise<void> | undefined;
  /** Slots waiting for an item, and whether the last claim found nothing (reset on every pass of the pool). */
  private wanting = 0;
  private drained = false;
  private session: WorkerSession | undefined;

  constructor(options: LabelingWorkerOptions) {
    this.options = options;
    this.owner = options.owner ?? workerOwnerId();
    this.leaseMs = Math.max(100, Math.floor(options.leaseMs ?? DEFAULT_LEASE_MS));
    // Every in-flight item listens on this one signal.
    setMaxListeners(0, this.stop.signal);
    this.budget = new LabelingBudget({
      maxCostUsd: options.maxCostUsd,
      maxCalls: options.maxCalls,
      prior: options.priorUsage ?? { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 },
    });
    this.breaker = new FailureBreaker(BreakerSettingsSchema.parse(options.breaker ?? {}));
  }

  /**
   * Claims up to `limit` items with a lease under this worker's owner id; they are heart-beaten until settled.
   * Items whose leases expired too often are dead-lettered on the way (counted as failed).
   */
  async claim(limit: number): Promise<ClaimedItem[]> {
    const { items, deadLettered } = await this.options.store.claimItems({
      runId: this.options.runId,
      limit,
      owner: this.owner,
      leaseMs: this.leaseMs,
      maxAttempts: this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    });
    for (const claimed of items) this.held.set(claimed.itemId, claimed.attempt);
    if (deadLettered > 0) {
      this.counts.deadLettered += deadLettered;
      if (this.state) this.state.failed += deadLettered;
    }
    return items;
  }

  /**
   * Extends the leases of every item this worker holds (the heartbeat; `run` calls it every third of the lease). A
   * claim that could not be renewed was lost (its lease expired and another worker took the item, or a coordinator
   * put it back in the queue): its debate is cancelled, since its settle would be refused anyway.
   */
  async heartbeat(): Promise<number> {
    if (this.held.size === 0) return 0;
    const items = [...this.held].map(([itemId, attempt]) => ({ itemId, attempt }));
    const { store, runId } = this.options;
    const renewed = await store.renewLeases({ runId, owner: this.owner, leaseMs: this.leaseMs, items });
    if (renewed < items.length) {
      for (const { itemId, attempt } of items) {
        const record = await store.getItem({ runId, itemId });
        const lost = record === undefined || record.state !== 'running' || record.attempts !== attempt;
        // Settled by this worker meanwhile: no longer held, nothing to cancel.
        if (lost && this.held.get(itemId) === attempt) {
          this.lostClaims
            .get(itemId)
            ?.abort(
              new TribunalError('ABORTED', `the claim of item ${itemId} was lost (its lease expired): another worker has it`),
            );
        }
      }
    }
    return renewed;
  }

  /**
   * Debates one claimed item to its label row. Pure of the store but for what a debate always uses: its events
   * (buffered, settled with the item), its snapshot, the turn cache and the debate id's history.
   */
  async debate(claimed: ClaimedItem, spend: ItemSpend): Promise<DebateOutcome> {
    const session = await this.open();
    const { store, runId, panel } = this.options;
    const { checkpointer, langGraphThreads, writer } = session;
    // A claim taken again in this session may find its debate's last snapshot still in the writer: store it first, so
    // the debate id, the resumed usage and the debate read one state.
    if (claimed.attempt > 1) await writer.flush();
    const { debateId, nextSeq } = await debateSlotFor({
      store,
      checkpointer,
      runId,
      itemId: claimed.itemId,
      configHash: this.options.configHash,
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
        const exceeded = this.budget.exceeded();
        if (exceeded) this.stopWith(exceeded, new TribunalError('BUDGET_EXCEEDED', `the session reached its ${exceeded} budget`));
      } else if (stored.type === 'debate-end') {
        consensusRan = true;
      }
      this.options.onEvent?.(stored);
    };
    // runDebate links the session's signal once to a signal of the debate's own, so a model call's abort listeners go
    // there and no signal collects thousands of them (EventTarget's add is linear in the listeners it already holds).
    const lostClaim = new AbortController();
    this.lostClaims.set(claimed.itemId, lostClaim);
    let result: DebateResult;
    try {
      result = await runDebate({
        panel,
        input: debateInputOf(claimed.item),
        models: this.options.models,
        defaultModel: this.options.defaultModel,
        ...(this.options.modelOverride === undefined ? {} : { modelOverride: this.options.modelOverride }),
        runId,
        debateId,
        itemId: claimed.itemId,
        onEvent,
        signal: AbortSignal.any([this.stop.signal, lostClaim.signal]),
        ...(langGraphThreads.has(debateId)
          ? { checkpointer: checkpointer as BaseCheckpointSaver }
          : { snapshots: session.snapshots }),
        turnCache: session.turnCache,
        ...(this.options.deltaIntervalMs === undefined ? {} : { deltaIntervalMs: this.options.deltaIntervalMs }),
        ...(session.tools === undefined ? {} : { tools: session.tools.tools }),
      });
    } catch (error) {
      spend.finish({ completed: !this.stop.signal.aborted && !lostClaim.signal.aborted });
      return { kind: 'failed', error: lostClaim.signal.aborted ? lostClaim.signal.reason : error };
    } finally {
      this.lostClaims.delete(claimed.itemId);
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
      await session.forgetDebate(debateId);
      return {
        kind: 'failed',
        error: new TribunalError(errorCode, `every critic turn failed (${code}): ${example}`),
        forced: 'failed',
      };
    }
    const row = buildLabelRow({
      item: {
        id: claimed.item.id,
        prompt: claimed.item.prompt,
        candidates: claimed.item.candidates,
        meta: claimed.item.meta,
      },
      panel: session.labelPanel,
      verdict: result.verdict,
      turns: result.turns,
      usage: earlierUsage === undefined ? result.usage : addUsage(result.usage, earlierUsage),
      runId,
      debateId,
    });
    // Panel `escalate`: an uncertain item is labeled as usual and queued for a human review; the run never waits.
    Object.assign(row, labelReview({ result, panel }));
    return { kind: 'labeled', row, debateId };
  }

  /**
   * Settles a claimed item with its debate's outcome: done with its row (with the debate's last events, in one
   * transaction), failed or rejected, or back to pending when the worker is stopping. A claim another worker took
   * over meanwhile (a newer attempt) settles nothing: that worker's label counts.
   */
  async settle(claimed: ClaimedItem, outcome: DebateOutcome): Promise<void> {
    const session = await this.open();
    try {
      if (outcome.kind === 'failed') {
        await this.settleFailure(claimed, outcome.error, outcome.forced);
        return;
      }
      const { runId, configHash } = this.options;
      const settled = await session.writer.markDone({
        runId,
        itemId: claimed.itemId,
        result: outcome.row,
        attempt: claimed.attempt,
        configHash,
        // Its snapshot is deleted in the same transaction (a LangGraph thread's checkpoints just below).
        debateId: outcome.debateId,
      });
      if (settled) {
        this.counts.done += 1;
        if (this.state) this.state.done += 1;
        this.recordOutcome('labeled');
        if (session.langGraphThreads.has(outcome.debateId)) await session.forgetDebate(outcome.debateId);
      } else {
        // Refused: another worker has the item now (its debate keeps the snapshot), or the run was reconfigured,
        // which ends this worker.
        await this.totals();
      }
    } finally {
      this.held.delete(claimed.itemId);
    }
  }

  /**
   * Works on the run until every item is settled (by this worker or others: items other workers hold are waited for,
   * and taken over when their lease expires), the budget or the breaker stops it, or `signal` aborts.
   */
  async run(): Promise<WorkerOutcome> {
    const { options } = this;
    this.state = { ...(await this.totals()) };
    const onAbort = () => this.stopWith('interrupted', new TribunalError('ABORTED', 'the labeling run was interrupted'));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // What a crash between settling and cleaning up left behind, swept even when nothing is left to label.
    const prepared = this.prepare();
    const timer = setInterval(() => void this.tick(), Math.max(50, options.progressIntervalMs ?? 500));
    timer.unref();
    const heartbeat = setInterval(() => void this.beat(), Math.max(30, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    const pollMs = Math.max(10, options.pollMs ?? Math.min(1000, this.leaseMs / 4));
    try {
      await prepared;
      while (this.stopReason === undefined && this.fatal === undefined) {
        if (this.state.pending + this.state.running === 0) break;
        await this.pool();
        if (this.stopReason !== undefined || this.fatal !== undefined) break;
        this.state = { ...(await this.totals()) };
        if (this.state.pending + this.state.running === 0) break;
        // Others hold the rest: wait for them to settle it, or for their leases to expire.
        await sleep(pollMs, this.stop.signal);
      }
    } catch (error) {
      this.fatal ??= error;
    } finally {
      clearInterval(timer);
      clearInterval(heartbeat);
      options.signal?.removeEventListener('abort', onAbort);
      await this.close();
    }
    if (this.fatal !== undefined) throw this.fatal;
    this.report();
    return { stopReason: this.stopReason, breaker: this.breaker.trip, counts: { ...this.counts }, usage: this.budget.spent() };
  }

  /** Stops taking items and cancels in-flight debates (they go back to the queue and resume from their snapshot). */
  abort(reason: StopReason = 'interrupted'): void {
    this.stopWith(reason, new TribunalError('ABORTED', 'the labeling run was interrupted'));
  }

  /** The pool: `concurrency` slots, each taking one item at a time until nothing is claimable. */
  private async pool(): Promise<void> {
    await this.open();
    this.drained = false;
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.floor(this.options.concurrency)) }, () => this.slot()));
    } finally {
      // Stopped with claimed items no slot started: back to the queue (they resume at once, not after their lease).
      for (const claimed of this.ready.splice(0)) {
        await this.settleFailure(claimed, new TribunalError('ABORTED', 'stopped before the debate started')).catch(
          (error: unknown) => {
            this.fatal ??= error;
          },
        );
        this.held.delete(claimed.itemId);
      }
    }
  }

  /**
   * The next item for a slot: from the last batch, else from a new claim that takes an item for every slot waiting
   * then (one claim at a time; one item per claim while a budget cap must admit each item). Undefined when nothing
   * is claimable or the worker stops.
   */
  private async nextItem(): Promise<ClaimedItem | undefined> {
    this.wanting += 1;
    try {
      for (;;) {
        const claimed = this.ready.shift();
        if (claimed !== undefined) return claimed;
        if (this.drained || this.stopReason !== undefined || this.fatal !== undefined) return undefined;
        this.claiming ??= this.claimBatch().finally(() => {
          this.claiming = undefined;
        });
        await this.claiming;
      }
    } finally {
      this.wanting -= 1;
    }
  }

  private async claimBatch(): Promise<void> {
    const limit = this.budget.capped ? 1 : Math.min(MAX_CLAIM_BATCH, Math.max(1, this.wanting));
    const items = await this.claim(limit);
    if (items.length === 0) this.drained = true;
    else this.ready.push(...items);
  }

  private async slot(): Promise<void> {
    const { budget } = this;
    while (this.stopReason === undefined && this.fatal === undefined) {
      const refusal = budget.admit();
      if (refusal) {
        if (this.running === 0) {
          this.stopWith(refusal);
          break;
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      const spend = budget.start();
      this.running += 1;
      let claimed: ClaimedItem | undefined;
      try {
        claimed = await this.nextItem();
        if (!claimed) {
          spend.finish({ completed: false });
          break;
        }
        if (this.state) {
          this.state.pending = Math.max(0, this.state.pending - 1);
          this.state.running += 1;
        }
        if (this.stop.signal.aborted) {
          spend.finish({ completed: false });
          await this.settle(claimed, { kind: 'failed', error: this.stop.signal.reason });
        } else {
          await this.settle(claimed, await this.debate(claimed, spend));
        }
      } catch (error) {
        spend.finish({ completed: false });
        this.fatal ??= error;
        this.stopWith('interrupted', new TribunalError('ABORTED', 'the labeling run failed'));
      } finally {
        this.running -= 1;
        if (claimed) {
          this.held.delete(claimed.itemId);
          if (this.state) this.state.running = Math.max(0, this.state.running - 1);
          this.report();
        }
        this.wakeAll();
      }
    }
  }

  private async settleFailure(claimed: ClaimedItem, error: unknown, forced?: 'failed'): Promise<void> {
    const { writer } = await this.open();
    const { runId } = this.options;
    const failure =
      error instanceof TribunalError
        ? error
        : new TribunalError('INTERNAL', `the debate failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
          });
    if (failure.code === 'ABORTED' || this.stop.signal.aborted) {
      await writer.markFailed({
        runId,
        itemId: claimed.itemId,
        state: 'pending',
        error: { code: 'ABORTED', message: 'stopped before the debate finished; it resumes from its checkpoint' },
        attempt: claimed.attempt,
      });
      this.counts.aborted += 1;
      if (this.state) this.state.pending += 1;
      return;
    }
    if (failure.code === 'STORE_FAILED') throw failure;
    const itemState = forced ?? (failure.code === 'INPUT_INVALID' || failure.code === 'PANEL_INVALID' ? 'rejected' : 'failed');
    const settled = await writer.markFailed({
      runId,
      itemId: claimed.itemId,
      state: itemState,
      error: { code: failure.code, message: failure.message },
      attempt: claimed.attempt,
    });
    // Refused: the claim is stale (another worker has the item); its outcome is not this worker's to count.
    if (!settled) return;
    this.counts[itemState] += 1;
    if (this.state) this.state[itemState] += 1;
    if (itemState === 'failed' && isModelFailure(failure.code)) this.recordOutcome('failed');
    this.options.onItemFailed?.({
      itemId: claimed.itemId,
      line: claimed.line,
      state: itemState,
      code: failure.code,
      message: failure.message,
    });
  }

  /** Feeds the circuit breaker; when it trips, the worker stops and in-flight items go back to the queue. */
  private recordOutcome(outcome: 'labeled' | 'failed'): void {
    if (this.breaker.record(outcome) && this.stopReason === undefined) {
      this.stopWith('provider-failing', new TribunalError('ABORTED', 'stopped: the model keeps failing'));
    }
  }

  private stopWith(reason: StopReason, cancel?: TribunalError): void {
    this.stopReason ??= reason;
    if (cancel && !this.stop.signal.aborted) this.stop.abort(cancel);
    this.wakeAll();
  }

  /** Waiting slots (refused by the budget while others run) wake when an item settles or the worker stops. */
  private wakeAll(): void {
    const woken = this.waiters;
    this.waiters = [];
    for (const wake of woken) wake();
  }

  /** The run's totals; fails when the run is gone or was reconfigured (its labels must come from the new config). */
  private async totals(): Promise<RunTotals> {
    const { store, runId, configHash } = this.options;
    const run = await store.getRun({ runId });
    if (!run) throw new TribunalError('STORE_FAILED', `run ${runId} disappeared from ${store.location}`);
    if (run.configHash !== configHash) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `run ${runId} was reconfigured (its config hash is now ${run.configHash}; this worker labels under ${configHash}): start the worker again to label with the new config`,
      );
    }
    return run.totals;
  }

  private beating = false;
  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      await this.heartbeat();
    } catch (error) {
      // A store that cannot renew leases cannot settle either: stop, as any other store failure does.
      this.fatal ??= error;
      this.stopWith('interrupted', new TribunalError('ABORTED', 'the labeling run failed'));
    } finally {
      this.beating = false;
    }
  }

  private ticking = false;
  private async tick(): Promise<void> {
    if (this.options.sharedTotals && !this.ticking && this.fatal === undefined) {
      this.ticking = true;
      try {
        this.state = { ...(await this.totals()) };
      } catch {
        // progress is best effort; the work itself reports store failures
      } finally {
        this.ticking = false;
      }
    }
    this.report();
  }

  private progress(): LabelingProgress {
    const state = this.state ?? {
      items: 0,
      pending: 0,
      running: 0,
      done: 0,
      failed: 0,
      rejected: 0,
      rejectedLines: 0,
      usage: this.budget.spent(),
    };
    return sessionProgress({
      runId: this.options.runId,
      totals: state,
      settled: this.counts.done + this.counts.failed + this.counts.rejected,
      startedAt: this.startedAt,
      usage: this.budget.spent(),
      stopping: this.stopReason,
    });
  }

  private report(): void {
    this.options.onProgress?.(this.progress());
  }

  /** The checkpointer, with what a crash left of settled debates swept (once per worker). */
  private preparing: Promise<Checkpoints> | undefined;
  private prepare(): Promise<Checkpoints> {
    this.preparing ??= sweepSettled(this.options);
    return this.preparing;
  }

  /** What every debate of this worker shares, set up on first use: checkpoints, the event writer, the turn cache, tools. */
  private opening: Promise<WorkerSession> | undefined;
  private open(): Promise<WorkerSession> {
    this.opening ??= this.prepare().then(async (checkpoints) => {
      const session = await openSession(this.options, checkpoints);
      this.session = session;
      return session;
    });
    return this.opening;
  }

  private async close(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    await session.turnCache.flush();
    await session.writer.close().catch((error: unknown) => {
      this.fatal ??= error;
    });
    await session.tools?.close();
  }
}

interface WorkerSession {
  checkpointer: BaseCheckpointSaver;
  langGraphThreads: Set<string>;
  snapshots: DebateSnapshots;
  forgetDebate: (debateId: string) => Promise<void>;
  writer: EventWriter;
  turnCache: BufferedTurnCache;
  labelPanel: ReturnType<typeof labelPanelOf>;
  tools: { tools: DebateTools; close: () => Promise<void> } | undefined;
}

interface Checkpoints {
  checkpointer: BaseCheckpointSaver;
  /** Debates that resume on the LangGraph driver (an older Tribunal left their checkpoints). */
  langGraphThreads: Set<string>;
}

/** Deletes the checkpoints and snapshots of debates whose item is done (safe while other workers run: they are settled). */
async function sweepSettled(options: { store: Store; runId: string }): Promise<Checkpoints> {
  const { store, runId } = options;
  // Debates run on the direct driver and resume from their snapshots (the same events and results as LangGraph
  // checkpoints, at a fraction of the CPU); debates that a Tribunal before it left with LangGraph checkpoints resume
  // on the LangGraph driver.
  const checkpointer = await store.checkpointer();
  const langGraphThreads = await sweepSettledCheckpoints({ store, checkpointer, runId });
  await store.sweepDebateSnapshots({ runId });
  return { checkpointer, langGraphThreads };
}

async function openSession(options: LabelingWorkerOptions, checkpoints: Checkpoints): Promise<WorkerSession> {
  const { store, runId, panel } = options;
  const { checkpointer, langGraphThreads } = checkpoints;
  const models = criticModels(options);
  // Resolve every model before the first item, so a bad model id or missing key fails the run, not each item.
  await Promise.all(
    [...Object.values(models.critics), ...(models.chair ? [models.chair] : [])].map((id) => options.models.resolve(id)),
  );
  const writer = new EventWriter({ store });
  return {
    checkpointer,
    langGraphThreads,
    // Snapshots ride the event writer's batches (no transaction per node; see EventWriter): saved when the batch is.
    snapshots: {
      load: async (debateId) => {
        if (writer.hasSnapshot(debateId)) await writer.flush();
        return store.getDebateSnapshot({ debateId });
      },
      save: async (debateId, snapshot) => writer.putSnapshot({ runId, debateId, snapshot }),
    },
    forgetDebate: async (debateId) => {
      if (langGraphThreads.has(debateId)) return store.deleteCheckpoints({ threadId: debateId });
      writer.dropSnapshot(debateId);
      await store.deleteDebateSnapshot({ debateId });
    },
    writer,
    // Cache entries are written after the events of their turns (see BufferedTurnCache), so resumed usage is complete.
    turnCache: new BufferedTurnCache({ store, beforeWrite: () => writer.flush() }),
    labelPanel: labelPanelOf({ panel, models: models.critics }),
    tools: toolsFor({ panel, tools: options.tools, concurrency: options.concurrency }),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
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
