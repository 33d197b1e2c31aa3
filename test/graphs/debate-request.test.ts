import { Command, MemorySaver } from '@langchain/langgraph';
import { afterAll, describe, expect, test } from 'vitest';
import { resolveDebateRequest } from '../../graphs/debate-request.js';
import { createJuryGraph, graph as juryGraph } from '../../graphs/jury.js';
import { createSimultaneousGraph, graph as simultaneousGraph } from '../../graphs/simultaneous.js';
import { parsePanel } from '../../src/config/index.js';
import {
  type DebateEvent,
  type DebateEventOf,
  DebateResultSchema,
  FileValidationError,
  MAX_TESTS_CHARS,
  TribunalError,
} from '../../src/contracts/index.js';
import { createDebateSetup } from '../../src/engine/index.js';
import { processSandbox } from '../../src/sandbox/index.js';
import { expectValidStream } from '../engine/helpers.js';
import { makePanel } from '../fakes/panel.js';

const question = { prompt: 'Capital of Australia?', candidates: ['Canberra', 'Sydney'] };

async function rejection(work: Promise<unknown>): Promise<TribunalError> {
  const error = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TribunalError);
  return error as TribunalError;
}

describe('plain input of the debate graphs', () => {
  test('strings become candidates c1, c2, ...; the default panel, the graph protocol and the model are resolved', async () => {
    const setup = await resolveDebateRequest({ request: { ...question, model: 'fake:judge' }, protocol: 'jury' });
    expect(setup.input.candidates).toEqual([
      { id: 'c1', text: 'Canberra' },
      { id: 'c2', text: 'Sydney' },
    ]);
    expect(setup.panel.panel.id).toBe('default');
    expect(setup.panel.panel.protocol).toBe('jury');
    expect(setup.panel.critics.map((critic) => critic.id)).toEqual(['safety', 'efficiency', 'creativity']);
    expect(Object.values(setup.models)).toEqual(['fake:judge', 'fake:judge', 'fake:judge']);
  });

  test('{ id, text } candidates, a panel id, maxRounds and an item id are kept', async () => {
    const setup = await resolveDebateRequest({
      request: {
        prompt: [{ role: 'user', content: 'Capital of Australia?' }],
        candidates: [
          { id: 'canberra', text: 'Canberra' },
          { id: 'sydney', text: 'Sydney' },
        ],
        panel: 'full',
        maxRounds: 0,
        id: 'item-1',
        model: 'fake:judge',
      },
      protocol: 'one-by-one',
    });
    expect(setup.input.candidates.map((candidate) => candidate.id)).toEqual(['canberra', 'sydney']);
    expect(setup.panel.panel.id).toBe('full');
    expect(setup.panel.panel.maxRounds).toBe(0);
    expect(setup.itemId).toBe('item-1');
  });

  test('the run configuration supplies model and panel; the input beats it', async () => {
    const configured = await resolveDebateRequest({
      request: question,
      protocol: 'simultaneous',
      configurable: { model: 'fake:judge', panel: 'jury' },
    });
    expect(configured.panel.panel.id).toBe('jury');
    expect(Object.values(configured.models).every((model) => model === 'fake:judge')).toBe(true);
    const overridden = await resolveDebateRequest({
      request: { ...question, model: 'fake:other', panel: 'default' },
      protocol: 'simultaneous',
      configurable: { model: 'fake:judge', panel: 'jury' },
    });
    expect(overridden.panel.panel.id).toBe('default');
    expect(Object.values(overridden.models).every((model) => model === 'fake:other')).toBe(true);
  });

  test('bad input is refused with the field and what to do', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ candidates: ['a'] }, 'prompt:'],
      [{ prompt: 'q', candidates: [] }, 'candidates: give at least one candidate answer'],
      [{ prompt: 'q', candidates: Array.from({ length: 65 }, () => 'a') }, 'candidates: at most 64 candidates'],
      [{ prompt: 'q', candidates: [{ id: 'a' }] }, 'candidates.0'],
      [{ prompt: 'q', candidates: ['a'], maxRounds: 11 }, 'maxRounds'],
      [{ prompt: 'q', candidates: ['a'], model: 'gpt-4' }, 'model: expected "provider:model"'],
      [{ prompt: 'q', candidates: ['a'], panel: 'nope' }, 'panel: no panel "nope"'],
      [{ prompt: 'q', candidates: ['a'], panel: '../secrets' }, 'panel'],
      [
        {
          prompt: 'q',
          candidates: [
            { id: 'a', text: 'x' },
            { id: 'a', text: 'y' },
          ],
        },
        'candidate id "a" appears twice',
      ],
    ];
    for (const [request, message] of cases) {
      const error = await rejection(resolveDebateRequest({ request: request as never, protocol: 'simultaneous' }));
      expect(error.code).toBe('INPUT_INVALID');
      expect(error.message).toContain(message);
    }
    const configured = await rejection(
      resolveDebateRequest({ request: question, protocol: 'jury', configurable: { model: 42 } }),
    );
    expect(configured.message).toContain('configurable is invalid: model');
  });

  test('an inline panel is validated like a panel file and may name personas only by id', async () => {
    const setup = await resolveDebateRequest({
      request: {
        ...question,
        model: 'fake:judge',
        panel: { id: 'two', personas: ['safety', { persona: 'efficiency', weight: 2 }] },
      },
      protocol: 'simultaneous',
    });
    // safety's own weight (personas/safety.md), efficiency's from the panel.
    expect(setup.panel.critics.map((critic) => [critic.id, critic.weight])).toEqual([
      ['safety', 1.2],
      ['efficiency', 2],
    ]);
    const path = await rejection(
      resolveDebateRequest({
        request: { ...question, panel: { id: 'x', personas: [{ persona: '../../etc/notes.md' }] } },
        protocol: 'jury',
      }),
    );
    expect(path.message).toContain('panel.personas.0: "../../etc/notes.md" is a file path');
    const constitution = await rejection(
      resolveDebateRequest({
        request: { ...question, panel: { id: 'x', personas: ['safety'], constitution: '/etc/c.md' } },
        protocol: 'jury',
      }),
    );
    expect(constitution.message).toContain('panel.constitution');
    const invalid = await rejection(
      resolveDebateRequest({
        request: { ...question, panel: { id: 'x', personas: ['nobody'], tolerance: -1 } },
        protocol: 'jury',
      }),
    );
    expect(invalid).toBeInstanceOf(FileValidationError);
    expect(invalid.message).toContain('tolerance');
  });

  test('an unknown model fails the run before any event', async () => {
    const events: unknown[] = [];
    const error = await (async () => {
      const stream = await juryGraph.stream({ ...question, model: 'nowhere:model' }, { streamMode: 'custom' });
      for await (const event of stream) events.push(event);
    })().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toMatchObject({ code: 'MODEL_NOT_FOUND' });
    expect(events).toEqual([]);
  });

  test('a finished thread refuses a second debate instead of mixing it into the first', async () => {
    const graph = createJuryGraph({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: 'one-debate' } };
    const first = await graph.invoke({ ...question, model: 'fake:judge' }, config);
    expect(DebateResultSchema.safeParse(first.result).success).toBe(true);
    await expect(graph.invoke({ ...question, model: 'fake:judge' }, config)).rejects.toThrow(
      /already holds the finished debate .*new thread/,
    );
  });

  test('a prepared { setup } still runs as before, with the same events as plain input', async () => {
    const setup = createDebateSetup({
      panel: makePanel({ protocol: 'jury' }),
      input: { prompt: 'p', candidates: [{ id: 'x', text: 'x' }] },
      defaultModel: 'fake:judge',
    });
    const events: DebateEvent[] = [];
    for await (const event of await juryGraph.stream({ setup }, { streamMode: 'custom' })) events.push(event as DebateEvent);
    expectValidStream(events);
    expect(events.map((event) => event.type).filter((type) => type !== 'turn-delta')).toEqual([
      'debate-start',
      'turn-start',
      'turn-start',
      'turn-start',
      'turn-end',
      'turn-end',
      'turn-end',
      'round-end',
      'verdict',
      'debate-end',
    ]);
  });
});

