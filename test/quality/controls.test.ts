import { describe, expect, it } from 'vitest';
import { DebateEventSchema, LabelRowSchema } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { labelRowFromEvents } from '../../src/export/index.js';
import { assessment, callKind, eventLog, fakeModels, judgment, ofType } from '../engine/helpers.js';
import { makeCritic, makePanel } from '../fakes/panel.js';

const PRINCIPLE_LINE = /judge by this one principle of the constitution and cite it: \[(\w+)\]/;

describe('one sampled principle per comparison', () => {
  it('names one principle per critic and subject, the same in every round and in both orders of a pair', async () => {
    const { models, calls } = fakeModels((call) => (callKind(call) === 'pairwise' ? judgment('A') : assessment(6)));
    const picked = new Map<string, Set<string>>();
    for (let item = 0; item < 12; item++) {
      await runDebate({
        panel: makePanel({ samplePrinciple: true, maxRounds: 1, tolerance: 0 }),
        input: {
          prompt: `Question ${item}`,
          candidates: [
            { id: 'x', text: `First answer ${item}` },
            { id: 'y', text: `Second answer ${item}` },
          ],
        },
        models,
        defaultModel: 'fake:critic',
      });
    }
    for (const call of calls) {
      const match = PRINCIPLE_LINE.exec(call.user);
      expect(match, call.user).not.toBeNull();
      const key = `${call.turn?.criticId}|${call.user.match(/Question \d+/)?.[0]}|${call.turn?.candidateId}`;
      const set = picked.get(key) ?? new Set<string>();
      set.add(match?.[1] ?? '');
      picked.set(key, set);
    }
    // one principle per critic x item x candidate across rounds; all three principles get used over the items
    expect([...picked.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set([...picked.values()].flatMap((set) => [...set])).size).toBe(3);

    const pairwise = fakeModels((call) => (callKind(call) === 'pairwise' ? judgment('A') : assessment(6)));
    await runDebate({
      panel: makePanel({ samplePrinciple: true, mode: 'pairwise', maxRounds: 0, critics: [makeCritic({ id: 'solo' })] }),
      input: {
        prompt: 'p',
        candidates: [
          { id: 'x', text: 'one' },
          { id: 'y', text: 'two' },
        ],
      },
      models: pairwise.models,
      defaultModel: 'fake:critic',
    });
    const orders = pairwise.calls.map((call) => PRINCIPLE_LINE.exec(call.user)?.[1]);
    expect(orders).toHaveLength(2);
    expect(orders[0]).toBe(orders[1]);
  });

  it('records the principle each turn was judged by on the turn, its turn-end event and the label row', async () => {
    const { models, calls } = fakeModels((call) => assessment(call.turn?.criticId === 'a' ? 2 : 9));
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ samplePrinciple: true, maxRounds: 1, tolerance: 0 }),
      input: {
        id: 'item-1',
        prompt: 'p',
        candidates: [
          { id: 'x', text: 'one' },
          { id: 'y', text: 'two' },
        ],
      },
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    const told = new Map(
      calls.map((call) => [
        `${call.turn?.round}/${call.turn?.criticId}/${call.turn?.candidateId}`,
        PRINCIPLE_LINE.exec(call.user)?.[1],
      ]),
    );
    expect(result.turns).toHaveLength(12);
    for (const turn of result.turns) expect(turn.principle).toBe(told.get(turn.turnId));
    const turnEnds = ofType(log.events, 'turn-end');
    for (const event of turnEnds) {
      expect(event.principle).toBe(told.get(event.turnId));
      expect(DebateEventSchema.safeParse(event).success).toBe(true);
    }
    const label = labelRowFromEvents({ events: log.events });
    if (!label.success) throw label.error;
    expect(LabelRowSchema.safeParse(label.value).success).toBe(true);
    const xByA = label.value.candidates.find((candidate) => candidate.id === 'x')?.critics.a ?? [];
    expect(xByA.map((turn) => turn.principle)).toEqual([told.get('0/a/x'), told.get('1/a/x')]);
    expect(xByA[0]?.principle).toMatch(/^(harmless|honest|concise)$/);
  });

  it('says nothing about a single principle when the panel does not sample', async () => {
    const { models, calls } = fakeModels(() => assessment(6));
    const result = await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input: { prompt: 'p', candidates: [{ id: 'x', text: 'one' }] },
      models,
      defaultModel: 'fake:critic',
    });
    expect(calls.every((call) => !PRINCIPLE_LINE.test(call.user))).toBe(true);
    expect(result.turns.every((turn) => turn.principle === undefined)).toBe(true);
  });
});
