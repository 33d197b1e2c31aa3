import type { LabelRow } from '../contracts/index.js';
import { pairUncertainty } from '../export/index.js';
import { splitGold } from './calibration.js';
import type { GoldComparison } from './gold-comparisons.js';
import { bootstrap, type Estimate, mean, round } from './stats.js';

/** The thresholds the curve is drawn at unless told otherwise: 0.5, 0.55, ..., 1. */
export const DEFAULT_ESCALATION_THRESHOLDS: readonly number[] = Array.from({ length: 11 }, (_, index) => 0.5 + index * 0.05).map(
  (value) => Math.round(value * 100) / 100,
);

/** One point of the agreement-vs-coverage curve: what the panel keeps at a threshold and how well it agrees there. */
export interface CoveragePoint {
  /** Items whose consensus probability is below this are escalated (panel `escalate.belowConsensusProbability`). */
  threshold: number;
  /** Gold pairs the panel keeps (consensus probability at or above the threshold, or none to compare). */
  kept: number;
  /** Share of the gold pairs kept, and its complement, the share escalated to a human. */
  coverage: number | null;
  escalated: number | null;
  /** Agreement with the humans on the kept pairs: accuracy over decided pairs, ties as misses, 95% bootstrap CI. */
  agreement: Estimate;
}

/** One threshold as the fixed-sequence test of `--target-agreement` saw it on the calibration split. */
export interface ThresholdTest {
  threshold: number;
  /** Decided kept pairs and the misses among them (ties count as misses). */
  decided: number;
  misses: number;
  /** P(X <= misses) for X ~ Binomial(decided, 1 - target): small when agreement above the target is well supported. */
  pValue: number | null;
  /** Whether the test certified the target here (p <= delta, and every stricter threshold certified before it). */
  certified: boolean;
}

/** The threshold `--target-agreement` chose on a calibration split, and how it held on the held-out split. */
export interface TargetAgreementReport {
  target: number;
  /** The test's error level: the guarantee holds with probability at least 1 - delta over the calibration draw. */
  delta: number;
  calibrationPairs: number;
  heldOutPairs: number;
  /** The lowest certified threshold (the least escalation), or null when none reached the target. */
  threshold: number | null;
  tests: ThresholdTest[];
  /** At the chosen threshold, on the calibration split and on the held-out split. */
  calibration: CoveragePoint | null;
  heldOut: CoveragePoint | null;
  /** Whether the held-out agreement reached the target (null without a choice or without decided held-out pairs). */
  heldOutReached: boolean | null;
}

/** `tribunal eval`'s agreement-vs-coverage section (report.json `escalation`). */
export interface EscalationReport {
  /** Gold pairs with no consensus probability (one critic or none scored both): kept at every threshold, as the graphs do. */
  withoutProbability: number;
  points: CoveragePoint[];
  target?: TargetAgreementReport;
}

/**
 * The consensus probability of each label row's top pair: the row's `consensusProbability` (the engine's
 * `consensusProbabilityOf`, recorded by the label run), or for rows labeled before it was recorded the same share
 * computed from the critics' last scores on the row (the export's `pairUncertainty` of the top two candidates).
 */
export function consensusProbabilities(rows: readonly LabelRow[]): Map<string, number> {
  const probabilities = new Map<string, number>();
  for (const row of rows) {
    if (row.consensusProbability !== undefined) {
      probabilities.set(row.id, row.consensusProbability);
      continue;
    }
    const [first, second] = row.ranking;
    const chosen = row.candidates.find((candidate) => candidate.id === first);
    const rejected = row.candidates.find((candidate) => candidate.id === second);
    if (!chosen || !rejected) continue;
    const uncertainty = pairUncertainty({ row, chosen, rejected });
    if (uncertainty !== undefined) probabilities.set(row.id, uncertainty.consensusProbability);
  }
  return probabilities;
}

/**
 * The agreement-vs-coverage curve (Trust-or-Escalate): for each threshold, the gold pairs the panel keeps (consensus
 * probability at or above it) and its agreement with the humans on them, against the share it escalates. With
 * `target`, chooses on a calibration split the lowest threshold whose agreement is certified above the target by a
 * fixed-sequence binomial test (strictest threshold first, stopping at the first that fails) and reports how that
 * threshold holds on the held-out split.
 * @example escalationCurve({ comparisons, probabilities, seed: '0', target: { agreement: 0.9, heldOut: 0.3 } })
 */
