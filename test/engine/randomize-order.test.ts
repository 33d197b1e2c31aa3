import { describe, expect, test } from 'vitest';
import type { DebateInput } from '../../src/contracts/index.js';
import { createDebateSetup, runDebate, subjectsFor } from '../../src/engine/index.js';
import { seededShuffle } from '../../src/engine/seeded-order.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { assessment, eventLog, expectValidStream, fakeModels, judgment } from './helpers.js';

const two: DebateInput = {
  id: 'item-1',
  prompt: 'Name a prime number.',
  candidates: [
    { id: 'x', text: 'Seven.' },
    { id: 'y', text: 'Nine.' },
  ],
};

function setupOf(options: { randomizeOrder?: boolean; itemId?: string; candidates?: number }) {
  const candidates = Array.from({ length: options.candidates ?? 2 }, (_, index) => ({
    id: `c${index}`,
    text: `answer ${index}`,
  }));
  return createDebateSetup({
    panel: makePanel({
      mode: 'pairwise',
      ...(options.randomizeOrder === undefined ? {} : { randomizeOrder: options.randomizeOrder }),
    }),
    input: { prompt: 'p', candidates },
    defaultModel: 'fake:critic',
    itemId: options.itemId ?? 'item-1',
    debateId: 'debate-1',
  });
}

describe('randomizeOrder', () => {
  test('each critic judges each pair once, in the same seeded order on every setup', () => {
    const critic = makeCritic({ id: 'a' });
    const first = subjectsFor({ setup: setupOf({ randomizeOrder: true, candidates: 4 }), critic });
    const again = subjectsFor({ setup: setupOf({ randomizeOrder: true, candidates: 4 }), critic });
    expect(first).toHaveLength(6);
    expect(again.map((subject) => subject.id)).toEqual(first.map((subject) => subject.id));
    const pairs = first.map((subject) => [...(subject.pair ?? [])].sort().join('|'));
    expect(new Set(pairs).size).toBe(6);
    expect(subjectsFor({ setup: setupOf({ candidates: 4 }), critic })).toHaveLength(12);
  });

  test('the first candidate is shown as A about half the time across many pairs', () => {
    const critic = makeCritic({ id: 'a' });
    let firstAsA = 0;
    for (let item = 0; item < 200; item++) {
      const [subject] = subjectsFor({ setup: setupOf({ randomizeOrder: true, itemId: `item-${item}` }), critic });
      if (subject?.pair?.[0] === 'c0') firstAsA++;
    }
    expect(firstAsA).toBeGreaterThanOrEqual(80);
    expect(firstAsA).toBeLessThanOrEqual(120);
  });

  test('an input without an id draws from its content: the same order on every debate id, another for other content', () => {
    const critic = makeCritic({ id: 'a' });
    const panel = makePanel({ mode: 'pairwise', randomizeOrder: true });
    const order = (debateId: string, text = 'answer') =>
      subjectsFor({
        setup: createDebateSetup({
          panel,
          input: {
            prompt: 'p',
            candidates: Array.from({ length: 6 }, (_, index) => ({ id: `c${index}`, text: `${text} ${index}` })),
          },
          defaultModel: 'fake:critic',
          debateId,
        }),
        critic,
      }).map((subject) => subject.id);
    const first = order('debate-1');
    expect(order('debate-2')).toEqual(first);
    expect(order('debate-3')).toEqual(first);
    const others = new Set(Array.from({ length: 8 }, (_, index) => order('debate-1', `other ${index}`).join(',')));
    expect(others.size).toBeGreaterThan(1);
  });

  test('seeded shuffles are deterministic and vary with the key', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    expect(seededShuffle(items, 'k')).toEqual(seededShuffle(items, 'k'));
    expect([...seededShuffle(items, 'k')].sort()).toEqual(items);
    const orders = new Set(Array.from({ length: 50 }, (_, index) => seededShuffle(items, `k${index}`).join('')));
    expect(orders.size).toBeGreaterThan(10);
  });

  test('halves the pairwise calls and reports no inconsistencies', async () => {
    const callsOf = async (randomizeOrder: boolean) => {
      const { models, calls } = fakeModels(() => judgment('A'));
      const log = eventLog();
      const result = await runDebate({
        panel: makePanel({ mode: 'pairwise', maxRounds: 0, randomizeOrder }),
        input: two,
        models,
        defaultModel: 'fake:critic',
        onEvent: log.onEvent,
      });
      expectValidStream(log.events);
      return { calls: calls.length, result };
    };
    const both = await callsOf(false);
    const once = await callsOf(true);
    expect(both.calls).toBe(6);
    expect(once.calls).toBe(3);
    expect(both.result.verdict.inconsistent).toHaveLength(3);
    expect(once.result.verdict.inconsistent).toEqual([]);
    const wins = once.result.verdict.candidates.reduce((sum, candidate) => sum + (candidate.wins ?? 0), 0);
    expect(wins).toBe(3);
  });

  test("debate rounds show the other critics' turns in a seeded order, the same on every run", async () => {
    const critics = ['a', 'b', 'c', 'd', 'e'].map((id) => makeCritic({ id }));
    const orderSeen = async (randomizeOrder: boolean) => {
      const { models, calls } = fakeModels((call) =>
        assessment(call.turn?.criticId === 'a' ? 2 : 9, { rationale: `${call.turn?.criticId} speaks` }),
      );
      await runDebate({
        panel: makePanel({ critics, maxRounds: 1, tolerance: 0, randomizeOrder }),
        input: { id: 'item-1', prompt: 'p', candidates: [{ id: 'x', text: 'answer' }] },
        models,
        defaultModel: 'fake:critic',
      });
      const debate = calls.find((call) => call.turn?.round === 1 && call.turn.criticId === 'a');
      const user = debate?.user ?? '';
      const others = user.slice(user.indexOf('OTHER CRITICS'));
      return ['b', 'c', 'd', 'e'].sort((left, right) => others.indexOf(`${left} speaks`) - others.indexOf(`${right} speaks`));
    };
    expect(await orderSeen(false)).toEqual(['b', 'c', 'd', 'e']);
    const shuffled = await orderSeen(true);
    expect(await orderSeen(true)).toEqual(shuffled);
    const others = critics.filter((critic) => critic.id !== 'a');
    expect(shuffled).toEqual(seededShuffle(others, JSON.stringify(['item-1', 'a', 'x', 1])).map((critic) => critic.id));
    expect(shuffled).not.toEqual(['b', 'c', 'd', 'e']);
  });
});
