import { describe, expect, test } from 'vitest';
import { type DebateEvent, type DebateInput, DebateResultSchema, TribunalError } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { assessment, callKind, eventLog, expectValidStream, fakeModels, isRepair, ofType, type TestScript } from './helpers.js';

const input: DebateInput = {
  prompt: 'How do I boil an egg?',
  candidates: [
    { id: 'x', text: 'Put it in boiling water for 9 minutes.' },
    { id: 'y', text: 'Eggs cannot be boiled.' },
  ],
};

/** A script from a table: round -> critic -> candidate -> score (the last round given repeats). */
function table(scores: Record<number, Record<string, Record<string, number>>>): TestScript {
  return (call) => {
    const turn = call.turn;
    if (!turn) return undefined;
    const rounds = Object.keys(scores).map(Number);
    const round = rounds.includes(turn.round) ? turn.round : Math.max(...rounds.filter((index) => index <= turn.round));
    const score = scores[round]?.[turn.criticId]?.[turn.candidateId];
    return score === undefined
      ? undefined
      : assessment(score, { rationale: `${turn.criticId} r${turn.round} on ${turn.candidateId}` });
  };
}

const everywhere = (score: number) => ({ x: score, y: score });

describe('runDebate', () => {
  test('stops early once every candidate converged', async () => {
    const { models, calls } = fakeModels(
      table({
        0: { a: { x: 3, y: 5 }, b: { x: 8, y: 5 }, c: { x: 8, y: 5 } },
        1: { a: { x: 7, y: 5 }, b: { x: 7, y: 5 }, c: { x: 8, y: 5 } },
      }),
    );
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 3, tolerance: 1 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    const rounds = ofType(log.events, 'round-end');
    expect(rounds.map((event) => [event.round, event.converged])).toEqual([
      [0, false],
      [1, true],
    ]);
    expect(rounds[0]?.candidates).toEqual([
      { candidateId: 'x', scores: { a: 3, b: 8, c: 8 }, spread: 5, converged: false },
      { candidateId: 'y', scores: { a: 5, b: 5, c: 5 }, spread: 0, converged: true },
    ]);
    expect(result.verdict.roundsUsed).toBe(1);
    expect(calls).toHaveLength(12);
    expect(result.verdict.candidates.find((candidate) => candidate.candidateId === 'x')?.score).toBeCloseTo(22 / 3);
    expect(DebateResultSchema.safeParse(result).success).toBe(true);
  });

  test('maxRounds bounds a debate that never converges, and maxRounds 0 is a single round', async () => {
    const diverging: TestScript = (call) => {
      const turn = call.turn;
      if (!turn) return undefined;
      return assessment(turn.criticId === 'a' ? 1 + turn.round : 10 - turn.round);
    };
    const bounded = fakeModels(diverging);
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 2, tolerance: 0.5 }),
      input,
      models: bounded.models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expect(ofType(log.events, 'round-end').map((event) => event.round)).toEqual([0, 1, 2]);
    expect(Math.max(...bounded.calls.map((call) => call.turn?.round ?? 0))).toBe(2);
    expect(result.verdict.roundsUsed).toBe(2);
    expect(result.verdict.candidates[0]?.perCritic.a).toEqual([1, 2, 3]);

    const single = fakeModels(diverging);
    const jury = await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input,
      models: single.models,
      defaultModel: 'fake:critic',
    });
    expect(single.calls.every((call) => call.turn?.round === 0)).toBe(true);
    expect(jury.verdict.roundsUsed).toBe(0);
  });

  test('critic weights change the weighted-mean consensus', async () => {
    const script = table({ 0: { a: everywhere(2), b: everywhere(8), c: everywhere(8) } });
    const run = (weight: number) =>
      runDebate({
        panel: makePanel({
          maxRounds: 0,
          critics: [makeCritic({ id: 'a', weight }), makeCritic({ id: 'b' }), makeCritic({ id: 'c' })],
        }),
        input,
        models: fakeModels(script).models,
        defaultModel: 'fake:critic',
      });
    expect((await run(1)).verdict.candidates[0]?.score).toBeCloseTo(6);
    expect((await run(3)).verdict.candidates[0]?.score).toBeCloseTo(4.4);
  });

  test('median and trimmed-mean aggregation', async () => {
    const critics = ['a', 'b', 'c', 'd', 'e'].map((id) => makeCritic({ id }));
    const script = table({
      0: { a: everywhere(1), b: everywhere(2), c: everywhere(6), d: everywhere(9), e: everywhere(10) },
    });
    const run = (aggregation: 'median' | 'trimmed-mean' | 'weighted-mean') =>
      runDebate({
        panel: makePanel({ critics, maxRounds: 0, aggregation, trim: 0.2 }),
        input,
        models: fakeModels(script).models,
        defaultModel: 'fake:critic',
      });
    const median = await run('median');
    expect(median.verdict.aggregation).toBe('median');
    expect(median.verdict.candidates[0]).toMatchObject({ score: 6, median: 6, mean: 5.6, spread: 9, agreement: 0 });
    expect((await run('trimmed-mean')).verdict.candidates[0]?.score).toBeCloseTo(17 / 3);
    expect((await run('weighted-mean')).verdict.candidates[0]?.score).toBeCloseTo(5.6);
  });

  test('a turn that fails twice (malformed output, then a failed repair) is recorded and the debate completes', async () => {
    const { models, calls } = fakeModels((call) => {
      const turn = call.turn;
      if (turn?.criticId === 'b' && turn.candidateId === 'y') return 'I refuse to answer in JSON.';
      return assessment(turn?.criticId === 'a' ? 4 : 6);
    });
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    const failed = ofType(log.events, 'turn-end').filter((event) => event.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ criticId: 'b', candidateId: 'y', attempts: 2, error: { code: 'OUTPUT_INVALID' } });
    expect(calls.filter((call) => call.turn?.criticId === 'b' && call.turn.candidateId === 'y')).toHaveLength(2);
    const [x, y] = result.verdict.candidates;
    expect(x).toMatchObject({ candidateId: 'x', turns: 3, failedTurns: 0 });
    expect(y).toMatchObject({ candidateId: 'y', turns: 2, failedTurns: 1, score: 5 });
    expect(y?.perCritic.b).toEqual([null]);
    expect(result.failedTurns).toBe(1);
    expect(ofType(log.events, 'debate-end')[0]).toMatchObject({ turns: 6, failedTurns: 1 });
    expect(ofType(log.events, 'round-end')[0]?.candidates[1]?.scores).toEqual({ a: 4, c: 6 });
  });

  test('a refused turn is recorded as REFUSED with its stop reason and refusal text, and never repaired', async () => {
    const { models, calls } = fakeModels((call) => {
      const turn = call.turn;
      if (turn?.criticId === 'b' && turn.candidateId === 'y') {
        return { text: '', stop: 'refused', stopReason: 'stop', refusal: "I can't help with that." };
      }
      return assessment(5);
    });
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    const refused = { code: 'REFUSED', stopReason: 'stop', refusal: "I can't help with that." };
    const failed = ofType(log.events, 'turn-end').filter((event) => event.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ criticId: 'b', candidateId: 'y', attempts: 1, error: refused });
    expect(failed[0]?.error?.message).toContain("I can't help with that.");
    expect(result.turns.find((turn) => turn.status === 'failed')?.error).toMatchObject(refused);
    expect(calls.filter((call) => call.turn?.criticId === 'b' && call.turn.candidateId === 'y')).toHaveLength(1);
    expect(DebateResultSchema.safeParse(result).success).toBe(true);
  });

  test('a failed turn in a later round carries the critic’s last good assessment forward', async () => {
    const { models } = fakeModels((call) => {
      const turn = call.turn;
      if (!turn) return undefined;
      if (turn.round === 1 && turn.criticId === 'b' && turn.candidateId === 'x') return 'not json';
      return assessment(turn.criticId === 'b' ? 9 : 2 + turn.round);
    });
    const result = await runDebate({
      panel: makePanel({ maxRounds: 1, tolerance: 0.5 }),
      input,
      models,
      defaultModel: 'fake:critic',
    });
    const x = result.verdict.candidates.find((candidate) => candidate.candidateId === 'x');
    expect(x).toMatchObject({ turns: 3, failedTurns: 1 });
    expect(x?.perCritic.b).toEqual([9, null]);
    expect(x?.score).toBeCloseTo((3 + 9 + 3) / 3);
  });

  test('a repair that succeeds on the second try makes an ok turn with two attempts', async () => {
    const { models } = fakeModels((call) => {
      if (call.turn?.criticId === 'a' && call.turn.candidateId === 'x' && !isRepair(call)) return '{"score": "high"}';
      return assessment(7);
    });
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    const turn = ofType(log.events, 'turn-end').find((event) => event.criticId === 'a' && event.candidateId === 'x');
    expect(turn).toMatchObject({ status: 'ok', attempts: 2, assessment: { score: 7 } });
    expect(turn?.usage.calls).toBe(2);
    expect(result.failedTurns).toBe(0);
    expect(result.verdict.candidates[0]?.turns).toBe(3);
  });

  test('a candidate whose every turn failed has a null score and ranks last', async () => {
    const { models } = fakeModels((call) => (call.turn?.candidateId === 'x' ? 'garbage' : assessment(2)));
    const result = await runDebate({ panel: makePanel({ maxRounds: 1 }), input, models, defaultModel: 'fake:critic' });
    expect(result.verdict.ranking).toEqual(['y', 'x']);
    const x = result.verdict.candidates.find((candidate) => candidate.candidateId === 'x');
    expect(x).toMatchObject({ score: null, rank: 2, mean: null, agreement: null, turns: 0, failedTurns: 3 });
  });

  test('events come in order: start, per turn start/deltas/end, round-end after its turns, verdict, end', async () => {
    const { models } = fakeModels(table({ 0: { a: { x: 2, y: 9 }, b: { x: 9, y: 9 }, c: everywhere(9) } }));
    const log = eventLog();
    await runDebate({
      panel: makePanel({ maxRounds: 2, tolerance: 1 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
      runId: 'run-1',
      debateId: 'debate-1',
    });
    const events = log.events;
    expectValidStream(events);
    expect(events[0]?.type).toBe('debate-start');
    expect(events.at(-2)?.type).toBe('verdict');
    expect(events.at(-1)?.type).toBe('debate-end');
    expect(events.every((event) => event.runId === 'run-1' && event.debateId === 'debate-1')).toBe(true);
    const start = ofType(events, 'debate-start')[0];
    expect(start?.critics.map((critic) => [critic.id, critic.model])).toEqual([
      ['a', 'fake:critic'],
      ['b', 'fake:critic'],
      ['c', 'fake:critic'],
    ]);
    const byTurn = new Map<string, string[]>();
    for (const event of events) {
      if (event.type !== 'turn-start' && event.type !== 'turn-delta' && event.type !== 'turn-end') continue;
      expect(event.turnId).toBe(`${event.round}/${event.criticId}/${event.candidateId}`);
      byTurn.set(event.turnId, [...(byTurn.get(event.turnId) ?? []), event.type]);
    }
    expect(byTurn.size).toBe(12);
    for (const types of byTurn.values()) {
      expect(types[0]).toBe('turn-start');
      expect(types.at(-1)).toBe('turn-end');
      expect(types.slice(1, -1).every((type) => type === 'turn-delta')).toBe(true);
      expect(types.length).toBeGreaterThan(2);
    }
    // Deltas of one turn concatenate to the text the model streamed.
    const deltas = ofType(events, 'turn-delta')
      .filter((event) => event.turnId === '0/a/x')
      .map((event) => event.text)
      .join('');
    expect(JSON.parse(deltas)).toMatchObject({ score: 2 });
    for (const roundEnd of ofType(events, 'round-end')) {
      const lastTurnEnd = events.findLastIndex((event) => event.type === 'turn-end' && event.round === roundEnd.round);
      expect(lastTurnEnd).toBeLessThan(events.indexOf(roundEnd));
      const nextStart = events.findIndex((event) => event.type === 'turn-start' && event.round === roundEnd.round + 1);
      if (nextStart !== -1) expect(nextStart).toBeGreaterThan(events.indexOf(roundEnd));
    }
  });

  test("deltaIntervalMs joins each turn's tokens into fewer deltas: the same text, result and other events", async () => {
    const script = table({ 0: { a: { x: 2, y: 9 }, b: { x: 9, y: 9 }, c: everywhere(9) } });
    const run = async (deltaIntervalMs?: number) => {
      const log = eventLog();
      const result = await runDebate({
        panel: makePanel({ maxRounds: 2, tolerance: 1 }),
        input,
        models: fakeModels(script).models,
        defaultModel: 'fake:critic',
        onEvent: log.onEvent,
        runId: 'run-1',
        debateId: 'debate-1',
        ...(deltaIntervalMs === undefined ? {} : { deltaIntervalMs }),
      });
      return { result, events: log.events };
    };
    const textOf = (events: readonly DebateEvent[]) => {
      const texts = new Map<string, string>();
      for (const event of ofType(events, 'turn-delta')) texts.set(event.turnId, (texts.get(event.turnId) ?? '') + event.text);
      return texts;
    };
    const withoutStamps = (events: readonly DebateEvent[]) =>
      events.filter((event) => event.type !== 'turn-delta').map(({ seq: _seq, at: _at, ...rest }) => rest);
    const each = await run();
    // The fake streams each reply's chunks at once: an interval longer than that gives one delta a turn.
    const joined = await run(60_000);
    expectValidStream(joined.events);
    expect(ofType(joined.events, 'turn-delta')).toHaveLength(12);
    expect(ofType(each.events, 'turn-delta').length).toBeGreaterThan(12);
    expect(textOf(joined.events)).toEqual(textOf(each.events));
    expect(withoutStamps(joined.events)).toEqual(withoutStamps(each.events));
    expect(joined.result).toEqual(each.result);
    // Interval 0: a delta per token, as without the option.
    const zero = await run(0);
    expect(ofType(zero.events, 'turn-delta').map((event) => event.text)).toEqual(
      ofType(each.events, 'turn-delta').map((event) => event.text),
    );
  });

  test('modelOverride beats the critic model, which beats the default model', async () => {
    const { models } = fakeModels(() => assessment(5));
    const panel = makePanel({ maxRounds: 0, critics: [makeCritic({ id: 'a', model: 'fake:own' }), makeCritic({ id: 'b' })] });
    const log = eventLog();
    await runDebate({ panel, input, models, defaultModel: 'fake:default', onEvent: log.onEvent });
    expect(ofType(log.events, 'debate-start')[0]?.critics.map((critic) => critic.model)).toEqual(['fake:own', 'fake:default']);
    const override = eventLog();
    await runDebate({ panel, input, models, defaultModel: 'fake:default', modelOverride: 'fake:cli', onEvent: override.onEvent });
    expect(ofType(override.events, 'turn-start').every((event) => event.model === 'fake:cli')).toBe(true);
  });

  test('the chair writes the consensus rationale after the consensus', async () => {
    const chair = makeCritic({ id: 'chair', name: 'The chair', body: 'You chair the panel.' });
    const { models, calls } = fakeModels((call) =>
      callKind(call) === 'chair'
        ? JSON.stringify({ rationale: 'Candidate 1 is right; candidate 2 is false; Candidate 3 does not exist.' })
        : assessment(call.turn?.candidateId === 'x' ? 9 : 1, { rationale: `${call.turn?.criticId}-ARGUMENT` }),
    );
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ maxRounds: 1, chair }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
    });
    // The chair knows the candidates as "Candidate N"; its answer is mapped back to their ids.
    const mapped = 'Candidate "x" is right; candidate "y" is false; Candidate 3 does not exist.';
    expect(result.verdict.rationale).toBe(mapped);
    expect(ofType(log.events, 'verdict')[0]?.rationale).toBe(mapped);
    expect(result.chair).toMatchObject({ criticId: 'chair', status: 'ok', usage: { calls: 1 } });
    const chairCall = calls.find((call) => callKind(call) === 'chair');
    expect(chairCall?.system).toContain('You chair the panel.');
    expect(chairCall?.user).toContain('b-ARGUMENT');
    expect(chairCall?.user).toMatch(/1\. Candidate 1: score 9/);
    const end = ofType(log.events, 'debate-end')[0];
    expect(end?.usage.calls).toBe(result.turns.length + 1);
    expect(end?.turns).toBe(result.turns.length);
  });

  test('a failing chair leaves the verdict without a rationale', async () => {
    const chair = makeCritic({ id: 'chair' });
    const { models } = fakeModels((call) => (callKind(call) === 'chair' ? 'no' : assessment(5)));
    const result = await runDebate({ panel: makePanel({ maxRounds: 0, chair }), input, models, defaultModel: 'fake:critic' });
    expect(result.verdict.rationale).toBeUndefined();
    expect(result.chair).toMatchObject({ status: 'failed', error: { code: 'OUTPUT_INVALID' } });
  });

  test('no chair call when no candidate has a score: there is nothing to explain and the call would only cost', async () => {
    const chair = makeCritic({ id: 'chair' });
    const { models, calls } = fakeModels((call) => (callKind(call) === 'chair' ? '{"rationale":"x"}' : 'not json'));
    const result = await runDebate({ panel: makePanel({ maxRounds: 0, chair }), input, models, defaultModel: 'fake:critic' });
    expect(result.verdict.candidates.every((line) => line.score === null)).toBe(true);
    expect(calls.some((call) => callKind(call) === 'chair')).toBe(false);
    expect(result.chair).toBeUndefined();
    expect(result.verdict.rationale).toBeUndefined();
  });

  test('the blind final vote is round maxRounds + 1, hides the others’ scores and decides the consensus', async () => {
    const { models, calls } = fakeModels((call) => {
      const turn = call.turn;
      if (!turn) return undefined;
      const scores: Record<number, Record<string, number>> = { 0: { a: 2, b: 8 }, 1: { a: 4, b: 6 }, 3: { a: 5, b: 5 } };
      const score = scores[turn.round]?.[turn.criticId];
      return score === undefined
        ? undefined
        : assessment(score, { rationale: `${turn.criticId.toUpperCase()}-ROUND-${turn.round}-ARGUMENT` });
    });
    const log = eventLog();
    const panel = makePanel({
      critics: [makeCritic({ id: 'a' }), makeCritic({ id: 'b' })],
      maxRounds: 2,
      tolerance: 2,
      blindFinalVote: true,
    });
    const result = await runDebate({ panel, input, models, defaultModel: 'fake:critic', onEvent: log.onEvent });
    expectValidStream(log.events);
    // Round 1 converges (spread 2 <= tolerance 2), so the debate stops at round 1 and the blind vote is round 3.
    expect(ofType(log.events, 'round-end').map((event) => event.round)).toEqual([0, 1, 3]);
    expect(result.verdict.roundsUsed).toBe(1);
    expect(result.verdict.candidates[0]).toMatchObject({ score: 5, spread: 0, agreement: 1 });
    expect(result.verdict.candidates[0]?.perCritic).toEqual({ a: [2, 4, 5], b: [8, 6, 5] });
    const blind = calls.find((call) => call.turn?.round === 3 && call.turn.criticId === 'a' && call.turn.candidateId === 'x');
    expect(blind?.user).toContain('Final blind vote');
    expect(blind?.user).toContain('B-ROUND-1-ARGUMENT');
    expect(blind?.user).toContain('B-ROUND-0-ARGUMENT');
    expect(blind?.user).not.toMatch(/score 6/);
    expect(blind?.user).not.toMatch(/score 8/);
    expect(blind?.user).toMatch(/score 4/);
  });

  test('abort cancels in-flight calls, emits debate-error and rejects with ABORTED', async () => {
    const controller = new AbortController();
    const { models } = fakeModels((call) => {
      if (call.turn?.round === 1) {
        controller.abort();
        return { text: assessment(5), latencyMs: 5 };
      }
      return assessment(call.turn?.criticId === 'a' ? 1 : 9);
    });
    const log = eventLog();
    const run = runDebate({
      panel: makePanel({ maxRounds: 2 }),
      input,
      models,
      defaultModel: 'fake:critic',
      onEvent: log.onEvent,
      signal: controller.signal,
    });
    await expect(run).rejects.toBeInstanceOf(TribunalError);
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expectValidStream(log.events);
    expect(log.events.at(-1)).toMatchObject({ type: 'debate-error', code: 'ABORTED' });
    expect(ofType(log.events, 'verdict')).toHaveLength(0);
    expect(ofType(log.events, 'turn-end').filter((event) => event.round === 1 && event.status === 'failed')).toHaveLength(0);
  });

  test('a caller signal on a debate with many concurrent calls adds one listener to it, and Node does not warn', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { models, calls } = fakeModels(() => ({ text: assessment(5), latencyMs: 5 }));
      const controller = new AbortController();
      const wide: DebateInput = {
        prompt: 'Pick one.',
        candidates: Array.from({ length: 6 }, (_, index) => ({ id: `c${index}`, text: `answer ${index}` })),
      };
      await runDebate({
        panel: makePanel({ maxRounds: 0 }),
        input: wide,
        models,
        defaultModel: 'fake:critic',
        signal: controller.signal,
      });
      expect(calls.length).toBeGreaterThan(10);
      // warnings are emitted on the next tick
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('an already aborted signal rejects before any model call', async () => {
    const { models, calls } = fakeModels(() => assessment(5));
    const controller = new AbortController();
    controller.abort();
    const log = eventLog();
    await expect(
      runDebate({
        panel: makePanel(),
        input,
        models,
        defaultModel: 'fake:critic',
        signal: controller.signal,
        onEvent: log.onEvent,
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(calls).toHaveLength(0);
    expect(log.types()).toEqual(['debate-error']);
  });

  test('an unknown model or invalid input rejects with debate-error', async () => {
    const { models } = fakeModels(() => assessment(5));
    const log = eventLog();
    await expect(
      runDebate({ panel: makePanel(), input, models, defaultModel: 'nosuch:model', onEvent: log.onEvent }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    expect(log.events.at(-1)).toMatchObject({ type: 'debate-error', code: 'MODEL_NOT_FOUND' });
    const duplicate = {
      prompt: 'p',
      candidates: [
        { id: 'x', text: '1' },
        { id: 'x', text: '2' },
      ],
    };
    await expect(runDebate({ panel: makePanel(), input: duplicate, models, defaultModel: 'fake:critic' })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
  });

  test('a bug surfacing inside a node rejects with INTERNAL after a debate-error', async () => {
    const { models } = fakeModels(() => assessment(5));
    const log = eventLog();
    const onEvent = (event: DebateEvent) => {
      log.onEvent(event);
      if (event.type === 'round-end') throw new Error('renderer crashed');
    };
    await expect(runDebate({ panel: makePanel(), input, models, defaultModel: 'fake:critic', onEvent })).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining('renderer crashed'),
    });
    expectValidStream(log.events);
    expect(log.events.at(-1)).toMatchObject({ type: 'debate-error', code: 'INTERNAL' });
  });

  test('a chat-message prompt is shown as a transcript inside the prompt block', async () => {
    const { models, calls } = fakeModels(() => assessment(5));
    await runDebate({
      panel: makePanel({ maxRounds: 0 }),
      input: {
        prompt: [
          { role: 'user', content: 'Hi there' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Boil an egg?' },
        ],
        candidates: [{ id: 'x', text: 'Nine minutes.' }],
      },
      models,
      defaultModel: 'fake:critic',
    });
    expect(calls[0]?.user).toMatch(
      /<<<BEGIN UNTRUSTED PROMPT \w+>>>\n\[user\]\nHi there\n\n\[assistant\]\nHello!\n\n\[user\]\nBoil an egg\?\n<<<END/,
    );
  });
});