export function escalationCurve(options: {
  comparisons: readonly GoldComparison[];
  probabilities: ReadonlyMap<string, number>;
  thresholds?: readonly number[];
  seed: string;
  resamples?: number;
  target?: { agreement: number; heldOut: number; delta?: number } | undefined;
}): EscalationReport {
  const thresholds = [...(options.thresholds ?? DEFAULT_ESCALATION_THRESHOLDS)].sort((a, b) => a - b);
  const { comparisons, probabilities } = options;
  const resamples = options.resamples ?? 1000;
  const point = (subset: readonly GoldComparison[], threshold: number, seed: string) =>
    coveragePoint({ comparisons: subset, probabilities, threshold, seed, resamples });
  const report: EscalationReport = {
    withoutProbability: comparisons.filter((comparison) => !probabilities.has(comparison.itemId)).length,
    points: thresholds.map((threshold) => point(comparisons, threshold, `${options.seed}:coverage:${threshold}`)),
  };
  if (options.target) {
    const delta = options.target.delta ?? 0.1;
    const target = options.target.agreement;
    const { train, test } = splitGold({ comparisons, heldOut: options.target.heldOut, seed: options.seed });
    const tests: ThresholdTest[] = [];
    let chosen: number | null = null;
    let certifying = true;
    // Fixed-sequence testing: from the strictest threshold down; the first failure ends the sequence.
    for (const threshold of [...thresholds].reverse()) {
      const decided = train.filter(
        (comparison) => kept(comparison, probabilities, threshold) && comparison.consensus !== 'abstain',
      );
      const misses = decided.filter((comparison) => comparison.consensus !== 'agree').length;
      const pValue = decided.length === 0 ? null : binomialCdf(misses, decided.length, 1 - target);
      // A threshold that keeps no decided pair claims nothing: it neither certifies nor ends the sequence.
      const certified = certifying && pValue !== null && pValue <= delta;
      if (pValue !== null && !certified) certifying = false;
      if (certified) chosen = threshold;
      tests.push({ threshold, decided: decided.length, misses, pValue: pValue === null ? null : round(pValue, 6), certified });
    }
    const heldOut = chosen === null ? null : point(test, chosen, `${options.seed}:held-out`);
    report.target = {
      target,
      delta,
      calibrationPairs: train.length,
      heldOutPairs: test.length,
      threshold: chosen,
      tests,
      calibration: chosen === null ? null : point(train, chosen, `${options.seed}:calibration`),
      heldOut,
      heldOutReached: heldOut?.agreement.value == null ? null : heldOut.agreement.value >= target,
    };
  }
  return report;
}

function kept(comparison: GoldComparison, probabilities: ReadonlyMap<string, number>, threshold: number): boolean {
  const probability = probabilities.get(comparison.itemId);
  // The graphs' rule: no probability (nothing to compare) never escalates.
  return probability === undefined || probability >= threshold;
}

function coveragePoint(options: {
  comparisons: readonly GoldComparison[];
  probabilities: ReadonlyMap<string, number>;
  threshold: number;
  seed: string;
  resamples: number;
}): CoveragePoint {
  const { comparisons, threshold } = options;
  const keptPairs = comparisons.filter((comparison) => kept(comparison, options.probabilities, threshold));
  const total = comparisons.length;
  const decided = keptPairs
    .filter((comparison) => comparison.consensus !== 'abstain')
    .map((comparison) => (comparison.consensus === 'agree' ? 1 : 0));
  const agreement = bootstrap({ data: decided, statistic: mean, seed: options.seed, resamples: options.resamples });
  return {
    threshold,
    kept: keptPairs.length,
    coverage: total === 0 ? null : round(keptPairs.length / total),
    escalated: total === 0 ? null : round(1 - keptPairs.length / total),
    agreement: { ...agreement, value: round(agreement.value), low: round(agreement.low), high: round(agreement.high) },
  };
}

/** P(X <= k) for X ~ Binomial(n, p), summed in log space (exact; n up to millions). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k >= n) return 1;
  if (k < 0) return 0;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log C(n, i) built up term by term.
  let logChoose = 0;
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logChoose += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logChoose + i * logP + (n - i) * logQ);
  }
  return Math.min(1, sum);
}
