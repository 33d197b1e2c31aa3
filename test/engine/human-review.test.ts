import { describe, expect, test } from 'vitest';
import type { DebateResult } from '../../src/contracts/index.js';
import { consensusProbabilityOf } from '../../src/engine/human-review.js';
import { makeCritic, makePanel } from '../fakes/panel.js';

/** A result whose verdict ranks `ranking` with each critic's scores per round. */
function resultOf(ranking: string[], perCritic: Record<string, Record<string, (number | null)[]>>): DebateResult {
  return {
    runId: 'r',
    debateId: 'd',
    protocol: 'simultaneous',
    verdict: {
      aggregation: 'weighted-mean',
      roundsUsed: 0,
      ranking,
      candidates: ranking.map((candidateId, index) => ({
        candidateId,
        score: 5,
        rank: index + 1,
        mean: 5,
        median: 5,
        stdev: 0,
        spread: 0,
        agreement: 1,
        turns: 1,
        failedTurns: 0,
        perCritic: perCritic[candidateId] ?? {},
      })),
    },
    turns: [],
    usage: { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 },
    failedTurns: 0,
  };
}

describe('consensusProbabilityOf', () => {
  const panel = makePanel({
    critics: [makeCritic({ id: 'a', weight: 2 }), makeCritic({ id: 'b' }), makeCritic({ id: 'c' })],
  });

  test('is the weighted share of critics whose last scored round puts the winner first, ties counting half', () => {
    const result = resultOf(['x', 'y'], {
      // a: 8 > 3 (weight 2); b: last scored 4 < 6 (its null round is skipped); c: 5 = 5 (half).
      x: { a: [8], b: [9, 4, null], c: [5] },
      y: { a: [3], b: [1, 6, 2], c: [5] },
    });
    // b's last scores are 4 (x) and 2 (y): b prefers x too. (2 + 1 + 0.5) / 4.
    expect(consensusProbabilityOf({ result, panel })).toBe(0.875);
  });

  test('leaves out critics without a score for both, and is undefined without a pair or any such critic', () => {
    const split = resultOf(['x', 'y'], { x: { a: [null], b: [7], c: [2] }, y: { a: [9], b: [3], c: [8] } });
    expect(consensusProbabilityOf({ result: split, panel })).toBe(0.5);
    expect(consensusProbabilityOf({ result: resultOf(['x'], { x: { a: [5] } }), panel })).toBeUndefined();
    expect(consensusProbabilityOf({ result: resultOf(['x', 'y'], { x: { a: [5] }, y: { b: [5] } }), panel })).toBeUndefined();
  });
});
