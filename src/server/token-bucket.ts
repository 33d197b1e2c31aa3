/** A clock in milliseconds; tests pass a fake one. */
export type Clock = () => number;

/**
 * A token bucket: `capacity` tokens, refilled at `perSecond`; `take()` spends one when there is one. Used for the
 * per-connection message rate and for the strikes that close an abusive connection.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly options: { capacity: number; perSecond: number; clock?: Clock }) {
    this.tokens = options.capacity;
    this.last = this.now();
  }

  /** Spends a token and returns true, or returns false when the bucket is empty. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.options.capacity, this.tokens + elapsed * this.options.perSecond);
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }
}
