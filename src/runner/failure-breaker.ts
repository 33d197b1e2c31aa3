import { z } from 'zod';

/** When a labeling session stops because the model keeps failing (`--max-consecutive-failures`, `--max-failure-rate`). */
export const BreakerSettingsSchema = z.object({
  /** Stop after this many items in a row failed because of the model; 0 turns the rule off. */
  maxConsecutiveFailures: z.number().int().min(0).default(8),
  /** Stop when more than this share of the last `failureWindow` settled items failed because of the model; 1 turns the rule off. */
  maxFailureRate: z.number().min(0).max(1).default(0.8),
  /** How many of the most recently settled items `maxFailureRate` looks at (it waits until that many settled). */
  failureWindow: z.number().int().min(1).default(50),
});
export type BreakerSettings = z.infer<typeof BreakerSettingsSchema>;

/** Which rule stopped the session, with the numbers that tripped it. */
export type BreakerTrip =
  | { rule: 'consecutive'; failures: number }
  | { rule: 'rate'; failures: number; window: number; rate: number };

/**
 * A circuit breaker over settled items: each item is recorded as labeled or failed because of the model (other
 * outcomes are not recorded). It trips when `maxConsecutiveFailures` items in a row failed, or when more than
 * `maxFailureRate` of the last `failureWindow` items failed; once tripped it stays tripped.
 * @example
 * const breaker = new FailureBreaker(BreakerSettingsSchema.parse({}));
 * const trip = breaker.record('failed'); // undefined until a rule trips
 */
export class FailureBreaker {
  private readonly settings: BreakerSettings;
  private readonly window: boolean[] = [];
  private windowFailures = 0;
  private consecutive = 0;
  private tripped: BreakerTrip | undefined;

  constructor(settings: BreakerSettings) {
    this.settings = settings;
  }

  /** The trip, once a rule tripped. */
  get trip(): BreakerTrip | undefined {
    return this.tripped;
  }

  /** Records one settled item; returns the trip when this item made a rule trip (and on every later call). */
  record(outcome: 'labeled' | 'failed'): BreakerTrip | undefined {
    if (this.tripped) return this.tripped;
    const failed = outcome === 'failed';
    this.consecutive = failed ? this.consecutive + 1 : 0;
    this.window.push(failed);
    if (failed) this.windowFailures += 1;
    if (this.window.length > this.settings.failureWindow && this.window.shift()) this.windowFailures -= 1;
    const { maxConsecutiveFailures, maxFailureRate, failureWindow } = this.settings;
    if (maxConsecutiveFailures > 0 && this.consecutive >= maxConsecutiveFailures) {
      this.tripped = { rule: 'consecutive', failures: this.consecutive };
    } else if (this.window.length >= failureWindow && this.windowFailures / this.window.length > maxFailureRate) {
      this.tripped = {
        rule: 'rate',
        failures: this.windowFailures,
        window: this.window.length,
        rate: this.windowFailures / this.window.length,
      };
    }
    return this.tripped;
  }
}
