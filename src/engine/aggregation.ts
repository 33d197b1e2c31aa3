import type { Aggregation, Scale } from '../contracts/index.js';

/** One critic's score for one candidate, with the critic's weight. */
export interface WeightedScore {
  criticId: string;
  score: number;
  weight: number;
}

/** Arithmetic mean; null for no values. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Mean weighted by each critic's weight; falls back to the plain mean when every weight is zero. */
export function weightedMean(scores: readonly WeightedScore[]): number | null {
  if (scores.length === 0) return null;
  let sum = 0;
  let total = 0;
  for (const { score, weight } of scores) {
    sum += score * weight;
    total += weight;
  }
  return total > 0 ? sum / total : mean(scores.map((entry) => entry.score));
}

/** Median (mean of the two middle values for an even count); null for no values. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/**
 * Mean after dropping `floor(n * trim)` values from each end of the sorted scores (at least one value is
 * always kept); null for no values.
 */
export function trimmedMean(values: readonly number[], trim: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const cut = Math.min(Math.floor(sorted.length * trim), Math.floor((sorted.length - 1) / 2));
  return mean(sorted.slice(cut, sorted.length - cut));
}

/** Population standard deviation; null for no values. */
export function stdev(values: readonly number[]): number | null {
  const average = mean(values);
  if (average === null) return null;
  let sum = 0;
  for (const value of values) sum += (value - average) ** 2;
  return Math.sqrt(sum / values.length);
}

/** Highest minus lowest score; null for no values. */
export function spread(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  return Math.max(...values) - Math.min(...values);
}

/** `1 - spread / (scale.max - scale.min)`, clamped to 0..1; null when there is no spread. */
export function agreement(spreadValue: number | null, scale: Scale): number | null {
  if (spreadValue === null) return null;
  return Math.min(1, Math.max(0, 1 - spreadValue / (scale.max - scale.min)));
}

/**
 * Combines critics' scores with the panel's aggregation: weighted-mean by weight, median, or trimmed-mean by `trim`;
 * `length-controlled` is the weighted mean here (its length regression needs the whole run and is applied on export).
 */
export function aggregateScores(options: {
  scores: readonly WeightedScore[];
  aggregation: Aggregation;
  trim: number;
}): number | null {
  const values = options.scores.map((entry) => entry.score);
  switch (options.aggregation) {
    case 'weighted-mean':
    case 'length-controlled':
      return weightedMean(options.scores);
    case 'median':
      return median(values);
    case 'trimmed-mean':
      return trimmedMean(values, options.trim);
    default: {
      const unknown: never = options.aggregation;
      throw new Error(`unknown aggregation ${String(unknown)}`);
    }
  }
}

/** What ranking needs to know about one candidate. */
export interface RankEntry {
  candidateId: string;
  score: number | null;
  mean: number | null;
  median: number | null;
}

/**
 * Orders candidates best first: by consensus score (null last), then higher mean, then higher median,
 * then input order, so equal scores always rank the same way.
 */
export function rankCandidates(entries: readonly RankEntry[]): string[] {
  const descending = (a: number | null, b: number | null): number => {
    if (a === null && b === null) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    return b - a;
  };
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort(
      (a, b) =>
        descending(a.entry.score, b.entry.score) ||
        descending(a.entry.mean, b.entry.mean) ||
        descending(a.entry.median, b.entry.median) ||
        a.index - b.index,
    )
    .map(({ entry }) => entry.candidateId);
}
