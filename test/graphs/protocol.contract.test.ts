import { describe, expect, test } from 'vitest';
import { graphFor, PROTOCOL_GRAPHS } from '../../graphs/index.js';
import { graph as juryGraph } from '../../graphs/jury.js';
import { graph as oneByOneGraph } from '../../graphs/one-by-one.js';
import { graph as simultaneousGraph } from '../../graphs/simultaneous.js';
import { type DebateEvent, type DebateInput, DebateResultSchema, PROTOCOLS, type Protocol } from '../../src/contracts/index.js';
import { createDebateSetup, type DebateDriver, runDebate } from '../../src/engine/index.js';
import { assessment, eventLog, expectValidStream, fakeModels, ofType } from '../engine/helpers.js';
import { makeCritic, makePanel } from '../fakes/panel.js';

/** Both drivers of runDebate must honour the contract (test/engine/drivers.test.ts checks they agree event for event). */
const DRIVERS: DebateDriver[] = ['direct', 'langgraph'];

const input: DebateInput = {
  id: 'item-7',
  prompt: 'What is the capital of France?',
  candidates: [
    { id: 'right', text: 'Paris.' },
    { id: 'wrong', text: 'Lyon.' },
  ],
};

/** Critics that start apart on "right" and move together over the rounds. */
function script() {
  return fakeModels((call) => {
    const turn = call.turn;
    if (!turn) return undefined;
    if (turn.candidateId === 'wrong') return assessment(2, { rationale: `${turn.criticId}: wrong city` });
    const start: Record<string, number> = { a: 5, b: 9, c: 10 };
    const first = start[turn.criticId] ?? 8;
    return assessment(Math.round(first + (9 - first) * Math.min(1, turn.round / 2)), { rationale: `${turn.criticId}: Paris` });
  });
}

describe.each(PROTOCOLS.map((protocol) => [protocol]))('protocol %s', (protocol: Protocol) => {
  test.each(DRIVERS.map((driver) => [driver]))(
    'yields a valid event stream and a verdict (%s driver)',
    async (driver: DebateDriver) => {
      const { models, calls } = script();
      const log = eventLog();
      const result = await runDebate({
        panel: makePanel({ protocol, maxRounds: 2, tolerance: 1 }),
        input,
        models,
        defaultModel: 'fake:critic',
        onEvent: log.onEvent,
        driver,
      });
      expectValidStream(log.events);
      const types = log.types();
      expect(types[0]).toBe('debate-start');
      expect(types.slice(-2)).toEqual(['verdict', 'debate-end']);
      expect(ofType(log.events, 'debate-start')[0]?.panel.protocol).toBe(protocol);
      expect(ofType(log.events, 'debate-start')[0]?.itemId).toBe('item-7');
      expect(result.protocol).toBe(protocol);
      expect(result.itemId).toBe('item-7');
      expect(log.events.every((event) => event.debateId === result.debateId)).toBe(true);
      expect(DebateResultSchema.safeParse(result).success).toBe(true);
      expect(result.verdict.ranking).toEqual(['right', 'wrong']);
      expect(result.verdict.candidates.map((candidate) => candidate.rank)).toEqual([1, 2]);
      const verdict = ofType(log.events, 'verdict')[0] as DebateEvent & { type: 'verdict' };
      expect(verdict.ranking).toEqual(result.verdict.ranking);
      const end = ofType(log.events, 'debate-end')[0];
      expect(end?.turns).toBe(result.turns.length);
      expect(end?.usage.calls).toBe(calls.length);
      if (protocol === 'jury') {
        expect(calls.every((call) => call.turn?.round === 0)).toBe(true);
        expect(result.verdict.roundsUsed).toBe(0);
        expect(ofType(log.events, 'debate-start')[0]?.panel.maxRounds).toBe(0);
      } else {
        expect(ofType(log.events, 'round-end').map((event) => event.round)).toEqual([0, 1, 2]);
        expect(result.verdict.roundsUsed).toBe(2);
      }
    },
  );

  test('the exported Studio graph runs on its own with the built-in fake judge and streams events', async () => {
    const graphs: Record<Protocol, typeof simultaneousGraph | typeof juryGraph> = {
      simultaneous: simultaneousGraph,
      'one-by-one': oneByOneGraph,
      jury: juryGraph,
    };
    const setup = createDebateSetup({
      panel: makePanel({ protocol, maxRounds: 1 }),
      input,
      defaultModel: 'fake:judge',
      runId: 'studio',
    });
    const stream = await graphs[protocol].stream({ setup }, { streamMode: ['custom', 'values'] });
    const events: DebateEvent[] = [];
    let last: unknown;
    for await (const [mode, chunk] of stream as AsyncIterable<[string, unknown]>) {
      if (mode === 'custom') events.push(chunk as DebateEvent);
      else last = chunk;
    }
    expectValidStream(events);
    expect(events[0]?.type).toBe('debate-start');
    expect(events.at(-1)?.type).toBe('debate-end');
    expect(DebateResultSchema.safeParse((last as { result?: unknown }).result).success).toBe(true);
  });
});

describe('protocol graphs', () => {
  test('a graph invoked without a prompt says which field is missing', async () => {
    await expect(simultaneousGraph.invoke({ candidates: ['Paris'] })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('prompt'),
    });
  });

  test('graphs/index maps every protocol to a factory and caches compiled graphs', () => {
    expect(Object.keys(PROTOCOL_GRAPHS).sort()).toEqual([...PROTOCOLS].sort());
    expect(graphFor({ protocol: 'jury' })).toBe(graphFor({ protocol: 'jury' }));
  });

  test('one-by-one critics see the turns given earlier in the same round; simultaneous critics do not', async () => {
    const rationales = () =>
      fakeModels((call) => {
        const turn = call.turn;
        if (!turn) return undefined;
        return assessment(turn.criticId === 'a' ? 1 + turn.round : 10, {
          rationale: `${turn.criticId.toUpperCase()}-SAID-IN-ROUND-${turn.round}`,
        });
      });
    const critics = [makeCritic({ id: 'a' }), makeCritic({ id: 'b' }), makeCritic({ id: 'c' })];
    const oneInput: DebateInput = { prompt: 'p', candidates: [{ id: 'x', text: 'x' }] };

    const sequential = rationales();
    await runDebate({
      panel: makePanel({ protocol: 'one-by-one', maxRounds: 1, critics }),
      input: oneInput,
      models: sequential.models,
      defaultModel: 'fake:critic',
    });
    const seqC = sequential.calls.find((call) => call.turn?.round === 1 && call.turn.criticId === 'c');
    expect(seqC?.user).toContain('A-SAID-IN-ROUND-1');
    expect(seqC?.user).toContain('B-SAID-IN-ROUND-1');
    const seqA = sequential.calls.find((call) => call.turn?.round === 1 && call.turn.criticId === 'a');
    expect(seqA?.user).toContain('B-SAID-IN-ROUND-0');
    // Critics speak in panel order within a debate round.
    expect(sequential.calls.filter((call) => call.turn?.round === 1).map((call) => call.turn?.criticId)).toEqual(['a', 'b', 'c']);

    const simultaneous = rationales();
    await runDebate({
      panel: makePanel({ protocol: 'simultaneous', maxRounds: 1, critics }),
      input: oneInput,
      models: simultaneous.models,
      defaultModel: 'fake:critic',
    });
    const simC = simultaneous.calls.find((call) => call.turn?.round === 1 && call.turn.criticId === 'c');
    expect(simC?.user).toContain('A-SAID-IN-ROUND-0');
    expect(simC?.user).not.toContain('A-SAID-IN-ROUND-1');
  });
});
