import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DebateEvent } from '../../src/contracts/index.js';
import { LabelRowSchema, PROTOCOL_NAME, ServerFrameSchema } from '../../src/contracts/index.js';
import { exportRun } from '../../src/runner/index.js';
import { startServer } from '../../src/server/index.js';
import { CANDIDATES, PROMPT, RefusedError, startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** Asserts a debate's events are exactly seq 0..n with one debate-start first and one debate-end last. */
function expectCompleteStream(events: readonly DebateEvent[]): void {
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
  expect(events[0]?.type).toBe('debate-start');
  expect(events.at(-1)?.type).toBe('debate-end');
  expect(events.filter((event) => event.type === 'verdict')).toHaveLength(1);
}

describe('tribunal serve: authentication', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('refuses an upgrade without a token, and with a wrong one, with 401', async () => {
    await expect(TestClient.connect(server.streamUrl)).rejects.toMatchObject({ status: 401 });
    await expect(TestClient.connect(server.streamUrl, { token: 'not-the-token-at-all' })).rejects.toBeInstanceOf(RefusedError);
    await expect(TestClient.connect(`${server.streamUrl}?token=wrong`)).rejects.toMatchObject({ status: 401 });
  });

  it('accepts the right token as a bearer header, a subprotocol (echoing tribunal.v1) or a query parameter', async () => {
    const byHeader = await TestClient.connect(server.streamUrl, { token: server.token });
    expect(byHeader.frames[0]).toMatchObject({ v: 1, type: 'hello', server: 'tribunal', liveRunId: 'live' });
    expect(ServerFrameSchema.safeParse(byHeader.frames[0]).success).toBe(true);
    byHeader.close();

    const byProtocol = await TestClient.connect(server.streamUrl, { protocols: [PROTOCOL_NAME, `bearer.${server.token}`] });
    expect(byProtocol.ws.protocol).toBe(PROTOCOL_NAME);
    byProtocol.close();

    const byQuery = await TestClient.connect(`${server.streamUrl}?token=${encodeURIComponent(server.token)}`);
    byQuery.close();
  });

  it('checks browser origins against the allowlist', async () => {
    await expect(
      TestClient.connect(server.streamUrl, { token: server.token, headers: { Origin: 'http://evil.example' } }),
    ).rejects.toMatchObject({ status: 403 });
    const own = await TestClient.connect(server.streamUrl, { token: server.token, headers: { Origin: server.url } });
    own.close();
  });

  it('guards the JSON API with the same token', async () => {
    expect((await fetch(`${server.url}/v1/runs`)).status).toBe(401);
    const response = await fetch(`${server.url}/v1/runs`, { headers: { Authorization: `Bearer ${server.token}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { runs: Array<{ runId: string; live: boolean }> };
    expect(body.runs).toContainEqual(expect.objectContaining({ runId: 'live', live: true }));
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${server.url}/../package.json`)).status).toBe(404);
  });

  it('refuses to bind a non-loopback address without a token, and generates one on loopback', async () => {
    await expect(startServer({ host: '0.0.0.0', port: 0, storeDir: `${server.dir}/other`, settings: {} })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    expect(server.tokenGenerated).toBe(true);
    expect(server.token.length).toBeGreaterThanOrEqual(32);
  });
});

describe('tribunal serve: debates', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('streams a debate started over the socket to its verdict, stores it and its label row', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
    expect(ack).toMatchObject({ type: 'ack', for: 'debate.start', runId: 'live', sub: expect.any(String) });
    if (ack.type !== 'ack' || !ack.debateId || !ack.sub) throw new Error('no ack');
    const { debateId, sub } = ack;
    await client.waitFor(() => client.events(sub).some((event) => event.type === 'debate-end'));
    const events = client.events(sub);
    expectCompleteStream(events);
    expect(events.filter((event) => event.type === 'turn-delta').length).toBeGreaterThan(0);
    for (const frame of client.frames) expect(ServerFrameSchema.safeParse(frame).success).toBe(true);
    const ackIndex = client.frames.findIndex((frame) => frame.type === 'ack');
    const firstEvent = client.frames.findIndex((frame) => frame.type === 'event');
    expect(ackIndex).toBeLessThan(firstEvent);

    await server.live.settled(debateId);
    const stored = await server.store.eventsAfter({ runId: 'live', debateId, limit: 10_000 });
    expect(stored.map((entry) => entry.event)).toEqual(events);
    const item = await server.store.getItem({ runId: 'live', itemId: debateId });
    expect(item?.state).toBe('done');
    expect(item?.result?.ranking).toEqual(events.find((event) => event.type === 'verdict')?.ranking);
    client.close();
  });

  it('runs a code debate with the tests the frame gives, and refuses an entry point without tests', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const tests = 'def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n';
    const candidates = ['```python\ndef add(a, b):\n    return a + b\n```', 'def add(a, b):\n    return a * b\n'];
    const refused = await client.request({
      type: 'debate.start',
      prompt: 'Write add(a, b).',
      candidates,
      panel: 'code',
      entryPoint: 'add',
    });
    expect(refused).toMatchObject({ type: 'error', message: expect.stringContaining('entryPoint') });
    const tooLong = await client.request({
      type: 'debate.start',
      prompt: 'Write add(a, b).',
      candidates,
      panel: 'code',
      tests: 'x'.repeat(100_001),
    });
    expect(tooLong).toMatchObject({ type: 'error', message: expect.stringContaining('tests') });

    const ack = await client.request({
      type: 'debate.start',
      prompt: 'Write add(a, b).',
      candidates,
      panel: 'code',
      tests,
      entryPoint: 'add',
    });
    if (ack.type !== 'ack' || !ack.debateId || !ack.sub) throw new Error(`no ack: ${JSON.stringify(ack)}`);
    const { debateId, sub } = ack;
    await client.waitFor(() => client.events(sub).some((event) => event.type === 'debate-end'));
    const toolResults = client.events(sub).flatMap((event) => (event.type === 'tool-result' ? [event] : []));
    expect(toolResults.map((event) => [event.candidateId, event.withTests, event.result.status])).toEqual([
      ['c1', true, 'passed'],
      ['c2', true, 'failed'],
    ]);
    expect(toolResults[1]?.result.tests.map((test) => test.passed)).toEqual([false, true]);
    await server.live.settled(debateId);
    const item = await server.store.getItem({ runId: 'live', itemId: debateId });
    expect(item?.state).toBe('done');
    expect(item?.item.meta).toMatchObject({ origin: 'websocket', tests, entry_point: 'add' });
    expect(item?.result?.ranking).toEqual(['c1', 'c2']);
    client.close();
  });

  it('resumes with afterSeq after a dropped connection, losing nothing and repeating nothing', async () => {
    const first = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await first.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
    if (ack.type !== 'ack' || !ack.debateId || !ack.sub) throw new Error('no ack');
    const { debateId, sub } = ack;
    // Drop the connection mid-debate, right after the first turn ends.
    await first.waitFor(() => first.events(sub).some((event) => event.type === 'turn-end'));
    first.ws.terminate();
    const seen = first.events(sub);
    const lastSeq = seen.at(-1)?.seq ?? -1;

    const second = await TestClient.connect(server.streamUrl, { token: server.token });
    const resumed = await second.request({ type: 'run.subscribe', run: 'live', debateId, afterSeq: lastSeq });
    if (resumed.type !== 'ack' || !resumed.sub) throw new Error('no ack');
    await second.waitFor(() => second.events(resumed.sub).some((event) => event.type === 'debate-end'));
    expectCompleteStream([...seen, ...second.events(resumed.sub)]);
    expect(second.frames.some((frame) => frame.type === 'subscription.live' && frame.sub === resumed.sub)).toBe(true);

    // After the debate ended (events now come from the store): exactly the events after the given seq.
    await server.live.settled(debateId);
    const third = await TestClient.connect(server.streamUrl, { token: server.token });
    const late = await third.request({ type: 'run.subscribe', run: 'live', debateId, afterSeq: 40 });
    if (late.type !== 'ack' || !late.sub) throw new Error('no ack');
    const live = await third.waitFor(() =>
      third.frames.find((frame) => frame.type === 'subscription.live' && frame.sub === late.sub),
    );
    const replayed = third.events(late.sub);
    expect(replayed[0]?.seq).toBe(41);
    expect(replayed.at(-1)?.type).toBe('debate-end');
    expect(live).toMatchObject({ replayed: replayed.length });

    // A run subscription with a map resumes every debate after its entry.
    const runSub = await third.request({ type: 'run.subscribe', run: 'live', afterSeq: { [debateId]: lastSeq } });
    if (runSub.type !== 'ack' || !runSub.sub) throw new Error('no ack');
    await third.waitFor(() => third.frames.find((frame) => frame.type === 'subscription.live' && frame.sub === runSub.sub));
    const ofDebate = third.events(runSub.sub).filter((event) => event.debateId === debateId);
    expect(ofDebate[0]?.seq).toBe(lastSeq + 1);
    expectCompleteStream([...seen, ...ofDebate]);
    second.close();
    third.close();
  });

  it('cancels a running debate; it ends in debate-error ABORTED and is stored as failed', async () => {
    const slow = await startTestServer({ model: 'fake:judge?latencyMs=400' });
    try {
      const client = await TestClient.connect(slow.streamUrl, { token: slow.token });
      const ack = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
      if (ack.type !== 'ack' || !ack.debateId || !ack.sub) throw new Error('no ack');
      await client.waitFor(() => client.events(ack.sub).some((event) => event.type === 'turn-start'));
      expect(await client.request({ type: 'run.cancel', debateId: ack.debateId })).toMatchObject({
        type: 'ack',
        for: 'run.cancel',
      });
      const failure = await client.waitFor(() => client.events(ack.sub).find((event) => event.type === 'debate-error'));
      expect(failure).toMatchObject({ code: 'ABORTED' });
      await slow.live.settled(ack.debateId);
      expect((await slow.store.getItem({ runId: 'live', itemId: ack.debateId }))?.state).toBe('failed');
      expect(await client.request({ type: 'run.cancel', debateId: ack.debateId })).toMatchObject({ code: 'NOT_CANCELLABLE' });
      client.close();
    } finally {
      await slow.cleanup();
    }
  });

  it('stores a verdict override as a human label that the export carries', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
    if (ack.type !== 'ack' || !ack.debateId || !ack.sub) throw new Error('no ack');
    const { debateId } = ack;
    await client.waitFor(() => client.events(ack.sub).some((event) => event.type === 'debate-end'));
    await server.live.settled(debateId);

    const missing = await client.request({ type: 'verdict.override', run: 'live', debateId, kind: 'prefer' });
    expect(missing).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    const unknown = await client.request({ type: 'verdict.override', run: 'live', debateId, kind: 'prefer', candidateId: 'c9' });
    expect(unknown).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    const saved = await client.request({
      type: 'verdict.override',
      run: 'live',
      debateId,
      kind: 'prefer',
      candidateId: 'c2',
      note: 'c1 is right, but c2 is what we want',
    });
    expect(saved).toMatchObject({ type: 'ack', override: { kind: 'prefer', candidateId: 'c2', debateId, itemId: debateId } });

    const overrides = await server.store.listOverrides({ runId: 'live', debateId });
    expect(overrides).toHaveLength(1);
    // `tribunal export` of the server's store writes the override into labels.jsonl, marked as human.
    const directory = path.join(server.dir, 'export');
    await exportRun({ store: server.store, runId: 'live', directory });
    const exported = readFileSync(path.join(directory, 'labels.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => LabelRowSchema.parse(JSON.parse(line)));
    const row = exported.find((candidate) => candidate.debateId === debateId);
    expect(row?.meta).toMatchObject({
      humanPreferred: 'c2',
      humanOverride: { source: 'human', kind: 'prefer', candidateId: 'c2', note: 'c1 is right, but c2 is what we want' },
    });
    client.close();
  });
});

