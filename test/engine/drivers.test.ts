import { MemorySaver } from '@langchain/langgraph';
import { describe, expect, test } from 'vitest';
import { graphFor } from '../../graphs/index.js';
import { type DebateEvent, type DebateInput, type DebateResult, PROTOCOLS, type Protocol } from '../../src/contracts/index.js';
import { type DebateSnapshots, type RunDebateOptions, runDebate } from '../../src/engine/index.js';
import type { FakeCall } from '../../src/models/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { assessment, callKind, expectValidStream, fakeModels, judgment, type TestScript } from './helpers.js';

/**
 * The direct driver and LangGraph (with and without a checkpointer) run the same wiring, so every scenario must
 * give the same event stream (but for `at`) and the same result, or reject the same way after the same events.
 */
/** The direct driver's snapshots in memory, as a store keeps them (serialized, so nothing is shared by reference). */
function memorySnapshots(): DebateSnapshots & { saved: Map<string, string> } {
  const saved = new Map<string, string>();
  return {
    saved,
    load: async (debateId) => {
      const json = saved.get(debateId);
      return json === undefined ? undefined : JSON.parse(json);
    },
    save: async (debateId, snapshot) => {
      saved.set(debateId, JSON.stringify(snapshot));
    },
  };
}

const DRIVERS = {
  direct: {},
  langgraph: { driver: 'langgraph' },
  'langgraph + checkpointer': { checkpointer: new MemorySaver() },
  'direct + snapshots': { snapshots: memorySnapshots() },
} satisfies Record<string, Partial<RunDebateOptions>>;

const input: DebateInput = {
  id: 'item-1',
  prompt: 'Which sorting algorithm should I use for nearly sorted data?',
  candidates: [
    { id: 'insertion', text: 'Insertion sort: it runs in near-linear time on nearly sorted input.' },
    { id: 'bogo', text: 'Bogosort, shuffle until sorted.' },
    { id: 'merge', text: 'Merge sort, always O(n log n).' },
  ],
};

/** Scores that differ between critics and drift together over rounds; keyed on the turn only, never on call order. */
const drifting: TestScript = (call) => {
  const turn = call.turn;
  if (callKind(call) === 'chair') return JSON.stringify({ rationale: 'The panel agreed insertion sort fits best.' });
  if (!turn) return undefined;
  if (callKind(call) === 'pairwise')
    return judgment(turn.criticId === 'b' ? 'B' : 'A', `${turn.criticId} on ${turn.candidateId}`);
  const base: Record<string, number> = { insertion: 8, bogo: 2, merge: 6 };
  const offset: Record<string, number> = { a: -3, b: 0, c: 3 };
  const score = (base[turn.candidateId] ?? 5) + ((offset[turn.criticId] ?? 0) * 2) / (2 + turn.round);
  return assessment(Math.max(1, Math.min(10, Math.round(score * 10) / 10)), {
    rationale: `${turn.criticId} r${turn.round} ${turn.candidateId}`,
  });
};

/** Like `drifting`, but critic c's debate-round turns are malformed twice (failed turns carried forward). */
const failing: TestScript = (call) => (call.turn?.criticId === 'c' && call.turn.round > 0 ? 'not json' : drifting(call));

interface Outcome {
  /** The events with `at` and `debateId` blanked. */
  events: DebateEvent[];
  result?: DebateResult;
  error?: { code: string; message: string };
}

async function outcomeOf(
  driverOptions: Partial<RunDebateOptions>,
  options: Omit<RunDebateOptions, 'models' | 'defaultModel' | 'onEvent' | 'input' | 'signal'> & {
    script: TestScript;
    input?: DebateInput;
    onEvent?: (event: DebateEvent) => void;
    /** Cancels the debate from inside the first call this matches (which then takes 5 ms to answer). */
    abortAt?: (call: FakeCall) => boolean;
  },
): Promise<Outcome> {
  const { script, onEvent, abortAt, ...rest } = options;
  const controller = new AbortController();
  const { models } = fakeModels((call) => {
    if (abortAt?.(call) && !controller.signal.aborted) {
      controller.abort();
      const reply = script(call);
      return typeof reply === 'string' ? { text: reply, latencyMs: 5 } : reply;
    }
    return script(call);
  });
  const events: DebateEvent[] = [];
  const outcome: Outcome = { events: [] };
  try {
    outcome.result = await runDebate({
      input,
      models,
      defaultModel: 'fake:critic',
      runId: 'run-1',
      debateId: options.debateId ?? `debate-${Math.random()}`,
      ...rest,
      ...driverOptions,
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        onEvent?.(event);
      },
    });
  } catch (error) {
    const { code, message } = error as { code: string; message: string };
    outcome.error = { code, message };
  }
  // A fresh debate starts at seq 0; one run again under its id (a resume) continues its seq.
  expectValidStream(events, options.debateId === undefined ? 0 : (events[0]?.seq ?? 0));
  // The debate id differs per run (a checkpointer keys threads on it); everything else must match.
  outcome.events = events.map((event) => ({ ...event, at: '', debateId: '' }));
  if (outcome.result) outcome.result = { ...outcome.result, debateId: 'debate' };
  return outcome;
}

