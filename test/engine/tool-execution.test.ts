import { MemorySaver } from '@langchain/langgraph';
import { afterAll, describe, expect, it } from 'vitest';
import type { DebateEvent, DebateEventOf, DebateResult, ExecutionResult } from '../../src/contracts/index.js';
import {
  type DebateSnapshots,
  type PythonSandbox,
  type RunDebateOptions,
  runDebate,
  VERIFIER_MODEL,
} from '../../src/engine/index.js';
import type { FakeCall } from '../../src/models/index.js';
import { createSandboxPool } from '../../src/sandbox/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { assessment, eventLog, expectValidStream, fakeModels, judgment } from './helpers.js';

// One real sandbox for the file; a counting wrapper shows how often the engine asked it to run.
const pool = createSandboxPool({ size: 1 });
afterAll(() => pool.close());

function countingSandbox(): PythonSandbox & { runs: Array<{ code: string; tests?: string | undefined }> } {
  const runs: Array<{ code: string; tests?: string | undefined }> = [];
  return {
    runs,
    runPython: (options) => {
      runs.push({ code: options.code, tests: options.tests });
      return pool.runPython(options);
    },
  };
}

const TESTS =
  'def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n    assert candidate(-1, 1) == 0\n';
const CORRECT = 'Here it is:\n```python\ndef add(a, b):\n    return a + b\n```';
const BROKEN = 'def add(a, b):\n    return a - b\n';
const verifier = makeCritic({ id: 'tests', kind: 'verifier', tools: ['run-python'] });
const reviewer = makeCritic({ id: 'reviewer' });

function modelCallsText(calls: FakeCall[]): string[] {
  return calls.map((call) => call.messages.map((message) => String(message.content)).join('\n'));
}

