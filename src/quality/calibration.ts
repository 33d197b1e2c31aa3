import { parseDocument } from 'yaml';
import { seededRandom } from '../export/index.js';
import { type JudgeAgreement, judgeAgreement } from './agreement.js';
import type { GoldComparison, GoldOutcome } from './gold-comparisons.js';
import { round } from './stats.js';

/** Persona weights (and a bias toward answer "A") fitted to human labels by logistic regression. */
export interface CalibrationFit {
  /** criticId -> logistic coefficient on the critic's score difference (scale units / scale range). */
  coefficients: Record<string, number>;
  /** Intercept: log-odds of preferring the seeded "A" answer when every critic is indifferent. */
  bias: number;
  /** criticId -> panel weight: the coefficient clipped to at least `minWeight` of the largest, scaled to mean 1. */
  weights: Record<string, number>;
  /** criticId -> the same fit without the L2 penalty, for comparison (the penalty should barely move it). */
  unpenalizedCoefficients: Record<string, number>;
  /** The L2 penalty, applied to coefficients of standardised features (each critic's difference over its spread). */
  l2: number;
  trainingPairs: number;
}

/** Splits gold pairs into training and held-out parts by a seeded coin per item id. */
export function splitGold(options: { comparisons: readonly GoldComparison[]; heldOut: number; seed: string }): {
  train: GoldComparison[];
  test: GoldComparison[];
} {
  const train: GoldComparison[] = [];
  const test: GoldComparison[] = [];
  for (const comparison of options.comparisons)
    (seededRandom(`split:${options.seed}:${comparison.itemId}`)() < options.heldOut ? test : train).push(comparison);
  return { train, test };
}

/**
 * Fits persona weights to gold pairs: logistic regression of the human's choice on each critic's final score
 * difference (full-batch gradient descent with a small L2 penalty, deterministic). A critic whose differences
 * predict the human gets a larger weight; a noisy one a smaller one. The penalty is scale-aware: it applies to the
 * coefficients of standardised features (each critic's difference divided by its root mean square over the training
 * pairs), as glmnet does, so it neither depends on the score scale nor changes the ratio of two critics' weights
 * because their differences have different spreads. The unpenalised fit is reported beside it.
 * @example const fit = fitCalibration({ comparisons: train, criticIds: ['safety', 'efficiency'], scaleRange: 9 });
 */
export function fitCalibration(options: {
  comparisons: readonly GoldComparison[];
  criticIds: readonly string[];
  scaleRange: number;
  /** Fit an intercept (default true). */
  bias?: boolean;
  l2?: number;
  iterations?: number;
  learningRate?: number;
  minWeight?: number;
}): CalibrationFit {
  const { criticIds } = options;
  const l2 = options.l2 ?? 0.01;
  const rows = options.comparisons.map((comparison) => {
    const sign = comparison.preferredIsA ? 1 : -1;
    return {
      x: criticIds.map((id) => (sign * (comparison.criticMargins[id] ?? 0)) / options.scaleRange),
      y: comparison.preferredIsA ? 1 : 0,
    };
  });
  // standardise: each feature over its root mean square (the features are signed differences, centred near 0)
  const spread = criticIds.map((_, k) => {
    const square = rows.reduce((sum, row) => sum + (row.x[k] ?? 0) ** 2, 0) / Math.max(1, rows.length);
    return square > 0 ? Math.sqrt(square) : 1;
  });
  const standardised = rows.map((row) => ({ x: row.x.map((value, k) => value / (spread[k] ?? 1)), y: row.y }));
  const penalised = logistic({ ...options, rows: standardised, l2 });
  const unpenalised = logistic({ ...options, rows: standardised, l2: 0 });
  const w = penalised.w.map((value, k) => value / (spread[k] ?? 1));
  const free = unpenalised.w.map((value, k) => value / (spread[k] ?? 1));
  const largest = Math.max(...w, 0);
  const floor = largest > 0 ? largest * (options.minWeight ?? 0.05) : 1;
  const clipped = w.map((value) => Math.max(value, floor));
  const average = clipped.reduce((sum, value) => sum + value, 0) / Math.max(1, clipped.length);
  return {
    coefficients: Object.fromEntries(criticIds.map((id, k) => [id, round(w[k] ?? 0) ?? 0])),
    bias: round(penalised.b) ?? 0,
    weights: Object.fromEntries(criticIds.map((id, k) => [id, round((clipped[k] ?? 1) / average, 3) ?? 1])),
    unpenalizedCoefficients: Object.fromEntries(criticIds.map((id, k) => [id, round(free[k] ?? 0) ?? 0])),
    l2,
    trainingPairs: rows.length,
  };
}

