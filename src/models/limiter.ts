/** A counting semaphore: at most `limit` tasks run at once; the rest wait in FIFO order. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private current: number;

  constructor(limit: number) {
    checkLimit(limit);
    this.current = limit;
  }

  /** Most tasks that may run at once. */
  get limit(): number {
    return this.current;
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /**
   * Changes the limit (an endpoint fleet follows its healthy capacity); a higher one starts waiting tasks at once, a
   * lower one lets running tasks finish and starts no new one until they are below it.
   */
  resize(limit: number): void {
    checkLimit(limit);
    this.current = limit;
    while (this.active < this.current && this.waiting.length > 0) this.waiting.shift()?.();
  }

  get pending(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!this.tryAcquire()) await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Takes a slot if one is free (none is while others wait), without a promise; whoever gets one must `release()` it. */
  tryAcquire(): boolean {
    if (this.active >= this.current) return false;
    this.active++;
    return true;
  }

  /** Waits for a slot in FIFO order (rejecting with the signal's reason if it aborts first); `release()` it after. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /** Gives a slot back, to the longest waiter if any. */
  release(): void {
    this.active--;
    if (this.active >= this.current) return;
    const next = this.waiting.shift();
    if (next) next();
  }
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
}