describe('execution in a debate', () => {
  it('runs each candidate once per debate, emits tool-result, and every critic reads it in every round', async () => {
    const sandbox = countingSandbox();
    // The model critic disagrees with the verifier, so the debate goes on for both rounds.
    const { models, calls } = fakeModels(() => assessment(5));
    const log = eventLog();
    const result = await runDebate({
      panel: makePanel({ critics: [verifier, reviewer], maxRounds: 2, tolerance: 0.1, scale: { min: 1, max: 10 } }),
      input: {
        id: 'add',
        prompt: 'Write add(a, b).',
        candidates: [
          { id: 'good', text: CORRECT },
          { id: 'bad', text: BROKEN },
          { id: 'same', text: CORRECT },
        ],
        execution: { tests: TESTS, entryPoint: 'add' },
      },
      models,
      defaultModel: 'fake:judge',
      tools: { sandbox },
      onEvent: log.onEvent,
    });
    expectValidStream(log.events);
    // Two distinct programs (good and same share the code): two runs, across three rounds and two critics.
    expect(sandbox.runs).toHaveLength(2);
    expect(sandbox.runs[0]).toEqual({ code: 'def add(a, b):\n    return a + b', tests: TESTS });
    const toolResults = log.events.filter((event): event is DebateEventOf<'tool-result'> => event.type === 'tool-result');
    expect(toolResults.map((event) => [event.candidateId, event.result.status, event.withTests])).toEqual([
      ['good', 'passed', true],
      ['bad', 'failed', true],
      ['same', 'passed', true],
    ]);
    expect(toolResults[0]?.key).toBe(toolResults[2]?.key);
    expect(toolResults[0]?.code).toEqual({ source: 'fenced', blocks: 1, chars: 31 });
    // Before any turn starts.
    expect(log.types().indexOf('turn-start')).toBeGreaterThan(log.types().lastIndexOf('tool-result'));

    // The verifier: no model call, score from the share passed, the same every round.
    const rounds = result.verdict.roundsUsed + 1;
    expect(rounds).toBeGreaterThanOrEqual(2);
    const verifierTurns = result.turns.filter((turn) => turn.criticId === 'tests');
    expect(verifierTurns).toHaveLength(3 * rounds);
    for (const turn of verifierTurns) {
      expect(turn).toMatchObject({ model: VERIFIER_MODEL, status: 'ok', usage: { calls: 0, inputTokens: 0, costUsd: 0 } });
    }
    const good = verifierTurns.find((turn) => turn.candidateId === 'good' && turn.round === rounds - 1);
    const bad = verifierTurns.find((turn) => turn.candidateId === 'bad' && turn.round === rounds - 1);
    expect(good?.assessment).toMatchObject({ score: 10, confidence: 1, rationale: 'Passed 3 of 3 tests (status passed).' });
    // candidate(1, 2) fails, candidate(0, 0) passes, candidate(-1, 1) fails: 1 of 3 -> 1 + 9/3.
    expect(bad?.assessment?.score).toBeCloseTo(4);
    expect(bad?.assessment?.rationale).toMatch(
      /^Passed 1 of 3 tests \(status failed\)\. First error \(tests line \d+\): AssertionError/,
    );
    expect(bad?.execution).toEqual([{ candidateId: 'bad', status: 'failed', passed: 1, total: 3 }]);
    const badEnd = log.events.find(
      (event) => event.type === 'turn-end' && event.criticId === 'reviewer' && event.candidateId === 'bad',
    ) as DebateEventOf<'turn-end'>;
    expect(badEnd.execution).toEqual([{ candidateId: 'bad', status: 'failed', passed: 1, total: 3 }]);

    // Only the model critic called a model: 3 candidates a round, each prompt with the execution result as data.
    expect(calls).toHaveLength(3 * rounds);
    for (const text of modelCallsText(calls)) {
      expect(text).toMatch(/<<<BEGIN UNTRUSTED EXECUTION RESULT [0-9a-f]+>>>/);
    }
    const badPrompts = modelCallsText(calls).filter((text) => text.includes('return a - b'));
    expect(badPrompts).toHaveLength(rounds);
    for (const text of badPrompts) expect(text).toContain('tests passed: 1 of 3');
    expect(result.verdict.ranking.indexOf('bad')).toBe(2);
  });

  it('runs code alone when the item has no tests, and compares pairs by the share passed', async () => {
    const sandbox = countingSandbox();
    const { models } = fakeModels(() => judgment('tie'));
    const result = await runDebate({
      panel: makePanel({ critics: [verifier, reviewer], mode: 'pairwise', maxRounds: 0 }),
      input: {
        prompt: 'Print hello.',
        candidates: [
          { id: 'crash', text: '```python\nraise ValueError("boom")\n```' },
          { id: 'fine', text: '```python\nprint("hello")\n```' },
        ],
      },
      models,
      defaultModel: 'fake:judge',
      tools: { sandbox },
    });
    expect(sandbox.runs.map((run) => run.tests)).toEqual([undefined, undefined]);
    const turns = result.turns.filter((turn) => turn.criticId === 'tests');
    expect(turns.map((turn) => [turn.candidateId, turn.judgment?.preferred, turn.judgment?.confidence])).toEqual([
      ['crash-vs-fine', 'B', 0.5],
      ['fine-vs-crash', 'A', 0.5],
    ]);
    expect(turns[0]?.judgment?.rationale).toContain('ValueError: boom');
    expect(result.verdict.ranking[0]).toBe('fine');
  });

  it('refuses a panel with a tool when the debate has no sandbox, and never starts one for a panel without', async () => {
    const { models } = fakeModels(() => assessment(5));
    await expect(
      runDebate({
        panel: makePanel({ critics: [verifier, reviewer], maxRounds: 0 }),
        input: { prompt: 'p', candidates: [{ id: 'x', text: 'x = 1' }] },
        models,
        defaultModel: 'fake:judge',
      }),
    ).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('no sandbox') });
    // Tests that are not text (an item's meta.tests of the wrong type) are refused, naming the field.
    await expect(
      runDebate({
        panel: makePanel({ critics: [verifier, reviewer], maxRounds: 0 }),
        input: { prompt: 'p', candidates: [{ id: 'x', text: 'x = 1' }], execution: { tests: 5 as unknown as string } },
        models,
        defaultModel: 'fake:judge',
        tools: { sandbox: countingSandbox() },
      }),
    ).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('execution.tests') });
    const sandbox = countingSandbox();
    const log = eventLog();
    await runDebate({
      panel: makePanel({ critics: [reviewer], maxRounds: 0 }),
      input: { prompt: 'p', candidates: [{ id: 'x', text: 'x = 1' }] },
      models,
      defaultModel: 'fake:judge',
      tools: { sandbox },
      onEvent: log.onEvent,
    });
    expect(sandbox.runs).toEqual([]);
    expect(log.types()).not.toContain('tool-result');
  });

  it('runs each candidate once on the LangGraph driver too, with the same events as the direct driver', async () => {
    const streams: string[][] = [];
    for (const driver of ['direct', 'langgraph'] as const) {
      const sandbox = countingSandbox();
      const { models } = fakeModels(() => assessment(5));
      const log = eventLog();
      await runDebate({
        panel: makePanel({ critics: [verifier, reviewer], maxRounds: 2, tolerance: 0.1 }),
        input: {
          prompt: 'Write add(a, b).',
          candidates: [
            { id: 'good', text: CORRECT },
            { id: 'bad', text: BROKEN },
          ],
          execution: { tests: TESTS, entryPoint: 'add' },
        },
        models,
        defaultModel: 'fake:judge',
        tools: { sandbox },
        driver,
        onEvent: log.onEvent,
      });
      expect(sandbox.runs, driver).toHaveLength(2);
      streams.push(log.events.map((event) => (event.type === 'turn-end' ? `${event.type}:${event.turnId}` : event.type)));
    }
    expect(streams[1]).toEqual(streams[0]);
  });

  it('gives a model turn a different cache key for a different execution result', async () => {
    const stored = new Map<string, unknown>();
    const turnCache = {
      getTurn: async ({ key }: { key: string }) => stored.get(key) as never,
      putTurn: async ({ key, turn }: { key: string; turn: unknown }) => {
        stored.set(key, turn);
      },
    };
    const { models, calls } = fakeModels(() => assessment(5));
    const debate = (tests: string) =>
      runDebate({
        panel: makePanel({ critics: [verifier, reviewer], maxRounds: 0 }),
        input: { prompt: 'Write add.', candidates: [{ id: 'x', text: CORRECT }], execution: { tests, entryPoint: 'add' } },
        models,
        defaultModel: 'fake:judge',
        tools: { sandbox: countingSandbox() },
        turnCache,
      });
    await debate(TESTS);
    await debate(TESTS);
    expect(calls).toHaveLength(1);
    // Same candidate and prompt, tests that fail: the model is asked again, not answered from the cache.
    const failing: ExecutionResult['status'] = 'failed';
    const second = await debate('def check(candidate):\n    assert candidate(1, 1) == 3\n');
    expect(calls).toHaveLength(2);
    expect(second.turns.find((turn) => turn.criticId === 'tests')?.execution?.[0]?.status).toBe(failing);
  });
});

