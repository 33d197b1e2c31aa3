import { describe, expect, test } from 'vitest';
import type { DebateInput } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { eventLog, expectValidStream, fakeModels, judgment, ofType } from './helpers.js';

const two: DebateInput = {
  prompt: 'Name a prime number.',
  candidates: [
    { id: 'x', text: 'Seven.' },
    { id: 'y', text: 'Nine.' },
  ],
};

/** Which candidate is shown as A and as B in a pairwise call, from the turn's "a-vs-b" id. */
function shown(candidateId: string | undefined): [string, string] {
  const [a = '', b = ''] = (candidateId ?? '').split('-vs-');
  return [a, b];
}

describe('pairwise mode', () => {
  test('compares every pair in both orders; an order flip is recorded as inconsistent and counts as a tie', async () => {
    const { models, calls } = fakeModels((call) => {
      const [a] = shown(call.turn?.candidateId);
      // Critic "fair" always prefers x; critic "biased" always prefers whatever is shown first.
      if (call.turn?.criticId === 'fair') return judgment(a === 'x' ? 'A' : 'B');
      return judgment('A');
    });
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ mode: 'pairwise', maxRounds: 0, critics: [makeCritic({ id: 'fair' }), makeCritic({ id: 'biased' })] }),
      input: two,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    expect(calls.map((call) => `${call.turn?.criticId}:${call.turn?.candidateId}`).sort()).toEqual([
      'biased:x-vs-y',
      'biased:y-vs-x',
      'fair:x-vs-y',
      'fair:y-vs-x',
    ]);
    const turnEnds = ofType(log.events, 'turn-end');
    expect(turnEnds.map((event) => event.candidateId).sort()).toEqual(['x-vs-y', 'x-vs-y', 'y-vs-x', 'y-vs-x']);
    expect(turnEnds.every((event) => event.judgment !== undefined && event.assessment === undefined)).toBe(true);
    expect(calls[0]?.user).toContain('Answer A:');
    expect(calls[0]?.user).toContain('Answer B:');

    const verdict = result.verdict;
    expect(verdict.inconsistent).toEqual([{ criticId: 'biased', pair: ['x', 'y'] }]);
    const [x, y] = verdict.candidates;
    // fair: x wins both orders -> 10 and 1; biased: flip = tie -> 5.5 each.
    expect(x).toMatchObject({ candidateId: 'x', wins: 1, turns: 4, failedTurns: 0 });
    expect(x?.perCritic).toEqual({ fair: [10], biased: [5.5] });
    expect(y?.perCritic).toEqual({ fair: [1], biased: [5.5] });
    expect(x?.score).toBeCloseTo(7.75);
    expect(y?.score).toBeCloseTo(3.25);
    expect(y?.wins).toBe(0);
    expect(verdict.ranking).toEqual(['x', 'y']);
  });

  test('win points over all opponents are normalised onto the scale', async () => {
    const quality: Record<string, number> = { low: 1, mid: 2, high: 3 };
    const { models } = fakeModels((call) => {
      const [a, b] = shown(call.turn?.candidateId);
      const difference = (quality[a] ?? 0) - (quality[b] ?? 0);
      return judgment(difference > 0 ? 'A' : difference < 0 ? 'B' : 'tie');
    });
    const result = await runDebate({
      panel: makePanel({ mode: 'pairwise', maxRounds: 0, scale: { min: 0, max: 4 }, critics: [makeCritic({ id: 'solo' })] }),
      input: {
        prompt: 'p',
        candidates: [
          { id: 'low', text: 'l' },
          { id: 'mid', text: 'm' },
          { id: 'high', text: 'h' },
        ],
      },
      models,
      defaultModel: 'fake:critic',
    });
    expect(result.verdict.ranking).toEqual(['high', 'mid', 'low']);
    expect(Object.fromEntries(result.verdict.candidates.map((candidate) => [candidate.candidateId, candidate.score]))).toEqual({
      low: 0,
      mid: 2,
      high: 4,
    });
    expect(result.verdict.inconsistent).toEqual([]);
    expect(result.turns).toHaveLength(6);
  });

  test('pairwise debate rounds show the other critics’ judgments and converge', async () => {
    const { models, calls } = fakeModels((call) => {
      const turn = call.turn;
      const [a] = shown(turn?.candidateId);
      const prefersX = turn?.criticId === 'one' || (turn?.round ?? 0) > 0;
      return judgment(prefersX === (a === 'x') ? 'A' : 'B', `${turn?.criticId}-R${turn?.round}`);
    });
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({
        mode: 'pairwise',
        maxRounds: 2,
        tolerance: 0,
        critics: [makeCritic({ id: 'one' }), makeCritic({ id: 'two' })],
      }),
      input: two,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    expect(ofType(log.events, 'round-end').map((event) => [event.round, event.converged])).toEqual([
      [0, false],
      [1, true],
    ]);
    const debateCall = calls.find((call) => call.turn?.round === 1 && call.turn.criticId === 'two');
    expect(debateCall?.user).toContain('one-R0');
    expect(debateCall?.user).toMatch(/preferred (A|B)/);
    expect(result.verdict.ranking).toEqual(['x', 'y']);
    expect(result.verdict.candidates[0]?.score).toBe(10);
  });

  test('pairwise mode needs two candidates', async () => {
    const { models } = fakeModels(() => judgment('A'));
    await expect(
      runDebate({
        panel: makePanel({ mode: 'pairwise' }),
        input: { prompt: 'p', candidates: [{ id: 'x', text: 'only' }] },
        models,
        defaultModel: 'fake:critic',
      }),
    ).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});