async function expectSameOutcome(options: Parameters<typeof outcomeOf>[1]): Promise<Outcome> {
  const outcomes: Outcome[] = [];
  for (const driver of Object.values(DRIVERS)) outcomes.push(await outcomeOf(driver, options));
  const [direct, ...others] = outcomes;
  for (const [index, other] of others.entries()) {
    expect(other, Object.keys(DRIVERS)[index + 1]).toEqual(direct);
  }
  return direct as Outcome;
}

describe.each(PROTOCOLS.map((protocol) => [protocol]))('drivers agree: %s', (protocol: Protocol) => {
  test('a debate that converges before maxRounds', async () => {
    const outcome = await expectSameOutcome({ panel: makePanel({ protocol, maxRounds: 4, tolerance: 2 }), script: drifting });
    expect(outcome.result?.verdict.ranking[0]).toBe('insertion');
  });

  test('a debate held to maxRounds, with a blind vote and a chair', async () => {
    const outcome = await expectSameOutcome({
      panel: makePanel({ protocol, maxRounds: 2, tolerance: 0, blindFinalVote: true, chair: makeCritic({ id: 'chair' }) }),
      script: drifting,
    });
    expect(outcome.result?.verdict.rationale).toContain('insertion');
  });

  test('pairwise mode', async () => {
    const outcome = await expectSameOutcome({ panel: makePanel({ protocol, mode: 'pairwise', maxRounds: 1 }), script: drifting });
    expect(outcome.result?.verdict.ranking).toHaveLength(3);
  });

  test('randomized order: pairwise once per pair and shuffled debate views', async () => {
    const pairwise = await expectSameOutcome({
      panel: makePanel({ protocol, mode: 'pairwise', maxRounds: 1, randomizeOrder: true }),
      script: drifting,
    });
    expect(pairwise.result?.verdict.inconsistent).toEqual([]);
    const pointwise = await expectSameOutcome({
      panel: makePanel({ protocol, maxRounds: 2, tolerance: 0, randomizeOrder: true }),
      script: drifting,
    });
    expect(pointwise.result?.verdict.ranking[0]).toBe('insertion');
  });

  test('failed turns carried forward', async () => {
    const outcome = await expectSameOutcome({ panel: makePanel({ protocol, maxRounds: 2, tolerance: 0 }), script: failing });
    expect(outcome.result?.failedTurns).toBe(protocol === 'jury' ? 0 : 6);
  });

  test('maxRounds 0', async () => {
    await expectSameOutcome({ panel: makePanel({ protocol, maxRounds: 0 }), script: drifting });
  });

  test('a panel that escalates every debate: the same events and result; the graph waits at human-review', async () => {
    const panel = makePanel({ protocol, maxRounds: 1, tolerance: 0, escalate: { belowConsensusProbability: 1 } });
    // Critic a rates merge sort above everything: the panel splits on its top pair.
    const split: TestScript = (call) =>
      call.turn?.criticId === 'a' && call.turn.candidateId === 'merge' ? assessment(9.5) : drifting(call);
    const outcome = await expectSameOutcome({ panel, script: split });
    expect(outcome.result?.verdict.ranking).toHaveLength(3);
    // On a checkpointer the graph stopped for a human verdict; running the debate again returns the same result and
    // emits nothing, as for any finished debate.
    const checkpointer = new MemorySaver();
    const first = await outcomeOf({ checkpointer }, { panel, script: split, debateId: `escalated-${protocol}` });
    const graphState = await graphFor({ protocol, checkpointer }).getState({
      configurable: { thread_id: `escalated-${protocol}` },
    });
    expect(graphState.next).toEqual(['human-review']);
    const again = await outcomeOf({ checkpointer }, { panel, script: split, debateId: `escalated-${protocol}` });
    expect(again.events).toEqual([]);
    expect(again.result).toEqual(first.result);
  });
});

