import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANDIDATES, PROMPT, startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** Sends raw bytes on a fresh TCP connection and resolves with what the server answered before closing. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => resolve(answer));
    socket.on('close', () => resolve(answer));
  });
}

describe('tribunal serve: no frame takes the process down', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('answers deeply nested frames with BAD_FRAME (keeping the id) and stays up for this and the next client', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    // The frame: a 10 KB type made of 5000 nested arrays (used to overflow the stack while described).
    client.sendRaw(`{"v":1,"id":"deep-type","type":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    const deepType = await client.waitFor(() => client.errors().find((frame) => frame.id === 'deep-type'));
    expect(deepType).toMatchObject({ code: 'BAD_FRAME', message: expect.stringContaining('nested') });
    // An object nested 20,000 deep inside an otherwise valid request.
    const nested = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    client.sendRaw(`{"v":1,"id":"deep-field","type":"debate.start","prompt":"p","candidates":["a"],"x":${nested}}`);
    expect(await client.waitFor(() => client.errors().find((frame) => frame.id === 'deep-field'))).toMatchObject({
      code: 'BAD_FRAME',
    });
    // Brackets inside strings (and escaped quotes) are text, not nesting: this frame is only rejected for its type.
    client.sendRaw(JSON.stringify({ v: 1, id: 'in-string', type: `\\"${'['.repeat(5000)}` }));
    expect(await client.waitFor(() => client.errors().find((frame) => frame.id === 'in-string'))).toMatchObject({
      code: 'UNKNOWN_TYPE',
    });
    // A huge unknown type and thousands of unknown keys are described within bounds.
    client.sendRaw(JSON.stringify({ v: 1, id: 'long-type', type: 'x'.repeat(200_000) }));
    const longType = await client.waitFor(() => client.errors().find((frame) => frame.id === 'long-type'));
    expect(longType.message.length).toBeLessThan(1000);
    const keys = Object.fromEntries(Array.from({ length: 5000 }, (_, index) => [`key${index}-${'k'.repeat(30)}`, 1]));
    client.sendRaw(JSON.stringify({ v: 1, id: 'many-keys', type: 'run.subscribe', run: 'live', ...keys }));
    const manyKeys = await client.waitFor(() => client.errors().find((frame) => frame.id === 'many-keys'));
    expect(manyKeys).toMatchObject({ code: 'BAD_FRAME' });
    expect(manyKeys.message.length).toBeLessThan(2000);

    expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
    expect(client.closeCode).toBeUndefined();
    const next = await TestClient.connect(server.streamUrl, { token: server.token });
    expect(await next.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
    next.close();
    client.close();
  });

  it('survives request lines that are not URLs, on the API and on the upgrade path', async () => {
    const api = await rawRequest(
      server.port,
      `GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${server.token}\r\n\r\n`,
    );
    expect(api).toMatch(/^HTTP\/1\.1 4\d\d/);
    const upgrade = await rawRequest(
      server.port,
      'GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${server.token}\r\n\r\n`,
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 4\d\d/);
    const next = await TestClient.connect(server.streamUrl, { token: server.token });
    next.close();
  });
});

