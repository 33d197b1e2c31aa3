import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import { CANDIDATES, PROMPT, startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;
type WireServer = Awaited<ReturnType<typeof startOpenAIWireServer>>;

const API_KEY = 'sk-test-SECRET0123456789abcdef';

describe('tribunal serve with an OpenAI-compatible server', () => {
  let wire: WireServer;
  let server: TestServer;
  beforeAll(async () => {
    wire = await startOpenAIWireServer();
    let calls = 0;
    wire.setScript((request) => {
      calls++;
      // One call fails the way OpenAI does, echoing the key in its message: it must never reach a client.
      if (calls === 2) return { status: 401, message: `Incorrect API key provided: ${API_KEY}` };
      const schema = JSON.stringify(request.body?.response_format ?? {});
      if (!schema.includes('score')) return undefined;
      const score = 3 + (calls % 5);
      return {
        text: JSON.stringify({ rationale: `Call ${calls}: clear and correct.`, principles: [], score, confidence: 0.8 }),
        chunks: 6,
      };
    });
    server = await startTestServer({
      model: 'openai:gpt-4.1-mini',
      settings: { openaiBaseUrl: wire.baseURL, openaiApiKey: API_KEY, maxRetries: 0 },
    });
  });
  afterAll(async () => {
    await server.cleanup();
    await wire.close();
  });

  it('streams a debate of OpenAI-compatible critics to its verdict, with no API key in any frame', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
    if (ack.type !== 'ack' || !ack.sub) throw new Error(`no ack: ${JSON.stringify(ack)}`);
    await client.waitFor(() => client.count('debate-end') === 1 || client.count('debate-error') === 1);
    const events = client.events(ack.sub);
    expect(events.find((event) => event.type === 'verdict')).toMatchObject({ ranking: expect.arrayContaining(['c1', 'c2']) });
    expect(events.filter((event) => event.type === 'turn-delta').length).toBeGreaterThan(0);
    const failed = events.filter((event) => event.type === 'turn-end' && event.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(client.frames)).not.toContain(API_KEY);
    expect(JSON.stringify(client.frames)).not.toContain('SECRET0123');
    expect(wire.unscripted).toEqual([]);
    client.close();
  });
});