describe('a resumed code debate', () => {
  function memorySnapshots(): DebateSnapshots {
    const saved = new Map<string, string>();
    return {
      load: async (debateId) => {
        const json = saved.get(debateId);
        return json === undefined ? undefined : JSON.parse(json);
      },
      save: async (debateId, snapshot) => {
        saved.set(debateId, JSON.stringify(snapshot));
      },
    };
  }

  const panel = makePanel({ critics: [verifier, reviewer], maxRounds: 2, tolerance: 0.1 });
  const input = {
    id: 'add',
    prompt: 'Write add(a, b).',
    candidates: [
      { id: 'good', text: CORRECT },
      { id: 'bad', text: BROKEN },
    ],
    execution: { tests: TESTS, entryPoint: 'add' },
  };

  /** One run of the debate; `abortInRound` cancels it from inside the model critic's first turn of that round. */
  async function run(driverOptions: Partial<RunDebateOptions>, debateId: string, abortInRound?: number) {
    const sandbox = countingSandbox();
    const controller = new AbortController();
    const { models, calls } = fakeModels((call) => {
      if (abortInRound !== undefined && call.turn?.round === abortInRound) controller.abort();
      return assessment(call.turn?.candidateId === 'bad' ? 6 : 5);
    });
    const events: DebateEvent[] = [];
    let result: DebateResult | undefined;
    let error: unknown;
    try {
      result = await runDebate({
        panel,
        input,
        models,
        defaultModel: 'fake:judge',
        runId: 'run-1',
        debateId,
        tools: { sandbox },
        signal: controller.signal,
        onEvent: (event) => events.push(event),
        ...driverOptions,
      });
    } catch (caught) {
      error = caught;
    }
    const prompts = calls.map((call) => ({ round: call.turn?.round, text: modelCallsText([call])[0] }));
    return { sandbox, events, result, error, prompts };
  }

  const toolResults = (events: DebateEvent[]) =>
    events
      .filter((event): event is DebateEventOf<'tool-result'> => event.type === 'tool-result')
      .map(({ seq: _seq, at: _at, ...event }) => event);

  const drivers = [
    ['direct driver with snapshots', () => ({ snapshots: memorySnapshots() })],
    ['LangGraph driver with a checkpointer', () => ({ checkpointer: new MemorySaver() })],
  ] as const;
  for (const [[name, driverOptions], round] of drivers.flatMap((driver) => [0, 1].map((round) => [driver, round] as const))) {
    it(`interrupted in round ${round}: reuses the runs and emits the same tool-result events again (${name})`, async () => {
      const full = await run(driverOptions(), 'full');
      const options = driverOptions();
      const interrupted = await run(options, 'resumed', round);
      expect(interrupted.error).toMatchObject({ code: 'ABORTED' });
      expect(interrupted.sandbox.runs).toHaveLength(2);
      const resumed = await run(options, 'resumed');

      // The code is not run again: the resumed debate reads the results the interrupted one got.
      expect(resumed.sandbox.runs).toEqual([]);
      // Its stream starts again with debate-start and carries the same tool-result events before any turn.
      const types = resumed.events.map((event) => event.type);
      expect(types.slice(0, 3)).toEqual(['debate-start', 'tool-result', 'tool-result']);
      expect(toolResults(resumed.events)).toEqual(toolResults(interrupted.events));
      expect(resumed.events.some((event) => event.type === 'turn-start' && event.round < round)).toBe(false);
      // So an event log of both runs never holds two different results for one candidate.
      const byCandidate = new Map<string, unknown>();
      for (const event of toolResults([...interrupted.events, ...resumed.events])) {
        const known = byCandidate.get(event.candidateId);
        if (known === undefined) byCandidate.set(event.candidateId, event);
        else expect(event).toEqual(known);
      }

      // The same outcome and the same prompts in the rounds it ran as an uninterrupted debate.
      expect(resumed.result?.verdict.ranking).toEqual(full.result?.verdict.ranking);
      expect(resumed.result?.verdict.candidates).toEqual(full.result?.verdict.candidates);
      expect(resumed.result?.turns.map((turn) => [turn.round, turn.criticId, turn.candidateId, turn.execution])).toEqual(
        full.result?.turns.map((turn) => [turn.round, turn.criticId, turn.candidateId, turn.execution]),
      );
      const later = (prompts: typeof full.prompts) =>
        prompts
          .filter((prompt) => (prompt.round ?? 0) >= round)
          .map((prompt) => prompt.text)
          .sort();
      expect(later(resumed.prompts)).toEqual(later(full.prompts));
      expect(resumed.prompts.length).toBeGreaterThan(0);
    });
  }
});
