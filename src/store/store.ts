import type { BaseCheckpointSaver } from '@langchain/langgraph';
import { z } from 'zod';
import {
  AssessmentSchema,
  type DatasetItem,
  type DebateEvent,
  type LabelRow,
  PairwiseJudgmentSchema,
  type Usage,
  UsageSchema,
} from '../contracts/index.js';
import type { RunConfig } from './run-config.js';

/*
 * The store seam: what the label runner, the engine and the server need from persistence, as interfaces that
 * any backend implements (SQLite, Postgres). Every method is async so a networked database fits the same shape;
 * the SQLite implementation does its work synchronously inside each call.
 */

// ---------------------------------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------------------------------

/** Where a run stands: `running` while a process works on it, `stopped` when interrupted, `done` or `failed` at the end. */
export const RUN_STATUSES = ['running', 'stopped', 'done', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** How many items of a run are in each state, and what the done ones cost. */
export interface RunTotals {
  items: number;
  pending: number;
  running: number;
  done: number;
  failed: number;
  rejected: number;
  /** Input lines the importer refused (they never became items). */
  rejectedLines: number;
  /** Usage summed over done items. */
  usage: Usage;
}

/** A run as stored, with its current config and live totals. */
export interface RunRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  status: RunStatus;
  config: RunConfig;
  /** `runConfigHash(config)`: done items labeled under another hash are stale. */
  configHash: string;
  totals: RunTotals;
}

/**
 * What `createOrResumeRun` did: `created` a new run, `resumed` one with the same config, or `reconfigured` one
 * whose label-relevant config changed (then `requeued` items labeled under the old config went back to pending).
 */
export type RunOpening =
  | { outcome: 'created'; run: RunRecord }
  | { outcome: 'resumed'; run: RunRecord }
  | { outcome: 'reconfigured'; run: RunRecord; previousConfigHash: string; requeued: number };