describe('drivers agree on failures', () => {
  test('cancellation in the middle of a round', async () => {
    const outcome = await expectSameOutcome({
      panel: makePanel({ maxRounds: 2, tolerance: 0 }),
      script: drifting,
      abortAt: (call) => call.turn?.round === 1 && call.turn.criticId === 'b',
    });
    expect(outcome.error?.code).toBe('ABORTED');
    expect(outcome.events.at(-1)?.type).toBe('debate-error');
    expect(outcome.events.some((event) => event.type === 'turn-start' && event.round === 1)).toBe(true);
  });

  test('a bug surfacing inside a node', async () => {
    const outcome = await expectSameOutcome({
      panel: makePanel({ maxRounds: 2, tolerance: 0 }),
      script: drifting,
      onEvent: (event) => {
        if (event.type === 'round-end' && event.round === 1) throw new Error('renderer crashed');
      },
    });
    expect(outcome.error).toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('renderer crashed') });
  });

  test('the direct driver refuses a checkpointer', async () => {
    const outcome = await outcomeOf(
      { driver: 'direct', checkpointer: new MemorySaver() },
      { panel: makePanel(), script: drifting },
    );
    expect(outcome.error?.code).toBe('INPUT_INVALID');
    expect(outcome.events.map((event) => event.type)).toEqual(['debate-error']);
  });
});

describe('resume: snapshots on the direct driver continue a debate as a LangGraph checkpoint does', () => {
  /** Cancels a debate in round `round` (critic b's turn), then runs the same debate id again to the end. */
  async function interruptedThenResumed(driver: Partial<RunDebateOptions>, round: number) {
    const debateId = `debate-${Math.random()}`;
    const panel = makePanel({ maxRounds: 2, tolerance: 0, chair: makeCritic({ id: 'chair' }) });
    const interrupted = await outcomeOf(driver, {
      panel,
      script: drifting,
      debateId,
      abortAt: (call) => call.turn?.round === round && call.turn.criticId === 'b',
    });
    const resumed = await outcomeOf(driver, { panel, script: drifting, debateId });
    const again = await outcomeOf(driver, { panel, script: drifting, debateId });
    return { interrupted, resumed, again };
  }

  for (const round of [0, 1, 2]) {
    test(`interrupted in round ${round}`, async () => {
      const graph = await interruptedThenResumed({ checkpointer: new MemorySaver() }, round);
      const direct = await interruptedThenResumed({ snapshots: memorySnapshots() }, round);
      expect(direct).toEqual(graph);
      expect(direct.interrupted.error?.code).toBe('ABORTED');
      // The resumed run starts again with debate-start, continues the seq, and does not redo finished rounds.
      const [first] = direct.resumed.events;
      expect(first).toMatchObject({ type: 'debate-start', seq: direct.interrupted.events.length });
      expect(direct.resumed.events.some((event) => event.type === 'turn-start' && event.round < round)).toBe(false);
      expect(direct.resumed.result?.verdict.ranking[0]).toBe('insertion');
      // A finished debate resolves with its result and emits nothing.
      expect(direct.again).toEqual({ events: [], result: direct.resumed.result });
    });
  }

  test('a changed panel is refused, and snapshots need the direct driver', async () => {
    const snapshots = memorySnapshots();
    const debateId = 'debate-panel';
    await outcomeOf({ snapshots }, { panel: makePanel({ maxRounds: 1 }), script: drifting, debateId });
    const changed = await outcomeOf(
      { snapshots },
      { panel: makePanel({ maxRounds: 2, hash: 'another-panel-hash' }), script: drifting, debateId },
    );
    expect(changed.error).toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('panel hash') });
    const refused = await outcomeOf({ snapshots, driver: 'langgraph' }, { panel: makePanel(), script: drifting });
    expect(refused.error?.code).toBe('INPUT_INVALID');
  });
});
