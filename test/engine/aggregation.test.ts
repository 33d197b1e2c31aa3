import { describe, expect, test } from 'vitest';
import {
  aggregateScores,
  agreement,
  isConverged,
  mean,
  median,
  rankCandidates,
  spread,
  stdev,
  trimmedMean,
  weightedMean,
} from '../../src/engine/index.js';

const scores = (values: number[], weights: number[] = values.map(() => 1)) =>
  values.map((score, index) => ({ criticId: `c${index}`, score, weight: weights[index] ?? 1 }));

describe('aggregation', () => {
  test('weighted mean weighs by critic weight', () => {
    expect(weightedMean(scores([2, 8, 8], [3, 1, 1]))).toBeCloseTo(4.4);
    expect(weightedMean(scores([2, 8, 8]))).toBeCloseTo(6);
    expect(weightedMean([])).toBeNull();
  });

  test('median of odd and even counts', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([1, 2, 6, 9])).toBe(4);
    expect(median([])).toBeNull();
  });

  test('trimmed mean drops floor(n * trim) from each end and keeps at least one value', () => {
    expect(trimmedMean([1, 2, 6, 9, 10], 0.2)).toBeCloseTo(17 / 3);
    expect(trimmedMean([1, 2, 6, 9, 10], 0)).toBeCloseTo(5.6);
    expect(trimmedMean([1, 9], 0.49)).toBe(5);
    expect(trimmedMean([4], 0.49)).toBe(4);
  });

  test('stdev, spread and agreement', () => {
    expect(stdev([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect(spread([3, 8, 5])).toBe(5);
    expect(agreement(4.5, { min: 1, max: 10 })).toBeCloseTo(0.5);
    expect(agreement(0, { min: 1, max: 10 })).toBe(1);
    expect(agreement(null, { min: 1, max: 10 })).toBeNull();
    expect(mean([])).toBeNull();
  });

  test('aggregateScores dispatches on the panel aggregation', () => {
    const entries = scores([1, 2, 6, 9, 10], [5, 1, 1, 1, 1]);
    expect(aggregateScores({ scores: entries, aggregation: 'weighted-mean', trim: 0.2 })).toBeCloseTo(32 / 9);
    expect(aggregateScores({ scores: entries, aggregation: 'median', trim: 0.2 })).toBe(6);
    expect(aggregateScores({ scores: entries, aggregation: 'trimmed-mean', trim: 0.2 })).toBeCloseTo(17 / 3);
    // length-controlled is the weighted mean per debate; its length regression is applied to the run on export
    expect(aggregateScores({ scores: entries, aggregation: 'length-controlled', trim: 0.2 })).toBeCloseTo(32 / 9);
  });

  test('ranking puts null scores last and breaks ties by mean, median, then input order', () => {
    expect(
      rankCandidates([
        { candidateId: 'none', score: null, mean: null, median: null },
        { candidateId: 'tie-first', score: 7, mean: 7, median: 7 },
        { candidateId: 'best', score: 9, mean: 9, median: 9 },
        { candidateId: 'tie-higher-mean', score: 7, mean: 7.5, median: 7 },
        { candidateId: 'tie-second', score: 7, mean: 7, median: 7 },
      ]),
    ).toEqual(['best', 'tie-higher-mean', 'tie-first', 'tie-second', 'none']);
  });
});

describe('convergence', () => {
  const map = (entries: Record<string, number>) => new Map(Object.entries(entries));

  test('converges when the spread is within tolerance', () => {
    expect(isConverged({ scores: map({ a: 6, b: 7 }), tolerance: 1 })).toBe(true);
    expect(isConverged({ scores: map({ a: 5, b: 7 }), tolerance: 1 })).toBe(false);
  });

  test('converges when no critic changed its score since the previous round', () => {
    expect(isConverged({ scores: map({ a: 2, b: 9 }), previous: map({ a: 2, b: 9 }), tolerance: 1 })).toBe(true);
    expect(isConverged({ scores: map({ a: 3, b: 9 }), previous: map({ a: 2, b: 9 }), tolerance: 1 })).toBe(false);
    expect(isConverged({ scores: map({ a: 2, b: 9 }), previous: map({ a: 2 }), tolerance: 1 })).toBe(false);
  });

  test('a candidate nobody scored has nothing to debate', () => {
    expect(isConverged({ scores: new Map(), tolerance: 0 })).toBe(true);
  });
});
