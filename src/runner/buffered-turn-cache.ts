import type { CachedCriticTurn, DebateTurnCache } from '../engine/index.js';
import type { TurnCache } from '../store/index.js';

/** Default number of buffered turns that triggers a write. */
export const DEFAULT_CACHE_FLUSH_TURNS = 128;
/** Default age of the oldest buffered turn that triggers a write. */
export const DEFAULT_CACHE_FLUSH_MS = 200;

/**
 * A write-behind turn cache over the store: new turns are answered from memory at once and written in batches (one
 * transaction per `flushTurns` turns or `flushMs`), instead of one commit per turn, which at high concurrency cost a
 * sixth of a labeling run's CPU. A crash loses at most the last unwritten batch; those turns are then asked again.
 * Write failures are swallowed: the cache only saves calls. With `beforeWrite` (the runner passes its event writer's
 * flush), a batch is written only after it resolves, so a stored turn's `turn-end` event (emitted right after the
 * turn is put) is stored before its cache entry: a resumed debate that answers the turn from the cache still finds what
 * the call cost in the events (`usageBeforeResume`).
 */
export class BufferedTurnCache implements DebateTurnCache {
  private readonly store: Pick<TurnCache, 'getTurn' | 'putTurns'>;
  private readonly flushTurns: number;
  private readonly flushMs: number;
  private pending = new Map<string, CachedCriticTurn>();
  /** Turns being written: still answered from memory until their transaction commits. */
  private writing = new Map<string, CachedCriticTurn>();
  private timer: NodeJS.Timeout | undefined;
  private tail: Promise<void> = Promise.resolve();
  private readonly beforeWrite: (() => Promise<void>) | undefined;
  private flushSoon = false;

  constructor(options: {
    store: Pick<TurnCache, 'getTurn' | 'putTurns'>;
    flushTurns?: number;
    flushMs?: number;
    /** Awaited before each batch is written; a failure skips the batch (its turns are asked again after a crash). */
    beforeWrite?: () => Promise<void>;
  }) {
    this.store = options.store;
    this.beforeWrite = options.beforeWrite;
    this.flushTurns = Math.max(1, options.flushTurns ?? DEFAULT_CACHE_FLUSH_TURNS);
    this.flushMs = Math.max(0, options.flushMs ?? DEFAULT_CACHE_FLUSH_MS);
  }

  async getTurn(options: { key: string }): Promise<CachedCriticTurn | undefined> {
    return this.pending.get(options.key) ?? this.writing.get(options.key) ?? (await this.store.getTurn(options));
  }

  async putTurn(options: { key: string; turn: CachedCriticTurn }): Promise<void> {
    if (!this.pending.has(options.key)) this.pending.set(options.key, options.turn);
    if (this.pending.size >= this.flushTurns) {
      // After the caller's current work (the turn's turn-end event), not before it.
      if (!this.flushSoon) {
        this.flushSoon = true;
        setImmediate(() => {
          this.flushSoon = false;
          void this.flush();
        });
      }
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes every buffered turn; resolves when they are committed (or the write failed). */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.size === 0) return this.tail;
    const batch = this.pending;
    this.pending = new Map();
    for (const [key, turn] of batch) this.writing.set(key, turn);
    this.tail = this.tail.then(async () => {
      try {
        await this.beforeWrite?.();
        await this.store.putTurns({ turns: [...batch].map(([key, turn]) => ({ key, turn })) });
      } catch {
        // Best effort: a lost cache entry only costs a model call later.
      } finally {
        for (const key of batch.keys()) this.writing.delete(key);
      }
    });
    return this.tail;
  }
}
