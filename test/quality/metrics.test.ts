import { describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import {
  calibratedPanelYaml,
  debateDynamics,
  goldAgreement,
  goldComparisons,
  lengthBias,
  lengthControl,
  modelFamily,
  positionConsistency,
} from '../../src/quality/index.js';
import { PANEL } from '../export/label-fixtures.js';

interface Spec {
  id: string;
  text: string;
  score: number | null;
  /** criticId -> score per round */
  critics?: Record<string, Array<number | null>>;
}

function row(id: string, candidates: Spec[], humanPreferred?: string): LabelRow {
  return {
    id,
    prompt: 'p',
    candidates: candidates.map((spec, index) => ({
      id: spec.id,
      text: spec.text,
      score: spec.score,
      rank: index + 1,
      agreement: 0.9,
      mean: spec.score,
      median: spec.score,
      stdev: 0,
      turns: 2,
      failedTurns: 0,
      critics: Object.fromEntries(
        Object.entries(spec.critics ?? {}).map(([critic, scores]) => [
          critic,
          scores.map((score, round) => ({ round, status: score === null ? ('failed' as const) : ('ok' as const), score })),
        ]),
      ),
    })),
    ranking: candidates.map((spec) => spec.id),
    roundsUsed: 1,
    panel: PANEL,
    usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 },
    failedTurns: [],
    ...(humanPreferred ? { meta: { humanPreferred } } : {}),
  } as LabelRow;
}

describe('gold agreement', () => {
  it('counts agree, disagree, tie and abstain for the consensus and each critic', () => {
    const rows = [
      row(
        '1',
        [
          { id: 'chosen', text: 'aaaa', score: 8, critics: { safety: [8], efficiency: [3] } },
          { id: 'rejected', text: 'aa', score: 4, critics: { safety: [2], efficiency: [6] } },
        ],
        'chosen',
      ),
      row(
        '2',
        [
          { id: 'chosen', text: 'a', score: 3, critics: { safety: [5], efficiency: [null] } },
          { id: 'rejected', text: 'aaa', score: 6, critics: { safety: [5], efficiency: [7] } },
        ],
        'chosen',
      ),
      row(
        '3',
        [
          { id: 'chosen', text: 'aa', score: 5, critics: { safety: [9, 7] } },
          { id: 'rejected', text: 'aa', score: 5, critics: { safety: [1, 6] } },
        ],
        'chosen',
      ),
      row(
        '4',
        [
          { id: 'chosen', text: 'aa', score: null },
          { id: 'rejected', text: 'a', score: 2 },
        ],
        'chosen',
      ),
      row('no-gold', [
        { id: 'x', text: 'x', score: 1 },
        { id: 'y', text: 'y', score: 2 },
      ]),
    ];
    const { comparisons, skipped } = goldComparisons({ rows, seed: 's' });
    expect(skipped).toBe(1);
    const agreement = goldAgreement({ comparisons, seed: 's', resamples: 50 });
    expect(agreement.consensus.counts).toEqual({ agree: 1, disagree: 1, tie: 1, abstain: 1 });
    expect(agreement.consensus.accuracy.value).toBeCloseTo(1 / 3);
    expect(agreement.consensus.accuracyTiesHalf).toBeCloseTo(0.5);
    // safety's last scored round: 8>2 agree, 5=5 tie, 7>6 agree, item 4 has no critic turns -> abstain
    expect(agreement.critics.safety?.counts).toEqual({ agree: 2, disagree: 0, tie: 1, abstain: 1 });
    expect(agreement.critics.efficiency?.counts).toEqual({ agree: 0, disagree: 1, tie: 0, abstain: 3 });
    // longer answer: item 1 agree (4 > 2), item 2 disagree, item 3 tie (same length), item 4 agree
    expect(agreement.longerAnswer.counts).toEqual({ agree: 2, disagree: 1, tie: 1, abstain: 0 });
  });
});