describe('human escalation (panel escalate)', () => {
  const uncertain = { id: 'uncertain', personas: ['safety', 'efficiency', 'creativity'], maxRounds: 0 };

  test('the panel contract takes escalate and names a bad value by line', () => {
    const { panel } = parsePanel('id: p\npersonas: [safety]\nescalate:\n  belowConsensusProbability: 0.6\n', 'p.yaml');
    expect(panel.escalate).toEqual({ belowConsensusProbability: 0.6 });
    expect(() => parsePanel('id: p\npersonas: [safety]\nescalate:\n  belowConsensusProbability: 2\n', 'p.yaml')).toThrow(
      /line 4: escalate\.belowConsensusProbability/,
    );
    expect(() => parsePanel('id: p\npersonas: [safety]\nescalate:\n  below: 0.6\n', 'p.yaml')).toThrow(
      /line 4: escalate: unknown field\(s\) "below"/,
    );
  });

  test('a certain panel finishes without interrupting and records why', async () => {
    const graph = createSimultaneousGraph({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: 'certain' } };
    const out = await graph.invoke(
      { ...question, model: 'fake:judge', panel: { ...uncertain, escalate: { belowConsensusProbability: 0 } } },
      config,
    );
    expect((await graph.getState(config)).next).toEqual([]);
    expect(out.review).toMatchObject({ escalated: false, threshold: 0 });
    expect(out.review?.consensusProbability).toBeGreaterThan(0);
  });

  test('a graph without a checkpointer cannot wait: the uncertain debate is marked escalated and finishes', async () => {
    const out = await createSimultaneousGraph().invoke({
      ...question,
      model: 'fake:judge',
      panel: { ...uncertain, escalate: { belowConsensusProbability: 1 } },
    });
    expect(DebateResultSchema.safeParse(out.result).success).toBe(true);
    expect(out.review).toMatchObject({ escalated: true, threshold: 1 });
    expect(out.review).not.toHaveProperty('human');
  });

  test("a pairwise panel shows the reviewer each critic's last comparison of a candidate", async () => {
    const graph = createSimultaneousGraph({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: 'pairwise' } };
    await graph.invoke(
      {
        ...question,
        model: 'fake:judge',
        panel: { ...uncertain, mode: 'pairwise', escalate: { belowConsensusProbability: 1 } },
      },
      config,
    );
    const state = await graph.getState(config);
    // The fake judge's critics split on this pair.
    expect(state.next).toEqual(['human-review']);
    const request = state.tasks[0]?.interrupts[0]?.value as { candidates: { critics: { rationale?: string }[] }[] };
    for (const candidate of request.candidates) {
      for (const critic of candidate.critics) expect(critic.rationale).toMatch(/^(c1 vs c2|c2 vs c1), prefers (c1|c2|a tie): ./);
    }
  });

  test('without escalate there is no review at all', async () => {
    const graph = createSimultaneousGraph({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: 'plain' } };
    const out = await graph.invoke({ ...question, model: 'fake:judge', panel: uncertain }, config);
    expect(out.review).toBeUndefined();
    expect((await graph.getState(config)).next).toEqual([]);
  });

  test('an uncertain panel interrupts; a wrong-shaped answer is asked again; a "wrong" verdict is recorded', async () => {
    const graph = createSimultaneousGraph({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: 'uncertain' } };
    await graph.invoke(
      { ...question, model: 'fake:judge', panel: { ...uncertain, escalate: { belowConsensusProbability: 1 } } },
      config,
    );
    let state = await graph.getState(config);
    expect(state.next).toEqual(['human-review']);
    const request = state.tasks[0]?.interrupts[0]?.value as { consensusProbability: number; ranking: string[] };
    expect(request.consensusProbability).toBeLessThan(1);
    expect([...request.ranking].sort()).toEqual(['c1', 'c2']);

    await graph.invoke(new Command({ resume: { kind: 'prefer' } }), config);
    state = await graph.getState(config);
    expect(state.next).toEqual(['human-review']);
    expect(JSON.stringify(state.tasks[0]?.interrupts[0]?.value)).toContain(
      'a \\"prefer\\" verdict names the preferred candidate',
    );

    await graph.invoke(new Command({ resume: 'c1' }), config);
    state = await graph.getState(config);
    expect(state.next).toEqual(['human-review']);

    const out = await graph.invoke(new Command({ resume: { kind: 'wrong', note: 'both miss the point' } }), config);
    expect((await graph.getState(config)).next).toEqual([]);
    expect(out.review).toMatchObject({ escalated: true, human: { source: 'human', kind: 'wrong', note: 'both miss the point' } });
    expect(out.review).not.toHaveProperty('refused');
  });
});

