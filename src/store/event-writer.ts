import type { DebateEvent } from '../contracts/index.js';
import { TribunalError } from '../contracts/index.js';
import type { DebateSnapshotWrite, EventLog, ItemQueue, MarkDoneOptions, MarkFailedOptions } from './store.js';

/** Default number of buffered events that triggers a flush. */
export const DEFAULT_FLUSH_EVENTS = 256;
/** Default age of the oldest buffered event that triggers a flush. */
export const DEFAULT_FLUSH_MS = 200;

/** What an `EventWriter` writes to: the event log, and the item queue for settling items together with their events. */
export type EventSink = Pick<EventLog, 'appendEvents'> & Pick<ItemQueue, 'markDone' | 'markFailed'>;

/** Options of `EventWriter`. */
export interface EventWriterOptions {
  store: EventSink;
  /** Flush when this many events are buffered (a turn's coalesced deltas count once). Default 256. */
  flushEvents?: number;
  /** Flush when the oldest buffered event is this old. Default 200 ms. */
  flushMs?: number;
  /** Called when a write fails (once until a `flush()` succeeds); the failure is also thrown by the next call. */
  onError?: (error: unknown) => void;
  /**
   * Write each turn's `turn-delta` events of one batch as one event (default true): its text is theirs joined, its seq
   * and `at` the last one's, and it takes the last one's place (see `EventWriter`). False writes every delta as
   * emitted, for streams whose watchers may resume from a seq they got in process (the server's own debates).
   */
  coalesceDeltas?: boolean;
}

/** A turn's delta waiting in the buffer, and the texts of the deltas merged into it. */
interface PendingDelta {
  event: DebateEvent;
  texts: string[];
}

/**
 * Buffers debate events and appends them in batches, each batch one transaction: every `flushEvents` events,
 * after `flushMs`, on `flush()`, and when an item is settled (`markDone`/`markFailed` write the buffered events in
 * the same transaction as the item's new state, so a done item always has all its events). Batches are written in
 * append order. A failed write loses nothing: its events return to the buffer, and `append`, `markDone` and
 * `markFailed` throw the failure until a `flush()` succeeds.
 *
 * Turn-deltas are coalesced before they are written: the deltas of one turn that wait in the same batch become one
 * `turn-delta` whose text is theirs joined, with the seq and `at` of the last of them, in the last one's place (so each
 * debate's stored events still come in seq order). The stored stream is then what every watcher that reads the store
 * sees (another process, `tribunal serve` on another machine): the same text, in fewer deltas, with gaps in the seqs
 * where merged deltas were, and `afterSeq`/`afterId` resume exact over what is stored. Nothing is delayed: a batch is
 * written when it would have been. Whoever gets events in process (`onEvent`) still sees every token.
 *
 * Debate snapshots (`putSnapshot`) ride the same batches: each batch stores the latest snapshot of each debate that
 * took one since the last batch, in the batch's transaction, after the events emitted before it. So a stored
 * snapshot never runs ahead of its debate's stored events, a snapshot superseded within a batch is never written,
 * and a debate costs no transaction of its own per node. `markDone` with a `debateId` deletes that debate's stored
 * snapshot in its transaction and never writes its pending one. A crash loses at most the last batch's snapshots: the
 * debate then resumes from the one before, as it would after a crash in the middle of a node.
 * @example
 * const writer = new EventWriter({ store });
 * const emitter = createEventEmitter({ runId, debateId, onEvent: (event) => writer.append(event) });
 * // ... run the debate ...
 * await writer.markDone({ runId, itemId, result, attempt });
 * await writer.close();
 */
export class EventWriter {
  private readonly store: EventSink;
  private readonly flushEvents: number;
  private readonly flushMs: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly coalesceDeltas: boolean;
  /** Events in append order; merged-away deltas stay in it until the batch is taken (they are in `dead`). */
  private buffer: DebateEvent[] = [];
  /** Events the buffer will write: merged-away deltas are not counted. */
  private live = 0;
  /** Per run, debate and turn: the delta of the turn waiting in the buffer. */
  private readonly deltas = new Map<string, PendingDelta>();
  /** Deltas merged into a later one of their turn: skipped when the batch is taken. */
  private readonly dead = new Set<DebateEvent>();
  /** Per debate, its latest snapshot not yet written. */
  private snapshots = new Map<string, DebateSnapshotWrite>();
  private timer: NodeJS.Timeout | undefined;
  /** Writes are chained so batches reach the store in append order. */
  private tail: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private flushQueued = false;
  private closed = false;

  constructor(options: EventWriterOptions) {
    this.store = options.store;
    this.flushEvents = Math.max(1, options.flushEvents ?? DEFAULT_FLUSH_EVENTS);
    this.flushMs = Math.max(0, options.flushMs ?? DEFAULT_FLUSH_MS);
    this.onError = options.onError;
    this.coalesceDeltas = options.coalesceDeltas ?? true;
  }

  /** Events buffered and not yet written (a turn's coalesced deltas count once). */
  get buffered(): number {
    return this.live;
  }

