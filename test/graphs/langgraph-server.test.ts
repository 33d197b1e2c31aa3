import { Client } from '@langchain/langgraph-sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DebateEvent, DebateResultSchema, PROTOCOLS, type Protocol } from '../../src/contracts/index.js';
import { expectValidStream } from '../engine/helpers.js';
import { type LangGraphServer, startLangGraphServer } from './langgraph-server.js';

/**
 * The three exported graphs on the real LangGraph API server (what `npx @langchain/langgraph-cli dev` runs, over the
 * project's langgraph.json, on a loopback port, offline), driven by `@langchain/langgraph-sdk` as a Studio or
 * deployment client would: plain input, custom-stream events, final state, interrupt and resume.
 */
const question = { prompt: 'Capital of Australia?', candidates: ['Canberra', 'Sydney'] };
const PERSONAS = ['safety', 'efficiency', 'creativity'];

let server: LangGraphServer;
let client: Client;

beforeAll(async () => {
  server = await startLangGraphServer();
  client = new Client({ apiUrl: server.url });
});

afterAll(async () => {
  await server?.stop();
  // The guard ran in the server, and nothing it loaded (LangSmith, telemetry, providers) tried to leave the machine.
  expect(server?.output() ?? '').toContain('loopback-only: active');
  expect(server?.output() ?? '').not.toContain('loopback-only: refused');
});

/** Streams one run's custom events (the debate events) and fails on a run error. */
async function streamRun(
  threadId: string,
  graphId: string,
  payload: { input?: Record<string, unknown> | null; command?: { resume: unknown }; config?: Record<string, unknown> },
): Promise<{ events: DebateEvent[]; errors: unknown[] }> {
  const events: DebateEvent[] = [];
  const errors: unknown[] = [];
  for await (const chunk of client.runs.stream(threadId, graphId, { ...payload, streamMode: ['custom'] } as never)) {
    const { event, data } = chunk as { event: string; data: unknown };
    if (event === 'custom') events.push(data as DebateEvent);
    if (event === 'error') errors.push(data);
  }
  return { events, errors };
}

