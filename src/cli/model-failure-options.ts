import type { BreakerSettings, BreakerTrip, LabelingResult } from '../runner/index.js';
import { EXIT } from './exit-codes.js';
import { integerFlag, numberFlag } from './flags.js';
import { type Style, terminalSafe } from './terminal.js';

/** The share of items that must get a label, of those the model was asked about, for a run to exit 0. */
export const DEFAULT_MIN_SUCCESS_RATE = 0.5;

/** The flags `tribunal label`, `eval` and `ablate` share for runs whose model keeps failing. */
export const MODEL_FAILURE_OPTIONS = {
  'max-consecutive-failures': { type: 'string' },
  'max-failure-rate': { type: 'string' },
  'failure-window': { type: 'string' },
  'min-success-rate': { type: 'string' },
} as const;

/** Help lines for those flags. */
export const MODEL_FAILURE_HELP = `  --max-consecutive-failures N
                            stop after N items in a row failed because of the model (default 8; 0: never)
  --max-failure-rate X      stop when more than X (0..1) of the last --failure-window items failed because of
                            the model (default 0.8; 1: never)
  --failure-window N        items --max-failure-rate looks at (default 50)
  --min-success-rate X      exit 3 unless at least X (0..1) of the items the model was asked about got a label
                            (default 0.5); a run that labeled nothing because of the model always exits 3`;

/** What those flags say: the runner's circuit breaker and the share below which the command exits 3. */
export interface ModelFailureSettings {
  breaker: Partial<BreakerSettings>;
  minSuccessRate: number;
}

/** Parses the flags, with clear errors for values out of range. */
export function modelFailureSettingsFrom(values: {
  'max-consecutive-failures'?: string | undefined;
  'max-failure-rate'?: string | undefined;
  'failure-window'?: string | undefined;
  'min-success-rate'?: string | undefined;
}): ModelFailureSettings {
  const breaker: Partial<BreakerSettings> = {};
  const consecutive = integerFlag(values['max-consecutive-failures'], '--max-consecutive-failures', { min: 0 });
  const rate = numberFlag(values['max-failure-rate'], '--max-failure-rate', { min: 0, max: 1 });
  const window = integerFlag(values['failure-window'], '--failure-window', { min: 1, max: 100_000 });
  if (consecutive !== undefined) breaker.maxConsecutiveFailures = consecutive;
  if (rate !== undefined) breaker.maxFailureRate = rate;
  if (window !== undefined) breaker.failureWindow = window;
  const minSuccessRate =
    numberFlag(values['min-success-rate'], '--min-success-rate', { min: 0, max: 1 }) ?? DEFAULT_MIN_SUCCESS_RATE;
  return { breaker, minSuccessRate };
}

/**
 * Whether a labeling run failed because of the model: the circuit breaker stopped it, or it labeled nothing, or less
 * than `minSuccessRate` of the items the model was asked about, because of model errors.
 */
export function modelFailed(result: Pick<LabelingResult, 'stopReason' | 'failures'>, minSuccessRate: number): boolean {
  if (result.stopReason === 'provider-failing') return true;
  const { modelFailed: failed, successRate } = result.failures;
  return failed > 0 && successRate !== null && (successRate === 0 || successRate < minSuccessRate);
}

/**
 * The exit code of a labeling run: 130 when interrupted, 3 when it failed because of the model (`modelFailed`),
 * 4 when a budget stopped it, else 0. Codes come from `EXIT`, the one mapping.
 */
export function labelingExitCode(result: Pick<LabelingResult, 'stopReason' | 'failures'>, minSuccessRate: number): number {
  if (result.stopReason === 'interrupted') return EXIT.interrupted;
  if (modelFailed(result, minSuccessRate)) return EXIT.model;
  if (result.stopReason === 'max-calls' || result.stopReason === 'max-cost') return EXIT.budget;
  return EXIT.ok;
}

/**
 * The lines that say why items failed: how many, per error code with one example (keys already redacted), what
 * stopped the run and what to do. Empty when no item failed and the breaker did not trip.
 * @example for (const line of failureLines({ result, minSuccessRate: 0.5, style })) io.stderr.write(`${line}\n`);
 */
