import { describe, expect, it } from 'vitest';
import { type BinarizeResult, binarize, seededRandom } from '../../src/export/index.js';
import { labelRow } from './label-fixtures.js';

const ids = (result: BinarizeResult) => result.pairs.map((pair) => `${pair.chosen.id}>${pair.rejected.id}`);

describe('binarize: best-vs-worst', () => {
  it('pairs the top score against the lowest, with margin = score difference and confidence = lower agreement', () => {
    const row = labelRow({
      candidates: [{ score: 7, agreement: 0.8 }, { score: 9, agreement: 0.95 }, { score: 3, agreement: 0.6 }, 5],
    });
    const result = binarize({ row, strategy: 'best-vs-worst' });
    expect(ids(result)).toEqual(['c2>c3']);
    expect(result.pairs[0]).toMatchObject({ margin: 6, confidence: 0.6 });
    expect(result.filtered).toEqual({ margin: 0, agreement: 0, flagged: 0 });
    expect(result.unpairable).toBeUndefined();
  });

  it('breaks a tie at the top by the verdict rank, and never pairs the tied best candidates', () => {
    const row = labelRow({ candidates: [9, 9, 3] });
    expect(ids(binarize({ row, strategy: 'best-vs-worst' }))).toEqual(['c1>c3']);
    expect(ids(binarize({ row, strategy: 'all-pairs' }))).toEqual(['c1>c3', 'c2>c3']);
  });
});

describe('binarize: ties and missing scores', () => {
  it.each(['best-vs-worst', 'best-vs-random-lower', 'all-pairs'] as const)(
    '%s makes no pair from all-tied candidates',
    (strategy) => {
      expect(binarize({ row: labelRow({ candidates: [5, 5, 5] }), strategy })).toEqual({
        pairs: [],
        filtered: { margin: 0, agreement: 0, flagged: 0 },
        unpairable: 'all-tied',
      });
      // Consensus scores are means: float noise is a tie too.
      expect(binarize({ row: labelRow({ candidates: [0.1 + 0.2, 0.3] }), strategy }).unpairable).toBe('all-tied');
    },
  );

  it.each(['best-vs-worst', 'best-vs-random-lower', 'all-pairs'] as const)(
    '%s never pairs a candidate without a score',
    (strategy) => {
      const row = labelRow({ candidates: [null, 8, null, 2] });
      expect(ids(binarize({ row, strategy }))).toEqual(['c2>c4']);
      expect(binarize({ row: labelRow({ candidates: [null, 5] }), strategy }).unpairable).toBe('too-few-scored');
      expect(binarize({ row: labelRow({ candidates: [null, null] }), strategy }).unpairable).toBe('too-few-scored');
    },
  );
});

describe('binarize: all-pairs and filters', () => {
  it('makes every pair with differing scores, best first', () => {
    const result = binarize({ row: labelRow({ candidates: [4, 3, 2, 1] }), strategy: 'all-pairs' });
    expect(ids(result)).toEqual(['c1>c2', 'c1>c3', 'c1>c4', 'c2>c3', 'c2>c4', 'c3>c4']);
    expect(result.pairs.every((pair) => pair.margin > 0 && pair.chosen.score > pair.rejected.score)).toBe(true);
  });

  it('minMargin keeps pairs whose margin is at least the bound and counts the rest', () => {
    const result = binarize({ row: labelRow({ candidates: [4, 3, 2, 1] }), strategy: 'all-pairs', minMargin: 2 });
    expect(ids(result)).toEqual(['c1>c3', 'c1>c4', 'c2>c4']);
    expect(result.filtered).toEqual({ margin: 3, agreement: 0, flagged: 0 });
    expect(binarize({ row: labelRow({ candidates: [9, 3] }), strategy: 'best-vs-worst', minMargin: 6.5 })).toMatchObject({
      pairs: [],
      filtered: { margin: 1 },
    });
  });

  it('minAgreement drops pairs whose less agreed candidate is below it, and unknown agreement when it is set', () => {
    const row = labelRow({
      candidates: [
        { score: 9, agreement: 0.9 },
        { score: 6, agreement: 0.5 },
        { score: 3, agreement: null },
      ],
    });
    expect(ids(binarize({ row, strategy: 'all-pairs' }))).toEqual(['c1>c2', 'c1>c3', 'c2>c3']);
    expect(binarize({ row, strategy: 'all-pairs' }).pairs.map((pair) => pair.confidence)).toEqual([0.5, null, null]);
    const strict = binarize({ row, strategy: 'all-pairs', minAgreement: 0.6 });
    expect(ids(strict)).toEqual([]);
    expect(strict.filtered).toEqual({ margin: 0, agreement: 3, flagged: 0 });
    expect(ids(binarize({ row, strategy: 'all-pairs', minAgreement: 0.5 }))).toEqual(['c1>c2']);
  });
});

describe('binarize: best-vs-random-lower', () => {
  const rows = Array.from({ length: 200 }, (_, index) => labelRow({ id: `item-${index}`, candidates: [9, 9, 6, 4, 2] }));
  const picks = (seed: number | string) =>
    rows.map((row) => binarize({ row, strategy: 'best-vs-random-lower', seed }).pairs[0]?.rejected.id);

  it('always pairs the best against a strictly lower candidate, never its tie', () => {
    const all = picks(1);
    expect(all.every((id) => id === 'c3' || id === 'c4' || id === 'c5')).toBe(true);
    expect(new Set(all)).toEqual(new Set(['c3', 'c4', 'c5']));
    for (const row of rows.slice(0, 20))
      expect(binarize({ row, strategy: 'best-vs-random-lower', seed: 1 }).pairs[0]?.chosen.id).toBe('c1');
  });

  it('is reproducible for a seed, independent of item order, and changes with the seed', () => {
    expect(picks(42)).toEqual(picks(42));
    const reversed = [...rows]
      .reverse()
      .map((row) => binarize({ row, strategy: 'best-vs-random-lower', seed: 42 }).pairs[0]?.rejected.id);
    expect(reversed.reverse()).toEqual(picks(42));
    expect(picks(43)).not.toEqual(picks(42));
    expect(picks('42')).toEqual(picks(42));
  });

  it('seededRandom gives the same sequence in [0, 1) for the same seed', () => {
    const a = seededRandom('seed');
    const b = seededRandom('seed');
    const values = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(values);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    expect(Math.abs(values.reduce((sum, value) => sum + value, 0) / values.length - 0.5)).toBeLessThan(0.05);
  });
});