describe('length bias and length control', () => {
  it('correlation, slope, longer-answer win rate and the length-controlled scores', () => {
    // scores = 1 + length / 10 exactly: slope 0.1 per char = 100 per 1000 chars
    const rows = [
      row('1', [
        { id: 'a', text: 'x'.repeat(10), score: 2 },
        { id: 'b', text: 'x'.repeat(30), score: 4 },
      ]),
      row('2', [
        { id: 'a', text: 'x'.repeat(20), score: 3 },
        { id: 'b', text: 'x'.repeat(40), score: 5 },
      ]),
    ];
    const bias = lengthBias(rows);
    expect(bias.pearson).toBeCloseTo(1);
    expect(bias.slopePer1000Chars).toBeCloseTo(100);
    expect(bias.longerWins).toEqual({ rate: 1, pairs: 2, ties: 0 });
    const control = lengthControl(rows);
    expect(control.meanLength).toBe(25);
    // every adjusted score is the score at the mean length: 1 + 25 / 10 = 3.5
    for (const scores of control.scores.values()) for (const score of scores.values()) expect(score).toBeCloseTo(3.5);
  });
});

describe('position consistency', () => {
  it('same verdict after swap, and the share of first-shown picks', () => {
    const turn = (criticId: string, candidateId: string, preferred: 'A' | 'B' | 'tie') => ({
      round: 0,
      criticId,
      candidateId,
      judgment: { preferred },
      debateId: 'd1',
    });
    const stats = positionConsistency([
      // fair picks x both times; lover picks A both times (inconsistent); tie-then-pick is inconsistent too
      turn('fair', 'x-vs-y', 'A'),
      turn('fair', 'y-vs-x', 'B'),
      turn('lover', 'x-vs-y', 'A'),
      turn('lover', 'y-vs-x', 'A'),
      turn('lover', 'x-vs-z', 'tie'),
      turn('lover', 'z-vs-x', 'A'),
    ]);
    expect(stats.fair).toEqual({ swappedPairs: 1, consistency: 1, firstShownRate: 0.5, verdicts: 2 });
    expect(stats.lover).toEqual({ swappedPairs: 2, consistency: 0, firstShownRate: 1, verdicts: 4 });
  });
});

describe('debate dynamics', () => {
  it('score changes per round and conformity toward the leave-one-out mean', () => {
    // round 0: a=2, b=6, c=10. a's others' mean = 8 (gap 6), b's = 6 (gap 0), c's = 4 (gap -6).
    // round 1: a=5 (+3), b=6 (0), c=7 (-3): each closed half its gap -> conformity 0.5.
    const rows = [row('1', [{ id: 'x', text: 't', score: 6, critics: { a: [2, 5], b: [6, 6], c: [10, 7] } }])];
    const dynamics = debateDynamics(rows);
    expect(dynamics.overall).toEqual({ turns: 3, changed: 2, meanAbsoluteChange: 2, towardOthers: 1, conformity: 0.5 });
    expect(dynamics.rounds['1']?.a).toMatchObject({ turns: 1, changed: 1, conformity: 0.5 });
    expect(dynamics.rounds['1']?.b).toMatchObject({ changed: 0, conformity: null });
  });
});

describe('self-preference and calibrated panels', () => {
  it('model families', () => {
    expect(modelFamily('openai:gpt-4.1-mini')).toBe('gpt');
    expect(modelFamily('anthropic:claude-sonnet-4-5')).toBe('claude');
    expect(modelFamily('meta-llama/Llama-3-8B')).toBe('llama');
  });

  it('writes weights into a panel file, keeping its comments and other fields', () => {
    const text = calibratedPanelYaml({
      panelText: '# a panel\nid: mine\npersonas:\n  - safety\n  - persona: efficiency\n    weight: 2\nmaxRounds: 1\n',
      personaOrder: ['safety', 'efficiency'],
      weights: { safety: 1.5, efficiency: 0.5 },
      note: 'calibrated',
    });
    expect(text).toContain('# a panel');
    expect(text).toContain('id: mine-calibrated');
    expect(text).toContain('- persona: safety\n    weight: 1.5');
    expect(text).toContain('- persona: efficiency\n    weight: 0.5');
    expect(text).toContain('maxRounds: 1');
  });
});
