import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/export/index.js';
import {
  binomialCdf,
  coverageSvg,
  DEFAULT_ESCALATION_THRESHOLDS,
  escalationCurve,
  evalReport,
  type GoldComparison,
  reportMarkdown,
} from '../../src/quality/index.js';
import { assertWellFormedXml } from '../export/xml-check.js';

function comparison(index: number, consensus: GoldComparison['consensus']): GoldComparison {
  return {
    itemId: `item-${index}`,
    preferred: 'a',
    other: 'b',
    preferredFirst: true,
    preferredIsA: index % 2 === 0,
    consensus,
    consensusMargin: consensus === 'agree' ? 1 : consensus === 'disagree' ? -1 : 0,
    critics: {},
    criticMargins: {},
    lengths: { preferred: 10, other: 10 },
  };
}

describe('binomialCdf', () => {
  it('matches exact sums', () => {
    expect(binomialCdf(2, 10, 0.5)).toBeCloseTo(56 / 1024, 12);
    expect(binomialCdf(0, 5, 0.1)).toBeCloseTo(0.9 ** 5, 12);
    expect(binomialCdf(10, 10, 0.3)).toBe(1);
    expect(binomialCdf(-1, 10, 0.3)).toBe(0);
    // Large n stays finite and monotone.
    const a = binomialCdf(90, 1000, 0.1);
    const b = binomialCdf(110, 1000, 0.1);
    expect(a).toBeGreaterThan(0);
    expect(a).toBeLessThan(b);
    expect(b).toBeLessThan(1);
  });
});