/** Full-batch gradient descent on the mean logistic loss + (l2 / 2)·|w|² (the intercept unpenalised). */
function logistic(options: {
  rows: ReadonlyArray<{ x: number[]; y: number }>;
  criticIds: readonly string[];
  l2: number;
  bias?: boolean;
  iterations?: number;
  learningRate?: number;
}): { w: number[]; b: number } {
  const { rows, l2 } = options;
  const withBias = options.bias ?? true;
  const iterations = options.iterations ?? 3000;
  const learningRate = options.learningRate ?? 1;
  const w = options.criticIds.map(() => 0);
  let b = 0;
  const n = Math.max(1, rows.length);
  for (let step = 0; step < iterations; step++) {
    const gradient = w.map((value) => l2 * value);
    let gradientBias = 0;
    for (const row of rows) {
      let z = b;
      for (let k = 0; k < w.length; k++) z += (w[k] ?? 0) * (row.x[k] ?? 0);
      const error = 1 / (1 + Math.exp(-z)) - row.y;
      for (let k = 0; k < w.length; k++) gradient[k] = (gradient[k] ?? 0) + (error * (row.x[k] ?? 0)) / n;
      gradientBias += error / n;
    }
    for (let k = 0; k < w.length; k++) w[k] = (w[k] ?? 0) - learningRate * (gradient[k] ?? 0);
    if (withBias) b -= learningRate * gradientBias;
  }
  return { w, b };
}

/** The outcome of a weighted mean of the critics' final scores (critics without a score left out). */
export function weightedOutcome(comparison: GoldComparison, weights: Readonly<Record<string, number>>): GoldOutcome {
  let numerator = 0;
  let denominator = 0;
  for (const [criticId, weight] of Object.entries(weights)) {
    const margin = comparison.criticMargins[criticId];
    if (margin === null || margin === undefined) continue;
    numerator += weight * margin;
    denominator += weight;
  }
  if (denominator === 0) return 'abstain';
  const value = numerator / denominator;
  if (Math.abs(value) < 1e-9) return 'tie';
  return value > 0 ? 'agree' : 'disagree';
}

/** Agreement with gold of a weighted-mean consensus under the given weights. */
export function weightedAgreement(options: {
  comparisons: readonly GoldComparison[];
  weights: Readonly<Record<string, number>>;
  seed: string;
  resamples?: number;
}): JudgeAgreement {
  return judgeAgreement({
    comparisons: options.comparisons,
    outcome: (comparison) => weightedOutcome(comparison, options.weights),
    seed: options.seed,
    ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
  });
}

/**
 * A panel file with calibrated weights: the original YAML (comments kept) with each persona entry given its
 * weight, the id suffixed `-calibrated` and a header noting where the weights came from. `personaOrder` lists the
 * critic id of each `personas` entry, in file order.
 */
export function calibratedPanelYaml(options: {
  panelText: string;
  personaOrder: readonly string[];
  weights: Readonly<Record<string, number>>;
  note: string;
}): string {
  const document = parseDocument(options.panelText);
  const id = document.get('id');
  if (typeof id === 'string' && !id.endsWith('-calibrated')) document.set('id', `${id}-calibrated`);
  for (const [index, criticId] of options.personaOrder.entries()) {
    const weight = options.weights[criticId];
    if (weight === undefined) continue;
    const entry = document.getIn(['personas', index]);
    if (typeof entry === 'string') document.setIn(['personas', index], document.createNode({ persona: entry, weight }));
    else document.setIn(['personas', index, 'weight'], weight);
  }
  document.commentBefore = ` ${options.note}${document.commentBefore ? `\n${document.commentBefore}` : ''}`;
  return document.toString();
}