describe('the debate graphs on the LangGraph API server', () => {
  test.each(PROTOCOLS.map((protocol) => [protocol]))(
    '%s runs from plain input, streams its events and leaves the result in the thread state',
    async (protocol: Protocol) => {
      const thread = await client.threads.create();
      const { events, errors } = await streamRun(thread.thread_id, protocol, {
        input: { ...question, model: 'fake:judge', maxRounds: 1 },
      });
      expect(errors).toEqual([]);
      expectValidStream(events);
      expect(events[0]?.type).toBe('debate-start');
      expect(events.at(-1)?.type).toBe('debate-end');
      const start = events[0] as DebateEvent & { type: 'debate-start' };
      expect(start.panel.protocol).toBe(protocol);
      expect(start.critics.map((critic) => critic.model)).toEqual(['fake:judge', 'fake:judge', 'fake:judge']);

      const state = await client.threads.getState(thread.thread_id);
      expect(state.next).toEqual([]);
      const values = state.values as Record<string, unknown>;
      const result = DebateResultSchema.parse(values.result);
      expect(result.protocol).toBe(protocol);
      expect([...result.verdict.ranking].sort()).toEqual(['c1', 'c2']);
      const verdict = events.find((event) => event.type === 'verdict') as DebateEvent & { type: 'verdict' };
      expect(verdict.ranking).toEqual(result.verdict.ranking);
      // Per-round scores, as the round-end events report them.
      const roundEnds = events.filter((event) => event.type === 'round-end');
      const rounds = values.rounds as { round: number; converged: boolean }[];
      expect(rounds.map((round) => round.round)).toEqual(roundEnds.map((event) => event.round));
      // Studio's chat view: the prompt, each successful critic turn named after its persona, the verdict.
      const messages = values.messages as { type: string; name?: string; content: string }[];
      expect(messages[0]).toMatchObject({ type: 'human', content: question.prompt });
      const critics = messages.filter((message) => message.type === 'ai' && PERSONAS.includes(message.name ?? ''));
      expect(critics).toHaveLength(result.turns.filter((turn) => turn.status === 'ok').length);
      expect(messages.at(-1)).toMatchObject({ type: 'ai', name: 'verdict' });
    },
  );

  test('invalid plain input fails the run with an error naming the field', async () => {
    const thread = await client.threads.create();
    const { events, errors } = await streamRun(thread.thread_id, 'simultaneous', {
      input: { prompt: 'Capital of Australia?', candidates: [], model: 'fake:judge' },
    });
    expect(events).toEqual([]);
    expect(JSON.stringify(errors)).toContain('candidates: give at least one candidate answer');
  });

  test('an assistant configured with a model and panel runs plain input without naming them', async () => {
    const assistant = await client.assistants.create({
      graphId: 'simultaneous',
      config: { configurable: { model: 'fake:judge', panel: 'jury' } },
    });
    const thread = await client.threads.create();
    const { events, errors } = await streamRun(thread.thread_id, assistant.assistant_id, { input: question });
    expect(errors).toEqual([]);
    const start = events[0] as DebateEvent & { type: 'debate-start' };
    // panels/jury.yaml's panel, run by the simultaneous graph, every critic on the configured model.
    expect(start.panel.id).toBe('jury');
    expect(start.panel.protocol).toBe('simultaneous');
    expect(start.critics.every((critic) => critic.model === 'fake:judge')).toBe(true);

    // The same settings as the assistant's runtime context (how LangGraph 1.x assistants carry them).
    const withContext = await client.assistants.create({ graphId: 'jury', context: { model: 'fake:judge', panel: 'full' } });
    const other = await client.threads.create();
    const run = await streamRun(other.thread_id, withContext.assistant_id, { input: question });
    expect(run.errors).toEqual([]);
    const started = run.events[0] as DebateEvent & { type: 'debate-start' };
    expect(started.panel.id).toBe('full');
    expect(started.critics.every((critic) => critic.model === 'fake:judge')).toBe(true);
  });

  test('an uncertain panel interrupts for a human verdict, which a resume records, also after the server restarts', async () => {
    const thread = await client.threads.create();
    const panel = { id: 'uncertain', personas: PERSONAS, maxRounds: 0, escalate: { belowConsensusProbability: 1 } };
    const first = await streamRun(thread.thread_id, 'simultaneous', {
      input: { ...question, model: 'fake:judge', panel },
    });
    expect(first.errors).toEqual([]);
    expect(first.events.at(-1)?.type).toBe('debate-end');
    let state = await client.threads.getState(thread.thread_id);
    expect(state.next).toEqual(['human-review']);
    const request = state.tasks[0]?.interrupts[0]?.value as {
      consensusProbability: number;
      threshold: number;
      candidates: { candidateId: string; text: string; critics: { criticId: string; score: number; rationale: string }[] }[];
    };
    expect(request.consensusProbability).toBeLessThan(1);
    expect(request.threshold).toBe(1);
    expect(request.candidates.map((candidate) => candidate.text).sort()).toEqual(['Canberra', 'Sydney']);
    expect(request.candidates[0]?.critics.map((critic) => critic.criticId)).toEqual(PERSONAS);
    expect(request.candidates[0]?.critics.every((critic) => critic.rationale.length > 0)).toBe(true);

    // The thread survives a restart of the server (its storage is on disk).
    await server.stop();
    server = await startLangGraphServer({ cwd: server.cwd });
    client = new Client({ apiUrl: server.url });
    state = await client.threads.getState(thread.thread_id);
    expect(state.next).toEqual(['human-review']);

    // An answer that names no candidate of the debate is refused: the debate asks again, saying why.
    const refused = await streamRun(thread.thread_id, 'simultaneous', {
      command: { resume: { kind: 'prefer', candidateId: 'c9' } },
    });
    expect(refused.errors).toEqual([]);
    state = await client.threads.getState(thread.thread_id);
    expect(state.next).toEqual(['human-review']);
    expect(JSON.stringify(state.tasks[0]?.interrupts[0]?.value)).toContain('\\"c9\\" is not a candidate of this debate');
    expect((state.values as { review: { refused?: string } }).review.refused).toContain('"c9" is not a candidate');

    const resumed = await streamRun(thread.thread_id, 'simultaneous', {
      command: { resume: { kind: 'prefer', candidateId: 'c1', note: 'Canberra is the capital.' } },
    });
    expect(resumed.errors).toEqual([]);
    // The debate's events were all sent before the interrupt; the review adds none.
    expect(resumed.events).toEqual([]);
    state = await client.threads.getState(thread.thread_id);
    expect(state.next).toEqual([]);
    const values = state.values as { review: Record<string, unknown>; result: unknown };
    expect(values.review).toMatchObject({
      escalated: true,
      threshold: 1,
      consensusProbability: request.consensusProbability,
      human: { source: 'human', kind: 'prefer', candidateId: 'c1', note: 'Canberra is the capital.' },
    });
    expect(values.review).not.toHaveProperty('refused');
    expect(DebateResultSchema.safeParse(values.result).success).toBe(true);
  });
});
