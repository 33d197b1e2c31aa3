/** Options for borrowing one item from a pool. */
export interface PoolAcquireOptions<T> {
  /** Cancels the wait; the promise rejects with the signal's reason and the caller leaves the queue. */
  signal?: AbortSignal;
  /** Scores the free items; the highest score is lent (used to pick the sequence that already holds the longest prompt prefix). */
  prefer?: (item: T) => number;
}

interface Waiter<T> {
  resolve: (item: T) => void;
  reject: (reason: unknown) => void;
  dispose: () => void;
}

/**
 * A fixed set of reusable items (context sequences) lent to one caller at a time; callers beyond the pool's size
 * wait in a first-come queue until an item is released.
 */
export class SequencePool<T> {
  private readonly items: readonly T[];
  private readonly free: T[];
  private readonly lent = new Set<T>();
  private readonly waiters: Waiter<T>[] = [];
  private readonly idleListeners: (() => void)[] = [];
  private closedReason: unknown;
  private closed = false;

  constructor(items: readonly T[]) {
    if (items.length === 0) throw new Error('SequencePool needs at least one item');
    this.items = items;
    this.free = [...items];
  }

  /** Number of items the pool owns. */
  get size(): number {
    return this.items.length;
  }

  /** Number of items not lent out. */
  get available(): number {
    return this.free.length;
  }

  /** Number of callers waiting for an item. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Every item the pool owns, lent or not. */
  get all(): readonly T[] {
    return this.items;
  }

  /** Borrows an item, waiting for one when all are lent; always pair with {@link release}. */
  acquire(options: PoolAcquireOptions<T> = {}): Promise<T> {
    const { signal, prefer } = options;
    if (this.closed) return Promise.reject(this.closedReason);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free.length > 0) return Promise.resolve(this.lend(this.pickFree(prefer)));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter<T> = {
        resolve,
        reject,
        dispose: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Returns a borrowed item: hands it to the longest-waiting caller, or puts it back on the free list. */
  release(item: T): void {
    if (!this.lent.delete(item)) throw new Error('SequencePool: released an item that was not lent');
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.dispose();
      this.lent.add(item);
      waiter.resolve(item);
      return;
    }
    this.free.push(item);
    if (this.lent.size === 0) for (const listener of this.idleListeners.splice(0)) listener();
  }

  /** Borrows an item for the duration of `task` and returns it afterwards, whether `task` succeeds or fails. */
  async use<R>(task: (item: T) => Promise<R>, options: PoolAcquireOptions<T> = {}): Promise<R> {
    const item = await this.acquire(options);
    try {
      return await task(item);
    } finally {
      this.release(item);
    }
  }

  /** Refuses new borrowers, rejects every waiting caller with `reason`, and resolves once every lent item is back. */
  close(reason: unknown = new Error('SequencePool is closed')): Promise<void> {
    this.closed = true;
    this.closedReason = reason;
    for (const waiter of this.waiters.splice(0)) {
      waiter.dispose();
      waiter.reject(reason);
    }
    if (this.lent.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private pickFree(prefer: ((item: T) => number) | undefined): T {
    let index = this.free.length - 1;
    if (prefer) {
      let best = Number.NEGATIVE_INFINITY;
      for (const [position, item] of this.free.entries()) {
        const score = prefer(item);
        if (score > best) {
          best = score;
          index = position;
        }
      }
    }
    const [item] = this.free.splice(index, 1) as [T];
    return item;
  }

  private lend(item: T): T {
    this.lent.add(item);
    return item;
  }
}