describe('tribunal serve: error frames', () => {
  let server: TestServer;
  let client: TestClient;
  beforeAll(async () => {
    server = await startTestServer();
    client = await TestClient.connect(server.streamUrl, { token: server.token });
  });
  afterAll(async () => {
    client.close();
    await server.cleanup();
  });

  it('answers invalid frames with coded errors and keeps the connection up', async () => {
    client.sendRaw('{not json');
    await client.waitFor(() => client.errors().find((frame) => frame.code === 'BAD_JSON'));
    client.sendRaw(Buffer.from([1, 2, 3]));
    await client.waitFor(() => client.errors().find((frame) => frame.code === 'BAD_FRAME' && frame.message.includes('binary')));
    expect(await client.request({ type: 'debate.finish' })).toMatchObject({ type: 'error', code: 'UNKNOWN_TYPE' });
    expect(await client.request({ v: 2, type: 'run.subscribe', run: 'live' })).toMatchObject({ code: 'UNSUPPORTED_VERSION' });
    expect(await client.request({ type: 'debate.start', prompt: PROMPT })).toMatchObject({ code: 'BAD_FRAME' });
    expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: ['a'], extra: 1 })).toMatchObject({
      code: 'BAD_FRAME',
    });
    expect(
      await client.request({ type: 'debate.start', prompt: PROMPT, candidates: ['a'], panel: '../etc/passwd' }),
    ).toMatchObject({
      code: 'BAD_FRAME',
    });
    expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: ['a'], panel: 'nope' })).toMatchObject({
      code: 'PANEL_INVALID',
    });
    expect(
      await client.request({
        type: 'debate.start',
        prompt: PROMPT,
        candidates: [
          { id: 'x', text: 'a' },
          { id: 'x', text: 'b' },
        ],
      }),
    ).toMatchObject({ code: 'INPUT_INVALID' });
    expect(await client.request({ type: 'run.subscribe', run: 'no-such-run' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.request({ type: 'run.subscribe', run: 'live', debateId: 'nope' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.request({ type: 'run.subscribe', run: 'live', afterSeq: 3 })).toMatchObject({ code: 'BAD_FRAME' });
    expect(await client.request({ type: 'run.unsubscribe', sub: 's999' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.request({ type: 'run.cancel', debateId: 'nope' })).toMatchObject({ code: 'NOT_FOUND' });
    // Still up: a valid request works.
    expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack', for: 'run.subscribe' });
    expect(client.closeCode).toBeUndefined();
    expect(server.token.length).toBeGreaterThan(0);
    for (const frame of client.errors()) expect(frame.message).not.toContain(server.token);
  });
});

describe('tribunal serve: limits', () => {
  it('closes a connection that sends a message over the size limit with 1009', async () => {
    const server = await startTestServer({ limits: { maxMessageBytes: 1024 } });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      client.send({ type: 'debate.start', prompt: 'x'.repeat(2048), candidates: ['a'] });
      expect(await client.closed()).toBe(1009);
    } finally {
      await server.cleanup();
    }
  });

  it('rate-limits messages, then closes sustained abuse with 1008', async () => {
    const server = await startTestServer({
      limits: { messagesPerSecond: 0.001, messageBurst: 3, maxStrikes: 4, strikesForgivenPerSecond: 0.001 },
    });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      for (let index = 0; index < 3; index++) client.send({ type: 'run.subscribe', run: 'live' });
      client.send({ type: 'run.subscribe', run: 'live' });
      await client.waitFor(() => client.errors().find((frame) => frame.code === 'RATE_LIMITED'));
      expect(client.closeCode).toBeUndefined();
      for (let index = 0; index < 5; index++) client.sendRaw('nope');
      expect(await client.closed()).toBe(1008);
      expect(client.errors().some((frame) => frame.code === 'POLICY_VIOLATION')).toBe(true);
    } finally {
      await server.cleanup();
    }
  });

  it('closes after a burst of invalid frames with 1008', async () => {
    const server = await startTestServer({ limits: { maxStrikes: 5, strikesForgivenPerSecond: 0.001 } });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      for (let index = 0; index < 10; index++) client.sendRaw('{');
      expect(await client.closed()).toBe(1008);
      expect(client.errors().filter((frame) => frame.code === 'BAD_JSON').length).toBeGreaterThanOrEqual(5);
    } finally {
      await server.cleanup();
    }
  });

  it('limits concurrent debates and subscriptions per connection', async () => {
    const server = await startTestServer({
      model: 'fake:judge?latencyMs=300',
      limits: { maxConcurrentDebates: 1, maxSubscriptions: 2 },
    });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      const first = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
      expect(first).toMatchObject({ type: 'ack' });
      expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES })).toMatchObject({
        code: 'LIMIT_EXCEEDED',
      });
      expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
      expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ code: 'LIMIT_EXCEEDED' });
      if (first.type === 'ack' && first.debateId) await client.request({ type: 'run.cancel', debateId: first.debateId });
      client.close();
    } finally {
      await server.cleanup();
    }
  });

  it('terminates a peer that stops answering pings', async () => {
    const server = await startTestServer({ limits: { heartbeatMs: 50 } });
    try {
      const ws = new WebSocket(server.streamUrl, { headers: { Authorization: `Bearer ${server.token}` }, autoPong: false });
      const code = await new Promise<number>((resolve, reject) => {
        ws.once('close', (closeCode) => resolve(closeCode));
        ws.once('error', reject);
      });
      expect(code).toBe(1006); // terminated: no close frame
      expect(server.logs.some((line) => line.includes('no pong'))).toBe(true);
      // A client that answers stays up across several heartbeats.
      const healthy = await TestClient.connect(server.streamUrl, { token: server.token });
      let pings = 0;
      await new Promise<void>((resolve) => {
        healthy.ws.on('ping', () => {
          if (++pings === 4) resolve();
        });
      });
      expect(healthy.closeCode).toBeUndefined();
      healthy.close();
    } finally {
      await server.cleanup();
    }
  });
});
