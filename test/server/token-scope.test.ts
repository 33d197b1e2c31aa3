import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/index.js';
import type { Store } from '../../src/store/index.js';
import { trainerStartEvent } from '../fakes/trainer-events.js';
import { labelItems, openLabelRun } from './label-run-fixture.js';
import { CANDIDATES, PROMPT, startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const READ_TOKEN = 'read-only-token-0123456789abcdef';

/** The message of an error answer with the named reference replaced, to compare refusals of different paths. */
function refusal(answer: { type: string; message?: string }, reference: string): string {
  expect(answer).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
  return (answer.message ?? '').split(JSON.stringify(reference)).join('REF');
}

async function apiGet(server: TestServer, pathAndQuery: string, token = server.token) {
  const response = await fetch(`${server.url}${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
}

describe('tribunal serve: paths are confined to the runs directory', () => {
  let server: TestServer;
  let base: string;
  let outsideStore: Store;
  let insideStore: Store;
  let outsideDir: string;
  let insideDir: string;
  beforeAll(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'tribunal-scope-'));
    const runs = path.join(base, 'runs');
    outsideDir = path.join(base, 'elsewhere', 'label');
    insideDir = path.join(runs, 'label');
    ({ store: outsideStore } = await openLabelRun({ dir: outsideDir, items: 1 }));
    ({ store: insideStore } = await openLabelRun({ dir: insideDir, items: 1 }));
    // A link inside the runs directory that leads out of it.
    symlinkSync(outsideDir, path.join(runs, 'escape'));
    // A training run outside, and one inside.
    const line = `${JSON.stringify(trainerStartEvent({ time: 1735732800, total_steps: 1, steps_per_epoch: 1, config: {} }))}\n`;
    mkdirSync(path.join(base, 'elsewhere', 'train'), { recursive: true });
    writeFileSync(path.join(base, 'elsewhere', 'train', 'events.jsonl'), line);
    mkdirSync(path.join(runs, 'train'));
    writeFileSync(path.join(runs, 'train', 'events.jsonl'), line);
    symlinkSync(path.join(base, 'elsewhere', 'train'), path.join(runs, 'train-link'));
    server = await startTestServer({ cwd: base });
  });
  afterAll(async () => {
    await outsideStore.close();
    await insideStore.close();
    await server.cleanup();
    rmSync(base, { recursive: true, force: true });
  });

  it('refuses run paths outside it (links followed) with one message, whether they exist or not', async () => {
    expect(server.runsDir).toBe(path.join(base, 'runs'));
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const existing = await client.request({ type: 'run.subscribe', run: outsideDir, afterSeq: {} });
    const missing = await client.request({ type: 'run.subscribe', run: path.join(base, 'elsewhere', 'nothing') });
    const relative = await client.request({ type: 'run.subscribe', run: 'elsewhere/label' });
    const linked = await client.request({ type: 'run.subscribe', run: 'runs/escape' });
    const dotted = await client.request({ type: 'run.subscribe', run: 'runs/../elsewhere/label' });
    const message = refusal(existing, outsideDir);
    expect(refusal(missing, path.join(base, 'elsewhere', 'nothing'))).toBe(message);
    expect(refusal(relative, 'elsewhere/label')).toBe(message);
    expect(refusal(linked, 'runs/escape')).toBe(message);
    expect(refusal(dotted, 'runs/../elsewhere/label')).toBe(message);
    // No write reaches a store outside: an override and a cancel are refused the same way.
    const override = await client.request({ type: 'verdict.override', run: outsideDir, debateId: 'd', kind: 'wrong' });
    expect(refusal(override, outsideDir)).toBe(message);
    expect(refusal(await client.request({ type: 'run.cancel', run: outsideDir, debateId: 'd' }), outsideDir)).toBe(message);
    expect(await outsideStore.listOverrides({ runId: (await outsideStore.listRuns())[0]?.id ?? '' })).toEqual([]);

    // Inside it, a labeling run is watched as before.
    const inside = await client.request({ type: 'run.subscribe', run: 'runs/label', afterSeq: {} });
    expect(inside).toMatchObject({ type: 'ack' });
    client.close();
  });

  it('confines the JSON API the same way', async () => {
    const existing = await apiGet(server, `/v1/runs?dir=${encodeURIComponent(outsideDir)}`);
    const missing = await apiGet(server, `/v1/runs?dir=${encodeURIComponent(`${outsideDir}-nothing`)}`);
    expect(existing.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(existing.body.error?.message.split(JSON.stringify(outsideDir)).join('REF')).toBe(
      missing.body.error?.message.split(JSON.stringify(`${outsideDir}-nothing`)).join('REF'),
    );
    expect((await apiGet(server, `/v1/debates?run=${encodeURIComponent(outsideDir)}`)).status).toBe(404);
    expect((await apiGet(server, `/v1/overrides?run=${encodeURIComponent('runs/escape')}`)).status).toBe(404);
    expect((await apiGet(server, `/v1/runs?dir=${encodeURIComponent('runs/label')}`)).status).toBe(200);
    expect((await apiGet(server, `/v1/runs?dir=${'x'.repeat(5000)}`)).status).toBe(400);
  });

  it('confines train.subscribe: outside paths get one message that does not say whether they exist', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const outside = path.join(base, 'elsewhere', 'train');
    const message = refusal(await client.request({ type: 'train.subscribe', runDir: outside }), outside);
    const nothing = path.join(base, 'elsewhere', 'nothing');
    expect(refusal(await client.request({ type: 'train.subscribe', runDir: nothing }), nothing)).toBe(message);
    expect(refusal(await client.request({ type: 'train.subscribe', runDir: '/' }), '/')).toBe(message);
    expect(refusal(await client.request({ type: 'train.subscribe', runDir: 'runs/train-link' }), 'runs/train-link')).toBe(
      message,
    );
    expect(await client.request({ type: 'train.subscribe', runDir: 'runs/train' })).toMatchObject({ type: 'ack' });
    client.close();
  });
});

describe('tribunal serve: the read-only token', () => {
  let server: TestServer;
  let labelDir: string;
  let labelStore: Store;
  let runId: string;
  beforeAll(async () => {
    server = await startTestServer({ readToken: READ_TOKEN });
    labelDir = path.join(server.dir, 'label-run');
    ({ store: labelStore, runId } = await openLabelRun({ dir: labelDir, items: 1 }));
    await labelItems({ store: labelStore, runId, count: 1 });
  });
  afterAll(async () => {
    await labelStore.close();
    await server.cleanup();
  });

  it('watches and lists, but cannot start, cancel or override', async () => {
    const operator = await TestClient.connect(server.streamUrl, { token: server.token });
    expect(operator.frames[0]).toMatchObject({ type: 'hello', access: 'operator' });
    const started = await operator.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
    if (started.type !== 'ack' || !started.debateId) throw new Error('no ack');

    const reader = await TestClient.connect(server.streamUrl, { token: READ_TOKEN });
    expect(reader.frames[0]).toMatchObject({ type: 'hello', access: 'read' });
    const watched = await reader.request({ type: 'run.subscribe', run: 'live', debateId: started.debateId, afterSeq: -1 });
    expect(watched).toMatchObject({ type: 'ack' });
    expect(await reader.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    expect(await reader.request({ type: 'run.cancel', debateId: started.debateId })).toMatchObject({ code: 'FORBIDDEN' });
    const [debate] = await labelStore.listDebates({ runId });
    expect(
      await reader.request({ type: 'verdict.override', run: labelDir, debateId: debate?.debateId ?? '', kind: 'wrong' }),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(await labelStore.listOverrides({ runId })).toEqual([]);
    // The read-only cancel did not stop the debate: it ends with its verdict.
    await reader.waitFor(() => reader.events(watched.type === 'ack' ? watched.sub : '').some((e) => e.type === 'debate-end'));
    expect(reader.closeCode).toBeUndefined();

    const listed = await apiGet(server, `/v1/runs?dir=${encodeURIComponent(labelDir)}`, READ_TOKEN);
    expect(listed.status).toBe(200);
    reader.close();
    operator.close();
  });

  it('must differ from the operator token and be long enough', async () => {
    const options = { host: '127.0.0.1', port: 0, storeDir: path.join(server.dir, 'other'), settings: {} };
    await expect(startServer({ ...options, token: READ_TOKEN, readToken: READ_TOKEN })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(startServer({ ...options, readToken: 'short' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('never echoes a token in an error message, on the API or the socket', async () => {
    for (const secret of [server.token, READ_TOKEN]) {
      for (const query of [`/v1/debates?run=${encodeURIComponent(secret)}`, `/v1/runs?dir=${encodeURIComponent(secret)}`]) {
        const answer = await apiGet(server, query);
        expect(answer.status).toBe(404);
        expect(JSON.stringify(answer.body)).not.toContain(secret);
      }
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      await client.request({ type: 'run.subscribe', run: secret });
      await client.request({ type: 'train.subscribe', runDir: secret });
      await client.request({ type: secret });
      await client.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES, panel: secret });
      expect(client.errors()).toHaveLength(4);
      for (const frame of client.errors()) expect(JSON.stringify(frame)).not.toContain(secret);
      client.close();
    }
  });
});

describe('tribunal serve: handshakes are bounded in time and number', () => {
  /** Opens a raw TCP socket that sends `text` (maybe nothing) and resolves when connected. */
  function rawSocket(port: number, text = ''): Promise<Socket & { closedAt: Promise<void> }> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const closedAt = new Promise<void>((done) => socket.on('close', () => done()));
      socket.on('error', () => undefined);
      socket.on('connect', () => {
        if (text) socket.write(text);
        resolve(Object.assign(socket, { closedAt }));
      });
    });
  }

  it('closes sockets that do not finish their request or upgrade in time', async () => {
    const server = await startTestServer({ limits: { handshakeTimeoutMs: 200 } });
    try {
      const silent = await rawSocket(server.port);
      const partial = await rawSocket(server.port, 'GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
      await Promise.all([silent.closedAt, partial.closedAt]);
      const next = await TestClient.connect(server.streamUrl, { token: server.token });
      next.close();
    } finally {
      await server.cleanup();
    }
  });

  it('closes new sockets beyond the cap on pending handshakes, and counts them toward the connection limit', async () => {
    const server = await startTestServer({ limits: { maxPendingHandshakes: 2, maxConnections: 3 } });
    try {
      const held = [await rawSocket(server.port), await rawSocket(server.port)];
      const beyond = await rawSocket(server.port);
      await beyond.closedAt;
      for (const socket of held) socket.destroy();
      await Promise.all(held.map((socket) => socket.closedAt));
      const first = await TestClient.connect(server.streamUrl, { token: server.token });
      const second = await TestClient.connect(server.streamUrl, { token: server.token });
      // Two connections and one pending socket fill the limit of three: a fourth socket is closed.
      const pending = await rawSocket(server.port);
      const refused = await rawSocket(server.port);
      await refused.closedAt;
      pending.destroy();
      first.close();
      second.close();
    } finally {
      await server.cleanup();
    }
  });
});
