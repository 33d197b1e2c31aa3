import { seededRandom } from '../export/index.js';

/** A point estimate with a percentile bootstrap confidence interval. */
export interface Estimate {
  value: number | null;
  low: number | null;
  high: number | null;
  /** How many observations the estimate rests on. */
  n: number;
}

/** The arithmetic mean; null for an empty list. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Pearson's correlation coefficient; null when fewer than two pairs or either side is constant. */
export function pearson(xs: readonly number[], ys: readonly number[]): number | null {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return null;
  const mx = mean(xs.slice(0, n)) ?? 0;
  const my = mean(ys.slice(0, n)) ?? 0;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let index = 0; index < n; index++) {
    const dx = (xs[index] ?? 0) - mx;
    const dy = (ys[index] ?? 0) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks with ties sharing their average rank (1-based). */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length).fill(0);
  let start = 0;
  while (start < order.length) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.value === order[start]?.value) end++;
    const rank = (start + end) / 2 + 1;
    for (let position = start; position <= end; position++) ranks[order[position]?.index ?? 0] = rank;
    start = end + 1;
  }
  return ranks;
}

/** Spearman's rank correlation (Pearson on average ranks). */
export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  const n = Math.min(xs.length, ys.length);
  return pearson(averageRanks(xs.slice(0, n)), averageRanks(ys.slice(0, n)));
}

/**
 * Cohen's κ between two raters over the same items: (p_o - p_e) / (1 - p_e), with p_e from each rater's own
 * category frequencies. Null for no items; 1 when both raters agree on every item and use one category.
 */
export function cohensKappa(first: readonly string[], second: readonly string[]): number | null {
  const n = Math.min(first.length, second.length);
  if (n === 0) return null;
  const countsFirst = new Map<string, number>();
  const countsSecond = new Map<string, number>();
  let agree = 0;
  for (let index = 0; index < n; index++) {
    const a = first[index] ?? '';
    const b = second[index] ?? '';
    if (a === b) agree++;
    countsFirst.set(a, (countsFirst.get(a) ?? 0) + 1);
    countsSecond.set(b, (countsSecond.get(b) ?? 0) + 1);
  }
  const observed = agree / n;
  let expected = 0;
  for (const [category, count] of countsFirst) expected += (count / n) * ((countsSecond.get(category) ?? 0) / n);
  if (expected === 1) return observed === 1 ? 1 : null;
  return (observed - expected) / (1 - expected);
}

/**
 * A statistic over resampled observations: the percentile bootstrap (resamples with replacement, seeded, so the
 * interval is the same on every run). `level` is the two-sided coverage, default 0.95.
 * @example bootstrap({ data: correct, statistic: mean, seed: 'eval' }) // { value: 0.7, low: 0.55, high: 0.83, n: 40 }
 */
export function bootstrap<T>(options: {
  data: readonly T[];
  statistic: (sample: readonly T[]) => number | null;
  seed: string;
  resamples?: number;
  level?: number;
}): Estimate {
  const { data, statistic } = options;
  const value = statistic(data);
  if (data.length === 0 || value === null) return { value, low: null, high: null, n: data.length };
  const resamples = options.resamples ?? 1000;
  const level = options.level ?? 0.95;
  const random = seededRandom(`bootstrap:${options.seed}`);
  const values: number[] = [];
  const sample = new Array<T>(data.length);
  for (let round = 0; round < resamples; round++) {
    for (let index = 0; index < data.length; index++) sample[index] = data[Math.floor(random() * data.length)] as T;
    const resampled = statistic(sample);
    if (resampled !== null && Number.isFinite(resampled)) values.push(resampled);
  }
  if (values.length === 0) return { value, low: null, high: null, n: data.length };
  values.sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return { value, low: quantile(values, tail), high: quantile(values, 1 - tail), n: data.length };
}

/** The q-quantile of sorted values, by linear interpolation. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] ?? 0;
  const high = sorted[above] ?? low;
  return low + (high - low) * (position - below);
}

/** Rounds to `digits` decimals (report values); null stays null. */
export function round(value: number | null, digits = 4): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