describe('tribunal serve: the server-wide debate cap holds under concurrent starts', () => {
  it('never runs more debates than maxLiveDebates, however many starts arrive at once', async () => {
    const cap = 4;
    const server = await startTestServer({
      model: 'fake:judge?latencyMs=2000',
      limits: { maxLiveDebates: cap, maxConcurrentDebates: 4 },
    });
    try {
      const clients = await Promise.all(
        Array.from({ length: 6 }, () => TestClient.connect(server.streamUrl, { token: server.token })),
      );
      let peak = 0;
      const watch = setInterval(() => {
        peak = Math.max(peak, server.live.count());
      }, 1);
      const answers = await Promise.all(
        clients.flatMap((client) =>
          Array.from({ length: 4 }, () => client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES })),
        ),
      );
      clearInterval(watch);
      peak = Math.max(peak, server.live.count());
      const acks = answers.filter((answer) => answer.type === 'ack');
      expect(acks.length).toBe(cap);
      expect(peak).toBeLessThanOrEqual(cap);
      expect(answers.filter((answer) => answer.type === 'error').every((answer) => answer.code === 'RATE_LIMITED')).toBe(true);
      for (const ack of acks) if (ack.type === 'ack' && ack.debateId) server.live.cancel(ack.debateId);
      // Slots are given back: once the cancelled debates have ended, a new start is accepted.
      await Promise.all(acks.map((ack) => (ack.type === 'ack' && ack.debateId ? server.live.settled(ack.debateId) : undefined)));
      const again = await clients[0]?.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
      expect(again).toMatchObject({ type: 'ack' });
      if (again?.type === 'ack' && again.debateId) server.live.cancel(again.debateId);
      for (const client of clients) client.close();
    } finally {
      await server.cleanup();
    }
  });

  it('gives a reserved slot back when the start fails (an unknown panel, repeated candidate ids)', async () => {
    const server = await startTestServer({ limits: { maxLiveDebates: 1 } });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      for (let index = 0; index < 3; index++) {
        expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: ['a'], panel: 'nope' })).toMatchObject({
          code: 'PANEL_INVALID',
        });
        const repeated = [
          { id: 'x', text: 'a' },
          { id: 'x', text: 'b' },
        ];
        expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: repeated })).toMatchObject({
          code: 'INPUT_INVALID',
        });
      }
      expect(server.live.count()).toBe(0);
      expect(await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES })).toMatchObject({
        type: 'ack',
      });
      client.close();
    } finally {
      await server.cleanup();
    }
  });
});

describe('tribunal serve: ended debates free their subscriptions', () => {
  it('runs more sequential debates on one connection than its subscription limit', async () => {
    const server = await startTestServer({ model: 'fake:judge', limits: { maxSubscriptions: 2 } });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      const subs: string[] = [];
      for (let index = 0; index < 5; index++) {
        const ack = await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
        expect(ack).toMatchObject({ type: 'ack' });
        if (ack.type !== 'ack' || !ack.sub || !ack.debateId) throw new Error('no ack');
        subs.push(ack.sub);
        await client.waitFor(() => client.events(ack.sub).some((event) => event.type === 'debate-end'));
        await server.live.settled(ack.debateId);
      }
      // A replayed finished debate frees its subscription too, after subscription.live.
      const late = await client.request({ type: 'run.subscribe', run: 'live', debateId: client.events(subs[0]).at(0)?.debateId });
      if (late.type !== 'ack' || !late.sub) throw new Error('no ack');
      await client.waitFor(() => client.liveSubs.has(late.sub as string));
      // Two open subscriptions still fit, and unsubscribing from an ended one is acknowledged.
      expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
      expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ type: 'ack' });
      expect(await client.request({ type: 'run.subscribe', run: 'live' })).toMatchObject({ code: 'LIMIT_EXCEEDED' });
      expect(await client.request({ type: 'run.unsubscribe', sub: subs[0] })).toMatchObject({ type: 'ack' });
      client.close();
    } finally {
      await server.cleanup();
    }
  });
});

describe('tribunal serve: RATE_LIMITED answers carry the request id', () => {
  it('repeats the id of a request dropped for its rate', async () => {
    const server = await startTestServer({
      limits: { messagesPerSecond: 0.001, messageBurst: 2, maxStrikes: 100, strikesForgivenPerSecond: 0.001 },
    });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      client.send({ type: 'run.subscribe', run: 'live', id: 'a' });
      client.send({ type: 'run.subscribe', run: 'live', id: 'b' });
      const dropped = await client.request({ type: 'run.subscribe', run: 'live', id: 'c' });
      expect(dropped).toMatchObject({ type: 'error', code: 'RATE_LIMITED', id: 'c' });
      // Without a parseable id the error has none.
      client.sendRaw('{"v":1,"id":');
      await client.waitFor(() => client.errors().filter((frame) => frame.code === 'RATE_LIMITED').length === 2);
      expect(client.errors().filter((frame) => frame.code === 'RATE_LIMITED')[1]?.id).toBeUndefined();
      client.close();
    } finally {
      await server.cleanup();
    }
  });
});
