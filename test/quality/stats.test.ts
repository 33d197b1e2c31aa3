import { describe, expect, it } from 'vitest';
import { bootstrap, cohensKappa, krippendorffAlpha, mean, pearson, spearman } from '../../src/quality/index.js';

describe('quality statistics', () => {
  it('Pearson and Spearman match hand-computed values', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1);
    // x = 1..4, y = 1,3,2,4: cov = 4, var = 5 and 5 -> 0.8
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull();
    // ranks of y = 1,3,2,4 -> same as pearson on ranks; monotone non-linear y gives 1
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).toBeCloseTo(1);
    expect(spearman([1, 2, 3, 4], [10, 30, 20, 40])).toBeCloseTo(0.8);
  });

  it("Cohen's κ: (p_o - p_e) / (1 - p_e)", () => {
    // 10 items: a = A A A A A B B B B B, b = A A A A B B B B B A -> p_o = 0.8, p_e = 0.5 -> 0.6
    const a = ['A', 'A', 'A', 'A', 'A', 'B', 'B', 'B', 'B', 'B'];
    const b = ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B', 'B', 'A'];
    expect(cohensKappa(a, b)).toBeCloseTo(0.6);
    expect(cohensKappa(a, a)).toBeCloseTo(1);
    // a third category (tie) for one rater: p_o = 0.25, p_e = 0.5*0.5 + 0.25*0.5 = 0.375 -> -0.2
    expect(cohensKappa(['A', 'B', 'tie', 'A'], ['A', 'A', 'B', 'B'])).toBeCloseTo(-0.2);
    expect(cohensKappa([], [])).toBeNull();
  });

  it("Krippendorff's α (interval) matches a hand computation", () => {
    // values 1,1,3,3,5,4: D_e = 2 * SS / (n - 1) = 2 * 12.8333 / 5 = 5.1333; D_o = 2 / 6 -> α = 1 - 0.3333 / 5.1333
    expect(
      krippendorffAlpha([
        [1, 1],
        [3, 3],
        [5, 4],
      ]),
    ).toBeCloseTo(1 - 1 / 3 / 5.13333, 4);
    expect(
      krippendorffAlpha([
        [2, 2],
        [7, 7],
      ]),
    ).toBeCloseTo(1);
    // a unit with one rating is not pairable and is ignored
    expect(krippendorffAlpha([[1, 1], [3, 3], [5, 4], [9]])).toBeCloseTo(1 - 1 / 3 / 5.13333, 4);
    expect(krippendorffAlpha([[4, 4]])).toBeNull();
  });

  it('bootstrap intervals are seeded and contain the estimate', () => {
    const data = Array.from({ length: 200 }, (_, index) => (index % 4 === 0 ? 0 : 1));
    const first = bootstrap({ data, statistic: mean, seed: 's' });
    const second = bootstrap({ data, statistic: mean, seed: 's' });
    expect(first).toEqual(second);
    expect(first.value).toBeCloseTo(0.75);
    expect(first.low).toBeLessThan(0.75);
    expect(first.high).toBeGreaterThan(0.75);
    // standard error sqrt(.75 * .25 / 200) = 0.0306 -> half-width about 0.06
    expect((first.high ?? 0) - (first.low ?? 0)).toBeGreaterThan(0.09);
    expect((first.high ?? 0) - (first.low ?? 0)).toBeLessThan(0.15);
    expect(bootstrap({ data: [], statistic: mean, seed: 's' })).toEqual({ value: null, low: null, high: null, n: 0 });
  });
});
