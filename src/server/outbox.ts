import type { DebateEvent, DebateEventOf } from '../contracts/index.js';

/** What an outbox writes to: a WebSocket, or a fake in tests. */
export interface OutboxTransport {
  /** Sends one text frame (a Buffer holds its UTF-8 bytes). */
  send(data: string | Buffer): void;
  /** Bytes handed to `send` and not yet written to the network. */
  readonly bufferedAmount: number;
}

/** Options of `Outbox`. */
export interface OutboxOptions {
  transport: OutboxTransport;
  /** Above this many buffered bytes, frames wait in the outbox and token deltas coalesce. Default 256 KiB. */
  lowWaterMark?: number;
  /** Buffered plus queued bytes above which the client is too slow: `onOverflow` runs once. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** How often a congested outbox checks whether the transport drained. Default 10 ms. */
  flushIntervalMs?: number;
  onOverflow: () => void;
}

interface Entry {
  /** A ready frame (control frames, and events not merged). */
  data: string | Buffer | undefined;
  sub: string;
  event: DebateEvent | undefined;
  /** How many turn deltas this entry stands for. */
  coalesced: number;
  /** A delta merged into a later entry: skipped when sending. */
  dead: boolean;
  key: string | undefined;
  bytes: number;
}

export const DEFAULT_LOW_WATER_MARK = 256 * 1024;
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** The frame of one event of subscription `sub`, built around the event's JSON. */
export function eventFrame(sub: string, eventJson: string, coalesced?: number): string {
  const tail = coalesced !== undefined && coalesced > 1 ? `,"coalesced":${coalesced}}` : '}';
  return `{"v":1,"type":"event","sub":${JSON.stringify(sub)},"event":${eventJson}${tail}`;
}

/**
 * One published event: its JSON is made once, and its frame bytes once per subscription id (subscribers of a debate
 * mostly share a few ids such as `s1`), so fanning out to a thousand clients encodes the event a handful of times.
 */
export class PublishedEvent {
  private json: string | undefined;
  private frames: Map<string, Buffer> | undefined;

  constructor(readonly event: DebateEvent) {}

  get eventJson(): string {
    this.json ??= JSON.stringify(this.event);
    return this.json;
  }

  /** The `event` frame of subscription `sub`, as UTF-8 bytes. */
  frame(sub: string): Buffer {
    this.frames ??= new Map();
    let frame = this.frames.get(sub);
    if (frame === undefined) {
      frame = Buffer.from(eventFrame(sub, this.eventJson));
      this.frames.set(sub, frame);
    }
    return frame;
  }
}

/**
 * One connection's send queue. While the transport keeps up, frames go straight to it. When its buffer passes the
 * low-water mark, frames wait here in order, and a token delta joins the waiting delta of the same turn: the merged
 * delta moves to the back with the newer seq, so the queue stays in seq order per debate and a client that resumes
 * from the last seq it saw loses nothing. Every other event (turn-end, verdict, errors) and every control frame is
 * kept as it is. A client that falls more than `maxBufferedBytes` behind is reported once through `onOverflow`
 * (the server then closes it; it reconnects with `afterSeq`). The debate and other clients never wait on it.
 */
export class Outbox {
  private readonly transport: OutboxTransport;
  private readonly lowWaterMark: number;
  private readonly maxBufferedBytes: number;
  private readonly flushIntervalMs: number;
  private readonly onOverflow: () => void;
  private entries: Entry[] = [];
  private head = 0;
  private queuedBytes = 0;
  private readonly pendingDeltas = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private overflowed = false;
  private closed = false;
  /** Deltas merged into others since the outbox was created. */
  coalescedDeltas = 0;

  constructor(options: OutboxOptions) {
    this.transport = options.transport;
    this.lowWaterMark = options.lowWaterMark ?? DEFAULT_LOW_WATER_MARK;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.flushIntervalMs = options.flushIntervalMs ?? 10;
    this.onOverflow = options.onOverflow;
  }