describe('a code panel from plain input (Studio, LangGraph Server)', () => {
  afterAll(() => processSandbox().close());
  const TESTS = 'def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n';
  const code = {
    prompt: 'Write add(a, b).',
    candidates: ['```python\ndef add(a, b):\n    return a + b\n```', 'def add(a, b):\n    return a * b\n'],
    panel: 'code',
    model: 'fake:judge',
  };

  test('tests and entryPoint are bounded fields of the plain input', async () => {
    const setup = await resolveDebateRequest({ request: { ...code, tests: TESTS, entryPoint: 'add' }, protocol: 'simultaneous' });
    expect(setup.input.execution).toEqual({ tests: TESTS, entryPoint: 'add' });
    const tooLong = await rejection(
      resolveDebateRequest({ request: { ...code, tests: 'x'.repeat(MAX_TESTS_CHARS + 1) }, protocol: 'simultaneous' }),
    );
    expect(tooLong.message).toMatch(/tests:/);
    const badName = await rejection(
      resolveDebateRequest({ request: { ...code, tests: TESTS, entryPoint: 'add; import os' }, protocol: 'simultaneous' }),
    );
    expect(badName.message).toMatch(/entryPoint:/);
    const alone = await rejection(resolveDebateRequest({ request: { ...code, entryPoint: 'add' }, protocol: 'simultaneous' }));
    expect(alone.message).toMatch(/entryPoint: give tests too/);
  });

  test("the exported graph runs the code in the process's lazy sandbox, with the tests, and only for a panel with tools", async () => {
    // Every debate above used a panel without tools: the process-wide pool never started.
    expect(processSandbox().started).toBe(false);
    const events: DebateEvent[] = [];
    const stream = await simultaneousGraph.stream(
      { ...code, tests: TESTS, entryPoint: 'add' },
      { streamMode: ['custom', 'values'] },
    );
    let result: unknown;
    for await (const [mode, chunk] of stream as AsyncIterable<[string, unknown]>) {
      if (mode === 'custom') events.push(chunk as DebateEvent);
      else result = (chunk as { result?: unknown }).result ?? result;
    }
    expectValidStream(events);
    expect(processSandbox().started).toBe(true);
    const toolResults = events.filter((event): event is DebateEventOf<'tool-result'> => event.type === 'tool-result');
    expect(toolResults.map((event) => [event.candidateId, event.result.status, event.withTests])).toEqual([
      ['c1', 'passed', true],
      ['c2', 'failed', true],
    ]);
    // Once per candidate across both rounds: later nodes take the runs from the graph state.
    const parsed = DebateResultSchema.parse(result);
    expect(parsed.verdict.ranking).toEqual(['c1', 'c2']);
    const verifier = parsed.turns.filter((turn) => turn.criticId === 'code-tests' && turn.round === 0);
    expect(verifier.map((turn) => [turn.candidateId, turn.assessment?.score])).toEqual([
      ['c1', 10],
      ['c2', 5.5],
    ]);
  });
});