/** Creating, resuming and listing runs. */
export interface RunRegistry {
  /**
   * Resumes the run named by `runId`, or else the latest run of the same input (sha256) and panel id, or creates
   * one. A resumed run whose config hash changed records the new config and requeues the items labeled under
   * another hash (the turn cache makes the unchanged turns free). The run is marked `running`.
   */
  createOrResumeRun(options: { runId?: string; config: RunConfig }): Promise<RunOpening>;
  /** One run with its totals, or undefined. */
  getRun(options: { runId: string }): Promise<RunRecord | undefined>;
  /** Every run, newest first, with totals. */
  listRuns(): Promise<RunRecord[]>;
  /** Sets a run's status (the runner: `stopped` on SIGINT, `done` or `failed` at the end). */
  setRunStatus(options: { runId: string; status: RunStatus }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------------------------------

/** An item's life: `pending` -> `running` (claimed) -> `done` | `failed` | `rejected` (the engine refused it). */
export const ITEM_STATES = ['pending', 'running', 'done', 'failed', 'rejected'] as const;
export type ItemState = (typeof ITEM_STATES)[number];

/** A line of the input that became an item (the shape `readItems` yields). */
export interface NewItem {
  line: number;
  item: DatasetItem;
}

/** An item id seen again on another line: reported, never merged. */
export interface DuplicateItem {
  itemId: string;
  line: number;
  /** The line the stored item came from. */
  firstLine: number;
}

/** What `upsertItems` did with a batch. */
export interface UpsertItemsResult {
  /** New items, now pending. */
  inserted: number;
  /** Items already stored from the same line (a resumed import): left as they are. */
  existing: number;
  /** Items whose id is already stored from another line, or repeats within the batch. */
  duplicates: DuplicateItem[];
}

/** An item handed to a worker by `claimPending`. */
export interface ClaimedItem {
  itemId: string;
  line: number;
  item: DatasetItem;
  /** 1 on the first claim; pass it back to `markDone`/`markFailed` so a stale worker cannot settle a newer claim. */
  attempt: number;
}

/** Why an item failed or was rejected, as data. */
export interface ItemError {
  code: string;
  message: string;
}

/** How many items of a run ended with one error code, and the first of them (by line) as an example. */
export interface ItemErrorCount {
  code: string;
  items: number;
  example: { itemId: string; line: number; message: string };
}

/** An item as stored. */
export interface ItemRecord {
  itemId: string;
  line: number;
  item: DatasetItem;
  state: ItemState;
  /** The label row; set exactly when `state` is `done`. */
  result: LabelRow | undefined;
  error: ItemError | undefined;
  attempts: number;
  /** The config hash the result was produced under. */
  configHash: string | undefined;
  updatedAt: string;
}

/** A done item as `iterateDone` streams it for exports. */
export interface DoneItem {
  itemId: string;
  line: number;
  result: LabelRow;
  configHash: string;
  updatedAt: string;
}

/** A line the importer refused, kept for `DIR/rejected.jsonl`. */
export interface RejectedLine {
  line: number;
  code: string;
  reason: string;
  raw: string;
  field?: string;
}

/** A debate snapshot to store (see `CheckpointStore.putDebateSnapshot`), written with a batch of events. */
export interface DebateSnapshotWrite {
  runId: string;
  debateId: string;
  snapshot: unknown;
}

/** Options of `markDone`: the result, and the events still buffered, written in one transaction. */
export interface MarkDoneOptions {
  runId: string;
  itemId: string;
  result: LabelRow;
  /** Events to append in the same transaction (the rest of the item's debate). */
  events?: readonly DebateEvent[];
  /** Debate snapshots to store in the same transaction (other debates' latest, as `appendEvents` takes them). */
  snapshots?: readonly DebateSnapshotWrite[];
  /** The item's debate: when the item is settled, its snapshot is deleted in the same transaction (nothing resumes it). */
  debateId?: string;
  /** The claim being settled; when given, a newer claim of the same item makes this call a no-op. */
  attempt?: number;
  /**
   * The run config hash the result was produced under; when given and the run's config changed since (a
   * `createOrResumeRun` with another config), the call is a no-op, so a worker still on the old config cannot
   * settle an item as labeled under the new one.
   */
  configHash?: string;
}

/** Options of `markFailed`. */
export interface MarkFailedOptions {
  runId: string;
  itemId: string;
  error: ItemError;
  /** `pending` to try again later, `failed` to give up, `rejected` when the item can never be labeled. */
  state: 'pending' | 'failed' | 'rejected';
  events?: readonly DebateEvent[];
  /** Debate snapshots to store in the same transaction. */
  snapshots?: readonly DebateSnapshotWrite[];
  attempt?: number;
}

/** Options of `appendEvents`. */
export interface AppendEventsOptions {
  events: readonly DebateEvent[];
  /**
   * Debate snapshots to store in the same transaction (each replaces its debate's, as `putDebateSnapshot` does), so
   * a snapshot is never stored without the events emitted before it (a labeling worker's `EventWriter` batches them).
   */
  snapshots?: readonly DebateSnapshotWrite[];
}

/** Options of `markGenerated`: what a generation run drew for one item, and what it cost. */
export interface MarkGeneratedOptions {
  runId: string;
  itemId: string;
  /** The samples as JSON-ready data (the generate layer's `GeneratedPrompt`); stored as the item's result. */
  generation: unknown;
  usage: Usage;
  attempt?: number;
}

/** A done item of a generation run, with its input, as `iterateGenerated` streams it. */
export interface GeneratedItem {
  itemId: string;
  line: number;
  item: DatasetItem;
  /** The stored generation, parsed from JSON but not validated (the caller validates it). */
  generation: unknown;
}

/** Options of `claimItems`. */
export interface ClaimItemsOptions {
  runId: string;
  limit: number;
  /** Who claims (a worker id, e.g. host, pid and a random part): recorded on the claim and needed to renew it. */
  owner: string;
  /** How long a claim lasts without a heartbeat (`renewLeases`); then any worker may take the item over. */
  leaseMs: number;
  /** An item whose lease expired at this many claims is dead-lettered instead of claimed again. Default 5. */
  maxAttempts?: number;
  /** The time leases are compared with; default the store's clock (Postgres: the server's). For tests. */
  now?: Date;
}

/** What `claimItems` did. */
export interface ClaimItemsResult {
  /** The claimed items in input order; `attempt` counts every claim, taken-over ones included. */
  items: ClaimedItem[];
  /** Items given up on this call: `failed` with error code `DEAD_LETTERED`, the reason in the message. */
  deadLettered: number;
}

/** Options of `renewLeases`: a worker's heartbeat for the items it works on. */
export interface RenewLeasesOptions {
  runId: string;
  owner: string;
  leaseMs: number;
  /** The claims to renew (`attempt` from `claimItems`). */
  items: ReadonlyArray<{ itemId: string; attempt: number }>;
  now?: Date;
}

/** The error code of a dead-lettered item. */
export const DEAD_LETTERED = 'DEAD_LETTERED';

/** Default `maxAttempts` of `claimItems`. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** The work queue of a run: items, their states and results, and the input lines refused on import. */
export interface ItemQueue {
  /**
   * Stores items as pending, idempotently: an id already stored from the same line is left alone, an id stored
   * from another line (or repeated within the batch) is reported as a duplicate and not stored again.
   */
  upsertItems(options: { runId: string; items: readonly NewItem[] }): Promise<UpsertItemsResult>;
  /** Atomically moves up to `limit` pending items, in input order, to `running` and returns them. */
  claimPending(options: { runId: string; limit: number }): Promise<ClaimedItem[]>;
  /**
   * Claims with leases, for workers that may die anywhere: moves up to `limit` items, in input order, to `running`
   * under `owner` until `now + leaseMs`, taking pending items and running items whose lease expired (their worker
   * died or hung); each claim counts an attempt, and a stale attempt cannot settle. An expired item that already had
   * `maxAttempts` claims is dead-lettered instead (`failed`, error `DEAD_LETTERED` with the reason). Items claimed
   * with `claimPending` carry no lease and are never taken over (`resetRunning` recovers them).
   */
  claimItems(options: ClaimItemsOptions): Promise<ClaimItemsResult>;
  /** Extends the leases `owner` still holds on the given claims to `now + leaseMs`; returns how many it renewed (a claim taken over or settled is not). */
  renewLeases(options: RenewLeasesOptions): Promise<number>;
  /** Marks a running item done with its result and appends `events`, all in one transaction; false if it was not running (or `attempt` is stale): then only the events are kept. */
  markDone(options: MarkDoneOptions): Promise<boolean>;
  /** Settles a running item without a result (retry later, give up, or reject) and appends `events`, in one transaction. */
  markFailed(options: MarkFailedOptions): Promise<boolean>;
  /**
   * Generation runs (`tribunal generate`): marks a running item done with its samples as its result, in one
   * transaction; false if it was not running (or `attempt` is stale). Label runs use `markDone`.
   */
  markGenerated(options: MarkGeneratedOptions): Promise<boolean>;
  /** Generation runs: streams done items with their input and stored samples, in input order, a page at a time. */
  iterateGenerated(options: { runId: string; pageSize?: number }): AsyncIterable<GeneratedItem>;
  /** Puts items a crashed process left `running` back to `pending`; returns how many. Call once when a runner starts. */
  resetRunning(options: { runId: string }): Promise<number>;
  /** Puts `failed` items back to `pending` (a `--retry-failed` run); returns how many. */
  requeueFailed(options: { runId: string }): Promise<number>;
  /** How many items wait to be claimed. */
  pendingCount(options: { runId: string }): Promise<number>;
  /** The run's failed (or rejected) items counted by error code, most frequent first, each with its first item's error. */
  itemErrors(options: { runId: string; state: 'failed' | 'rejected' }): Promise<ItemErrorCount[]>;
  /** One item, or undefined. */
  getItem(options: { runId: string; itemId: string }): Promise<ItemRecord | undefined>;
  /** Streams done items in input order, a page at a time, without holding the database between pages. */
  iterateDone(options: { runId: string; pageSize?: number }): AsyncIterable<DoneItem>;
  /** Records lines the importer refused; a line already recorded is kept as it is. Returns how many were new. */
  putRejectedLines(options: { runId: string; lines: readonly RejectedLine[] }): Promise<number>;
  /** The refused lines in line order. */
  listRejectedLines(options: { runId: string }): Promise<RejectedLine[]>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------------------

/** An event with its position in the store's global, monotonically increasing log. */
export interface StoredEvent {
  id: number;
  event: DebateEvent;
}

/** What `appendEvents` did: duplicates (same run, debate and seq) are ignored, not errors. */
export interface AppendEventsResult {
  inserted: number;
  ignored: number;
  /** The highest event id in the store after the append. */
  lastId: number;
}

/** Options of `eventsAfter`. */
export interface EventsAfterOptions {
  /** Only this run's events; all runs when omitted. */
  runId?: string;
  /** Only this debate's events (then ordered by seq, which is also id order). */
  debateId?: string;
  /** With `debateId`: events with a larger seq. */
  afterSeq?: number;
  /** Events with a larger id (a cursor from a previous call or `latestEventId`). */
  afterId?: number;
  /** At most this many events. */
  limit: number;
}

/** Options of `followEvents`. */
export interface FollowEventsOptions {
  runId?: string;
  /** Start after this event id; 0 from the beginning, `latestEventId()` for only new events. */
  afterId?: number;
  /** Stops the iteration (it ends quietly, without throwing). */
  signal?: AbortSignal;
  /**
   * How long to wait before asking again when nothing new arrived. Default 250 ms. A store that pushes wake-ups
   * (Postgres: LISTEN/NOTIFY) asks when woken instead, and polls at this interval only while its listening connection
   * is down.
   */
  pollMs?: number;
  /** Events fetched per query. Default 500. */
  pageSize?: number;
}

/** A debate's place in a run, derived from its events. */
export interface DebateRecord {
  runId: string;
  debateId: string;
  itemId: string | undefined;
  status: 'running' | 'done' | 'failed';
  /** The highest stored seq; a resumed debate continues at `lastSeq + 1`. */
  lastSeq: number;
  events: number;
  firstEventId: number;
  lastEventId: number;
  startedAt: string | undefined;
  updatedAt: string;
}

/** The persisted event stream: append in batches, read after a cursor, follow live. */
export interface EventLog {
  /**
   * Appends events in one transaction; an event whose (run, debate, seq) is stored is ignored. Each debate's events
   * get increasing ids in the given order; events of different debates in one call may be reordered (a backend may
   * store a run of one debate's turn-delta events together).
   */
  appendEvents(options: AppendEventsOptions): Promise<AppendEventsResult>;
  /** Stored events after a cursor, oldest first. */
  eventsAfter(options: EventsAfterOptions): Promise<StoredEvent[]>;
  /** The highest event id (of one run when `runId` is given), 0 when there is none. */
  latestEventId(options?: { runId?: string }): Promise<number>;
  /** The debates of a run in the order they started. */
  listDebates(options: { runId: string }): Promise<DebateRecord[]>;
  /** One debate, or undefined. */
  getDebate(options: { runId: string; debateId: string }): Promise<DebateRecord | undefined>;
  /**
   * Yields stored events after `afterId` as they are written, by any process (on any machine, for Postgres), once
   * each and in id order, until `signal` aborts. SQLite polls; Postgres reads when a commit's notification wakes it.
   */
  followEvents(options: FollowEventsOptions): AsyncIterable<StoredEvent>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Turn cache
// ---------------------------------------------------------------------------------------------------------------------

/** A cached critic turn: what the model returned and what it cost; the engine may keep more fields. */
export const CachedTurnSchema = z.looseObject({
  model: z.string(),
  assessment: AssessmentSchema.optional(),
  judgment: PairwiseJudgmentSchema.optional(),
  usage: UsageSchema,
});
export type CachedTurn = z.infer<typeof CachedTurnSchema>;

/** Critic turns by `turnCacheKey`, shared by every run in the store. */
export interface TurnCache {
  /** The cached turn, or undefined (also when a stored entry no longer parses). */
  getTurn(options: { key: string }): Promise<CachedTurn | undefined>;
  /** Caches a turn; the first value stored under a key wins (turns are deterministic by key). */
  putTurn(options: { key: string; turn: CachedTurn }): Promise<void>;
  /** Caches many turns in one transaction (a write-behind cache flushing a batch), each as `putTurn` would. */
  putTurns(options: { turns: ReadonlyArray<{ key: string; turn: CachedTurn }> }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Human overrides
// ---------------------------------------------------------------------------------------------------------------------

/** A human's correction of a verdict: `prefer` a candidate, or call the verdict `wrong`. */
export const OVERRIDE_KINDS = ['prefer', 'wrong'] as const;
export type OverrideKind = (typeof OVERRIDE_KINDS)[number];

/** A verdict override to record; name the item, the debate, or both. */
export interface NewVerdictOverride {
  runId: string;
  itemId?: string;
  debateId?: string;
  kind: OverrideKind;
  candidateId?: string;
  note?: string;
}

/** A stored verdict override. */
export interface VerdictOverride {
  id: number;
  runId: string;
  itemId: string | undefined;
  debateId: string | undefined;
  kind: OverrideKind;
  candidateId: string | undefined;
  note: string | undefined;
  createdAt: string;
}

/** Human corrections of verdicts, append-only (the latest for an item wins in the viewer). */
export interface VerdictOverrides {
  /** Records an override and returns it with its id. */
  putOverride(override: NewVerdictOverride): Promise<VerdictOverride>;
  /** A run's overrides, oldest first, optionally of one item or debate. */
  listOverrides(options: { runId: string; itemId?: string; debateId?: string }): Promise<VerdictOverride[]>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Checkpoints kept next to the run, so an interrupted debate resumes where it stopped: the direct driver's debate
 * snapshots (what labeling runs use) and LangGraph's checkpoints (debates run on the LangGraph driver).
 */
export interface CheckpointStore {
  /** The LangGraph checkpointer over this store (the same one on every call; its package is loaded on first use). */
  checkpointer(): Promise<BaseCheckpointSaver>;
  /** Deletes a thread's checkpoints, e.g. once its item is done. */
  deleteCheckpoints(options: { threadId: string }): Promise<void>;
  /** A debate's snapshot (the engine's `DebateSnapshot`, stored as JSON), or undefined. */
  getDebateSnapshot(options: { debateId: string }): Promise<unknown>;
  /** Replaces a debate's snapshot, in one transaction. */
  putDebateSnapshot(options: { runId: string; debateId: string; snapshot: unknown }): Promise<void>;
  /** Deletes a debate's snapshot, e.g. once its item is done. */
  deleteDebateSnapshot(options: { debateId: string }): Promise<void>;
  /** Deletes the snapshots of a run's debates whose item is done (a crash between settling and deleting leaves them); returns how many. */
  sweepDebateSnapshots(options: { runId: string }): Promise<number>;
  /**
   * Deletes what the debates of a run's done items no longer need, so a long run does not grow without bound: their
   * snapshots and their `turn-delta` events (single and packed rows; each `turn-end` keeps its turn's text). The
   * other events stay, with their ids and seqs, so `afterId`/`afterSeq` resume stays exact over what remains; a
   * viewer replaying a pruned debate sees its turns without the token stream. A labeling session calls it when it
   * ends; the pruned debates' `events` counts are what remains.
   */
  pruneSettled(options: { runId: string }): Promise<PruneResult>;
}

/** What `pruneSettled` deleted. */
export interface PruneResult {
  snapshots: number;
  /** Event rows deleted (a packed row counts once). */
  eventRows: number;
}

// ---------------------------------------------------------------------------------------------------------------------
// Run locks
// ---------------------------------------------------------------------------------------------------------------------

/** A held run lock; `release` is idempotent. */
export interface RunLock {
  release(): Promise<void>;
}

/**
 * One labeling session per run, whatever machine it runs on. Postgres holds a session advisory lock on its own
 * connection (gone when the process or its connection dies, even on kill -9); SQLite relies on the run directory's
 * lock for other processes (`lockRunDirectory`) and refuses a second lock of the same run within the process.
 */
export interface RunLocks {
  /** Takes the run's lock, or fails at once with STORE_FAILED naming the run and what to do. */
  lockRun(options: { runId: string; purpose: string }): Promise<RunLock>;
}

// ---------------------------------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------------------------------

/** Everything a labeling run persists, behind one interface that SQLite (the default) and Postgres implement. */
export interface Store extends RunRegistry, ItemQueue, EventLog, TurnCache, VerdictOverrides, CheckpointStore, RunLocks {
  /** Where the data lives (a file path for SQLite, the URL without its password for Postgres), for messages. */
  readonly location: string;
  readonly readonly: boolean;
  /** Closes the store; later calls fail. Flush any `EventWriter` first. */
  close(): Promise<void>;
}