  /** Frames waiting in the outbox (merged-away deltas not counted). */
  get queued(): number {
    let count = 0;
    for (let index = this.head; index < this.entries.length; index++) if (!this.entries[index]?.dead) count++;
    return count;
  }

  /** Sends a control frame (hello, ack, error, subscription.live) in order with the events; never merged or dropped. */
  sendFrame(data: string): void {
    if (this.closed) return;
    if (this.canSendNow()) {
      this.transport.send(data);
      return;
    }
    this.push({ data, sub: '', event: undefined, coalesced: 1, dead: false, key: undefined, bytes: data.length });
  }

  /** Sends one event of subscription `sub`. */
  sendEvent(options: { sub: string; published: PublishedEvent }): void {
    if (this.closed) return;
    const { sub, published } = options;
    const { event } = published;
    if (this.canSendNow()) {
      this.transport.send(published.frame(sub));
      return;
    }
    if (event.type === 'turn-delta') {
      const key = `${sub}\u0000${event.debateId}\u0000${event.turnId}`;
      const waiting = this.pendingDeltas.get(key);
      if (waiting?.event?.type === 'turn-delta') {
        // Merge: the waiting delta's text leads, the merged entry takes the newest seq and the back of the queue.
        waiting.dead = true;
        this.queuedBytes -= waiting.bytes;
        const merged: DebateEventOf<'turn-delta'> = { ...event, text: waiting.event.text + event.text };
        const entry: Entry = {
          data: undefined,
          sub,
          event: merged,
          coalesced: waiting.coalesced + 1,
          dead: false,
          key,
          bytes: waiting.bytes + event.text.length,
        };
        this.coalescedDeltas++;
        this.pendingDeltas.set(key, entry);
        this.push(entry);
        return;
      }
      const data = published.frame(sub);
      const entry: Entry = { data, sub, event, coalesced: 1, dead: false, key, bytes: data.length };
      this.pendingDeltas.set(key, entry);
      this.push(entry);
      return;
    }
    const data = published.frame(sub);
    this.push({ data, sub, event, coalesced: 1, dead: false, key: undefined, bytes: data.length });
  }

  /** Resolves when nothing waits in the outbox and the transport is below the low-water mark (replays pace on it). */
  whenWritable(): Promise<void> {
    if (this.closed || this.canSendNow()) return Promise.resolve();
    this.ensureTimer();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops everything waiting and stops; later sends are ignored. */
  close(): void {
    this.closed = true;
    this.entries = [];
    this.head = 0;
    this.pendingDeltas.clear();
    this.queuedBytes = 0;
    this.stopTimer();
    this.releaseWaiters();
  }

  private canSendNow(): boolean {
    return this.head === this.entries.length && this.transport.bufferedAmount < this.lowWaterMark;
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.queuedBytes += entry.bytes;
    if (!this.overflowed && this.queuedBytes + this.transport.bufferedAmount > this.maxBufferedBytes) {
      this.overflowed = true;
      this.onOverflow();
      return;
    }
    this.ensureTimer();
  }

  /** Sends waiting frames while the transport is below the low-water mark. */
  flush(): void {
    while (this.head < this.entries.length && this.transport.bufferedAmount < this.lowWaterMark && !this.closed) {
      const entry = this.entries[this.head] as Entry;
      this.entries[this.head] = undefined as unknown as Entry;
      this.head++;
      if (entry.dead) continue;
      this.queuedBytes -= entry.bytes;
      if (entry.key !== undefined && this.pendingDeltas.get(entry.key) === entry) this.pendingDeltas.delete(entry.key);
      const data =
        entry.data ?? eventFrame(entry.sub, JSON.stringify(entry.event), entry.coalesced > 1 ? entry.coalesced : undefined);
      this.transport.send(data);
    }
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
      this.queuedBytes = 0;
      if (this.transport.bufferedAmount < this.lowWaterMark) {
        this.stopTimer();
        this.releaseWaiters();
      }
    } else if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  private ensureTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private releaseWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
