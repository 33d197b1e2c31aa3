import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/export/index.js';
import {
  evalReport,
  fitCalibration,
  type GoldComparison,
  goldAgreement,
  lengthBaselines,
  lengthPreference,
  reportMarkdown,
} from '../../src/quality/index.js';

/** A gold pair: the human preferred an answer of `preferred` characters over one of `other`; the consensus `consensus`. */
function comparison(
  index: number,
  lengths: { preferred: number; other: number },
  consensus: GoldComparison['consensus'],
): GoldComparison {
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
    lengths,
  };
}

/** HH-harmless-like: the human-chosen answer is the longer one in 43 of 100 pairs; the judge always picks the longer. */
function pureLengthJudge(): GoldComparison[] {
  return Array.from({ length: 100 }, (_, index) => {
    const humanLonger = index < 43;
    const lengths = humanLonger ? { preferred: 200, other: 100 } : { preferred: 100, other: 200 };
    return comparison(index, lengths, humanLonger ? 'agree' : 'disagree');
  });
}

describe('length baselines in tribunal eval', () => {
  it('measure a panel against the better of longer-wins and shorter-wins, and expose a pure length judge', () => {
    const comparisons = pureLengthJudge();
    const agreement = goldAgreement({ comparisons, seed: 's', resamples: 20 });
    expect(agreement.longerAnswer.accuracy.value).toBeCloseTo(0.43, 12);
    expect(agreement.shorterAnswer.accuracy.value).toBeCloseTo(0.57, 12);
    // the judge "beats" the longer-answer baseline by 0 points but is 14 points below the shorter-answer one
    expect(lengthBaselines(agreement)).toEqual({ longer: 0.43, shorter: 0.57, better: 'shorter', consensusMargin: -0.14 });
    // on the same pairs: the panel picks the longer answer every time, the humans 43% of the time
    expect(lengthPreference(comparisons)).toEqual({ pairs: 100, panelLongerRate: 1, humanLongerRate: 0.43 });
  });

  it('leave out same-length pairs and pairs the consensus did not decide', () => {
    const comparisons = [
      comparison(0, { preferred: 5, other: 5 }, 'agree'),
      comparison(1, { preferred: 9, other: 3 }, 'tie'),
      comparison(2, { preferred: 9, other: 3 }, 'abstain'),
      comparison(3, { preferred: 3, other: 9 }, 'agree'),
    ];
    expect(lengthPreference(comparisons)).toEqual({ pairs: 1, panelLongerRate: 0, humanLongerRate: 0 });
  });

  it('are in the readable report', () => {
    const report = evalReport({ rows: [], seed: 'x', resamples: 10 });
    const text = reportMarkdown({
      ...report,
      lengthBaselines: { longer: 0.43, shorter: 0.57, better: 'shorter', consensusMargin: -0.14 },
      lengthPreference: { pairs: 100, panelLongerRate: 1, humanLongerRate: 0.43 },
    });
    expect(text).toContain('| shorter answer wins |');
    expect(text).toContain(
      'Length baselines: always picking the longer answer scores 43.0%, the shorter 57.0%; the consensus is 14.0 points ' +
        'below the better of the two (shorter).',
    );
    expect(text).toContain(
      '- Length-dependence on the gold pairs: the panel preferred the longer answer in 100.0% of 100 decided pairs of ' +
        'unequal length, the humans in 43.0% of the same pairs (+57.0 points; a pure length judge would show 100%).',
    );
  });
});

describe('calibration', () => {
  it('penalises on a standardised scale: the L2 fit keeps the unpenalised weights and their ratio', () => {
    // two critics on a 1–10 scale: "wide" differences spread over ±9, "narrow" over ±1; the human follows
    // logit = 0.25 · wide + 1.5 · narrow (in score points)
    const random = seededRandom('calibration');
    const comparisons = Array.from({ length: 400 }, (_, index) => {
      const wide = (random() * 2 - 1) * 9;
      const narrow = random() * 2 - 1;
      const humanPrefersA = random() < 1 / (1 + Math.exp(-(0.25 * wide + 1.5 * narrow)));
      // margins are preferred − other; A's margins are (wide, narrow)
      const sign = humanPrefersA ? 1 : -1;
      return {
        ...comparison(index, { preferred: 1, other: 1 }, 'agree'),
        preferredIsA: humanPrefersA,
        criticMargins: { wide: sign * wide, narrow: sign * narrow },
      };
    });
    const fit = fitCalibration({ comparisons, criticIds: ['wide', 'narrow'], scaleRange: 9 });
    const { wide, narrow } = fit.coefficients;
    const free = fit.unpenalizedCoefficients;
    expect(fit.l2).toBe(0.01);
    for (const id of ['wide', 'narrow'] as const) {
      expect(Math.abs((fit.coefficients[id] ?? 0) / (free[id] ?? 1) - 1), id).toBeLessThan(0.15);
    }
    expect(Math.abs((wide ?? 0) / (narrow ?? 1) / ((free.wide ?? 0) / (free.narrow ?? 1)) - 1)).toBeLessThan(0.1);
    // in score points the fit recovers the generating coefficients (scaleRange 9 scales them by 9)
    expect((wide ?? 0) / 9).toBeGreaterThan(0.15);
    expect((narrow ?? 0) / 9).toBeGreaterThan(0.9);
  });
});
