import type { DebateEvent } from '../contracts/index.js';
import { TribunalError } from '../contracts/index.js';
import type { EventLog, ItemQueue, MarkDoneOptions, MarkFailedOptions } from './store.js';

/** Default number of buffered events that triggers a flush. */
export const DEFAULT_FLUSH_EVENTS = 256;
/** Default age of the oldest buffered event that triggers a flush. */
export const DEFAULT_FLUSH_MS = 200;

/** What an `EventWriter` writes to: the event log, and the item queue for settling items together with their events. */
export type EventSink = Pick<EventLog, 'appendEvents'> & Pick<ItemQueue, 'markDone' | 'markFailed'>;

/** Options of `EventWriter`. */
export interface EventWriterOptions {
  store: EventSink;
  /** Flush when this many events are buffered. Default 256. */
  flushEvents?: number;
  /** Flush when the oldest buffered event is this old. Default 200 ms. */
  flushMs?: number;
  /** Called when a write fails (once until a `flush()` succeeds); the failure is also thrown by the next call. */
  onError?: (error: unknown) => void;
}

/**
 * Buffers debate events and appends them in batches, each batch one transaction: every `flushEvents` events,
 * after `flushMs`, on `flush()`, and when an item is settled (`markDone`/`markFailed` write the buffered events in
 * the same transaction as the item's new state, so a done item always has all its events). Batches are written in
 * append order. A failed write loses nothing: its events return to the buffer, and `append`, `markDone` and
 * `markFailed` throw the failure until a `flush()` succeeds.
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
  private buffer: DebateEvent[] = [];
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
  }

  /** Events buffered and not yet written. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Buffers one event, starting a background flush when the buffer is full; throws an earlier write failure. */
  append(event: DebateEvent): void {
    this.throwIfUnusable();
    this.buffer.push(event);
    if (this.buffer.length >= this.flushEvents) {
      this.scheduleFlush();
    } else if (this.timer === undefined && !this.flushQueued) {
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

  /** Marks a running item done and writes every buffered event, in one transaction; see `ItemQueue.markDone`. */
  async markDone(options: Omit<MarkDoneOptions, 'events'>): Promise<boolean> {
    this.throwIfUnusable();
    return this.enqueue(() => this.settle((events) => this.store.markDone({ ...options, events })));
  }

  /** Settles a running item without a result and writes every buffered event, in one transaction; see `ItemQueue.markFailed`. */
  async markFailed(options: Omit<MarkFailedOptions, 'events'>): Promise<boolean> {
    this.throwIfUnusable();
    return this.enqueue(() => this.settle((events) => this.store.markFailed({ ...options, events })));
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
    await this.settle(async (events) => {
      if (events.length > 0) await this.store.appendEvents({ events });
    });
  }

  /** Takes the buffer, hands it to `write`, and puts it back (before anything appended since) if the write fails. */
  private async settle<T>(write: (events: readonly DebateEvent[]) => Promise<T>): Promise<T> {
    this.flushQueued = false;
    this.clearTimer();
    const events = this.buffer;
    this.buffer = [];
    try {
      return await write(events);
    } catch (error) {
      this.buffer = [...events, ...this.buffer];
      if (this.failure === undefined) {
        this.failure = error;
        this.onError?.(error);
      }
      throw error;
    }
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