describe('escalationCurve', () => {
  it('keeps pairs at or above each threshold (and those without a probability) and measures agreement on them', () => {
    // Four unanimous pairs the panel gets right, two 2/3 pairs (one right, one wrong), two even splits (both wrong),
    // one pair without a probability (right) and one abstention at 1.
    const comparisons = [
      ...[0, 1, 2, 3].map((index) => comparison(index, 'agree')),
      comparison(4, 'agree'),
      comparison(5, 'disagree'),
      comparison(6, 'disagree'),
      comparison(7, 'tie'),
      comparison(8, 'agree'),
      comparison(9, 'abstain'),
    ];
    const probabilities = new Map<string, number>([
      ...[0, 1, 2, 3, 9].map((index) => [`item-${index}`, 1] as const),
      ['item-4', 0.667],
      ['item-5', 0.667],
      ['item-6', 0.5],
      ['item-7', 0.5],
    ]);
    const curve = escalationCurve({ comparisons, probabilities, seed: 't', resamples: 100 });
    expect(curve.points.map((point) => point.threshold)).toEqual([...DEFAULT_ESCALATION_THRESHOLDS]);
    expect(curve.withoutProbability).toBe(1);
    const at = (threshold: number) => curve.points.find((point) => point.threshold === threshold);
    // 0.5: everything kept; decided 9, right 6 (the tie is a miss).
    expect(at(0.5)).toMatchObject({ kept: 10, coverage: 1, escalated: 0, agreement: { value: 0.6667, n: 9 } });
    // 0.65: the even splits escalate.
    expect(at(0.65)).toMatchObject({ kept: 8, coverage: 0.8, escalated: 0.2, agreement: { value: 0.8571, n: 7 } });
    // 0.7 .. 1: only the unanimous pairs, the unknown one and the abstention.
    expect(at(1)).toMatchObject({ kept: 6, coverage: 0.6, escalated: 0.4, agreement: { value: 1, n: 5 } });
    const interval = at(0.5)?.agreement;
    expect(interval?.low).toBeLessThanOrEqual(interval?.value ?? 0);
    expect(interval?.high).toBeGreaterThanOrEqual(interval?.value ?? 1);
  });

  /** Critics that are calibrated: a pair with consensus probability p is right with probability p. */
  function calibratedPanel(seed: string, n: number) {
    const random = seededRandom(seed);
    const levels = [0.5, 2 / 3, 5 / 6, 1];
    const comparisons: GoldComparison[] = [];
    const probabilities = new Map<string, number>();
    for (let index = 0; index < n; index++) {
      const p = levels[Math.floor(random() * levels.length)] as number;
      comparisons.push(comparison(index, random() < p ? 'agree' : 'disagree'));
      probabilities.set(`item-${index}`, Math.round(p * 1000) / 1000);
    }
    return { comparisons, probabilities };
  }

  it('--target-agreement picks the least escalation certified on calibration and reports the held-out split', () => {
    const { comparisons, probabilities } = calibratedPanel('target', 600);
    const curve = escalationCurve({
      comparisons,
      probabilities,
      seed: 's',
      resamples: 50,
      target: { agreement: 0.85, heldOut: 0.3 },
    });
    const target = curve.target;
    if (!target) throw new Error('no target report');
    expect(target.calibrationPairs + target.heldOutPairs).toBe(600);
    // Tested strictest first; certification is a prefix of the sequence and the choice is its last threshold.
    expect(target.tests.map((test) => test.threshold)).toEqual([...DEFAULT_ESCALATION_THRESHOLDS].reverse());
    const certified = target.tests.filter((test) => test.certified);
    expect(target.tests.slice(0, certified.length).every((test) => test.certified)).toBe(true);
    expect(target.threshold).toBe(certified.at(-1)?.threshold);
    // True agreement is 0.917 for thresholds in (2/3, 5/6] and 0.833 below: the choice must keep the 5/6 pairs only.
    expect(target.threshold).toBeGreaterThan(2 / 3);
    expect(target.threshold).toBeLessThanOrEqual(0.85);
    expect(target.heldOut?.kept).toBeGreaterThan(0);
    expect(target.heldOutReached).toBe((target.heldOut?.agreement.value ?? 0) >= 0.85);
  });

  it('the chosen threshold misses the target in at most about delta of calibration draws', () => {
    // True agreement above a threshold t: mean of p over the levels >= t.
    const levels = [0.5, 2 / 3, 5 / 6, 1];
    const trueAgreement = (threshold: number) => {
      const kept = levels.filter((p) => Math.round(p * 1000) / 1000 >= threshold);
      return kept.reduce((sum, p) => sum + p, 0) / kept.length;
    };
    const goal = 0.85;
    let violations = 0;
    const draws = 120;
    for (let draw = 0; draw < draws; draw++) {
      const { comparisons, probabilities } = calibratedPanel(`draw-${draw}`, 120);
      const target = escalationCurve({
        comparisons,
        probabilities,
        seed: `${draw}`,
        resamples: 1,
        target: { agreement: goal, heldOut: 0.01, delta: 0.1 },
      }).target;
      if (target?.threshold !== null && target?.threshold !== undefined && trueAgreement(target.threshold) < goal) violations++;
    }
    // Fixed-sequence testing bounds the miss rate by delta = 0.1; allow sampling noise over 120 draws.
    expect(violations / draws).toBeLessThanOrEqual(0.15);
  });

  it('renders a table, the target sentence and a well-formed SVG curve', () => {
    const { comparisons, probabilities } = calibratedPanel('render', 200);
    const report = evalReport({ rows: [], seed: '0', resamples: 20 });
    report.escalation = escalationCurve({
      comparisons,
      probabilities,
      seed: '0',
      resamples: 20,
      target: { agreement: 0.8, heldOut: 0.3 },
    });
    const markdown = reportMarkdown(report, { coverageFile: 'report-coverage.svg' });
    expect(markdown).toContain('## Agreement vs coverage (escalation)');
    expect(markdown).toContain('![Agreement vs share escalated](report-coverage.svg)');
    expect(markdown).toContain('| 0.75 |');
    expect(markdown).toMatch(/Target agreement 80\.0%/);
    const svg = coverageSvg(report);
    assertWellFormedXml(svg);
    expect(svg).toContain('<polyline');
    expect(svg).toContain('target 80.0%');
  });
});