  /** Buffers one event, starting a background flush when the buffer is full; throws an earlier write failure. */
  append(event: DebateEvent): void {
    this.throwIfUnusable();
    this.buffer.push(event);
    if (this.coalesceDeltas && event.type === 'turn-delta') {
      const key = `${event.runId}\u0000${event.debateId}\u0000${event.turnId}`;
      const pending = this.deltas.get(key);
      if (pending === undefined) {
        this.deltas.set(key, { event, texts: [event.text] });
        this.live++;
      } else {
        // The waiting delta is merged into this one, which takes the back of the batch (and the newest seq).
        this.dead.add(pending.event);
        pending.event = event;
        pending.texts.push(event.text);
      }
    } else {
      this.live++;
    }
    if (this.live >= this.flushEvents) {
      this.scheduleFlush();
    } else {
      this.startTimer();
    }
  }

  /**
   * Buffers a debate snapshot, replacing the debate's pending one; it is stored with the next batch (see the class
   * doc). Throws an earlier write failure.
   */
  putSnapshot(write: DebateSnapshotWrite): void {
    this.throwIfUnusable();
    this.snapshots.set(write.debateId, write);
    this.startTimer();
  }

  /** Whether a snapshot of `debateId` waits to be written (flush before reading it from the store). */
  hasSnapshot(debateId: string): boolean {
    return this.snapshots.has(debateId);
  }

  /** Forgets the pending snapshot of `debateId` (its debate is over); a stored one stays until deleted. */
  dropSnapshot(debateId: string): void {
    this.snapshots.delete(debateId);
  }

  private startTimer(): void {
    if (this.timer === undefined && !this.flushQueued) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.scheduleFlush();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes every buffered event; resolves when they are committed. After a failed write it retries and, on success, clears the failure. */
  async flush(): Promise<void> {
    await this.enqueue(async () => {
      await this.writeBuffer();
      this.failure = undefined;
    });
  }

  /**
   * Marks a running item done and writes every buffered event and snapshot, in one transaction; see
   * `ItemQueue.markDone`. With `debateId`, that debate's pending snapshot is not written (the store deletes its stored
   * one when the item is settled).
   */
  async markDone(options: Omit<MarkDoneOptions, 'events' | 'snapshots'>): Promise<boolean> {
    this.throwIfUnusable();
    return this.enqueue(() =>
      this.settle((events, snapshots) => this.store.markDone({ ...options, events, snapshots }), options.debateId),
    );
  }

  /** Settles a running item without a result and writes every buffered event and snapshot, in one transaction; see `ItemQueue.markFailed`. */
  async markFailed(options: Omit<MarkFailedOptions, 'events' | 'snapshots'>): Promise<boolean> {
    this.throwIfUnusable();
    return this.enqueue(() => this.settle((events, snapshots) => this.store.markFailed({ ...options, events, snapshots })));
  }

  /** Flushes and stops the timer; later appends throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      this.clearTimer();
    }
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Queues one background flush (it takes everything buffered when it runs); its failure surfaces on the next call. */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.clearTimer();
    void this.enqueue(() => this.writeBuffer()).catch(() => undefined);
  }

  private async writeBuffer(): Promise<void> {
    await this.settle(async (events, snapshots) => {
      if (events.length > 0 || snapshots.length > 0) await this.store.appendEvents({ events, snapshots });
    });
  }

  /**
   * Takes the buffer and the pending snapshots (but `skipSnapshotOf`'s), hands them to `write`, and puts them back
   * (before anything appended since; a snapshot only where none newer was put) if the write fails.
   */
  private async settle<T>(
    write: (events: readonly DebateEvent[], snapshots: readonly DebateSnapshotWrite[]) => Promise<T>,
    skipSnapshotOf?: string,
  ): Promise<T> {
    this.flushQueued = false;
    this.clearTimer();
    const events = this.take();
    const taken = this.snapshots;
    this.snapshots = new Map();
    const skipped = skipSnapshotOf === undefined ? undefined : taken.get(skipSnapshotOf);
    if (skipped !== undefined) taken.delete(skipped.debateId);
    try {
      return await write(events, [...taken.values()]);
    } catch (error) {
      if (skipped !== undefined) taken.set(skipped.debateId, skipped);
      for (const [debateId, snapshot] of taken) if (!this.snapshots.has(debateId)) this.snapshots.set(debateId, snapshot);
      // Put back as taken (coalesced): later deltas of the same turns become deltas of their own.
      this.buffer = [...events, ...this.buffer];
      this.live += events.length;
      if (this.failure === undefined) {
        this.failure = error;
        this.onError?.(error);
      }
      throw error;
    }
  }

  /** Empties the buffer and returns the events to write, each turn's coalesced deltas as one. */
  private take(): DebateEvent[] {
    const buffer = this.buffer;
    this.buffer = [];
    this.live = 0;
    if (this.deltas.size === 0) return buffer;
    const merged = new Map<DebateEvent, string[]>();
    for (const pending of this.deltas.values()) if (pending.texts.length > 1) merged.set(pending.event, pending.texts);
    this.deltas.clear();
    if (merged.size === 0) return buffer;
    const dead = this.dead;
    const events: DebateEvent[] = [];
    for (const event of buffer) {
      if (dead.has(event)) continue;
      const texts = merged.get(event);
      // A new object: the emitted event may be held by others (in-process watchers) and is never changed.
      events.push(texts === undefined ? event : ({ ...event, text: texts.join('') } as DebateEvent));
    }
    dead.clear();
    return events;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private throwIfUnusable(): void {
    this.throwIfFailed();
    if (this.closed) throw new TribunalError('INTERNAL', 'EventWriter: used after close()');
  }
}