export function failureLines(options: {
  result: Pick<LabelingResult, 'stopReason' | 'failures' | 'breaker' | 'totals'>;
  minSuccessRate: number;
  style: Style;
  /** Names the run in the text (ablation arms). */
  label?: string;
}): string[] {
  const { result, style } = options;
  const { failures } = result;
  const lines: string[] = [];
  const prefix = options.label ? `${options.label}: ` : '';
  if (failures.failed > 0) {
    const cause =
      failures.modelFailed === failures.failed ? 'because of the model' : `${failures.modelFailed} because of the model`;
    lines.push(style.red(`${prefix}${failures.failed} item${failures.failed === 1 ? '' : 's'} failed (${cause}):`));
    for (const entry of failures.byCode) {
      lines.push(
        `  ${entry.code}: ${entry.items} item${entry.items === 1 ? '' : 's'} — e.g. item ${terminalSafe(entry.example.itemId)} ` +
          `(line ${entry.example.line}): ${terminalSafe(entry.example.message)}`,
      );
    }
  }
  if (result.breaker) lines.push(style.red(`${prefix}Stopped early: ${breakerText(result.breaker)}.`));
  if (modelFailed(result, options.minSuccessRate)) {
    const { successRate } = failures;
    if (result.totals.done === 0) {
      lines.push(style.red(`${prefix}No item was labeled: the model failed on every item it was asked about.`));
    } else if (successRate !== null && successRate < options.minSuccessRate) {
      lines.push(
        style.red(
          `${prefix}Only ${percent(successRate)} of the items the model was asked about got a label ` +
            `(--min-success-rate ${percent(options.minSuccessRate)}).`,
        ),
      );
    }
    lines.push(
      `${failureAdvice(failures.byCode.filter((entry) => entry.model).map((entry) => entry.code))}, then rerun the same ` +
        'command: pending items continue; add --retry-failed to try the failed ones again.',
    );
  }
  return lines;
}

/** What to do about model failures, by what they were: a refusal calls for another model, not for a key check. */
const ADVICE: ReadonlyArray<{ codes: readonly string[]; text: string }> = [
  { codes: ['MODEL_NOT_FOUND'], text: 'check the model id (--model, the panel, TRIBUNAL_MODEL)' },
  { codes: ['MODEL_CREDENTIALS_MISSING'], text: "check the provider's API key" },
  {
    codes: ['PROVIDER_FAILED', 'MODEL_UNREACHABLE', 'RATE_LIMITED', 'TIMEOUT'],
    text: 'check that the provider answers (its endpoint, status and rate limits; TRIBUNAL_TIMEOUT_MS and TRIBUNAL_IDLE_TIMEOUT_MS bound a call)',
  },
  {
    codes: ['OUTPUT_INVALID'],
    text: 'read the examples above: a reply cut at maxTokens needs a larger maxTokens in the panel; replies that are not the assessment JSON need a model that follows the schema',
  },
  {
    codes: ['REFUSED'],
    text: 'the model refused or its provider filtered the content (refusals are never retried): judge these items with another model',
  },
];

/**
 * One sentence of advice for the given error codes, most specific first; codes with no advice of their own fall back to
 * checking the model, its key and the provider.
 * @example failureAdvice(['REFUSED']) // 'The model refused or its provider filtered the content …'
 */
export function failureAdvice(codes: readonly string[]): string {
  const parts = ADVICE.filter((advice) => advice.codes.some((code) => codes.includes(code))).map((advice) => advice.text);
  const known = new Set(ADVICE.flatMap((advice) => advice.codes));
  if (parts.length === 0 || codes.some((code) => !known.has(code))) parts.push('check the model id, its key and the provider');
  const text = parts.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

function breakerText(trip: BreakerTrip): string {
  return trip.rule === 'consecutive'
    ? `${trip.failures} items in a row failed because of the model (--max-consecutive-failures)`
    : `${trip.failures} of the last ${trip.window} items failed because of the model (${percent(trip.rate)}, over --max-failure-rate)`;
}

function percent(value: number): string {
  return `${Math.round(value * 1000) / 10}%`;
}
