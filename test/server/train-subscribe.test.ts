import { appendFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ServerFrame,
  ServerFrameSchema,
  type TrainEventFrame,
  type TrainerEvent,
  TrainerEventSchema,
} from '../../src/contracts/index.js';
import { renderProtocolDoc } from '../../src/server/index.js';
import { trainerStartEvent } from '../fakes/trainer-events.js';
import { startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** Real event shapes of a DPO run (src/contracts/trainer.ts), one per line of events.jsonl. */
const start = trainerStartEvent({ time: 1735732800, total_steps: 4, steps_per_epoch: 4, config: { task: 'dpo' } });
const metric = (seq: number, step: number) => ({
  v: 1,
  type: 'metric',
  seq,
  time: 1735732800 + seq,
  step,
  epoch: step / 4,
  loss: 0.69 - step * 0.01,
  lr: 1e-6,
  grad_norm: null,
  tokens_per_s: 1200.5,
  tokens: step * 512,
  metrics: { 'rewards/accuracies': 0.5, 'rewards/margins': 0.01 },
  future_field: 'passes through',
});
const evaluation = {
  v: 1,
  type: 'eval',
  seq: 4,
  time: 1735732804,
  step: 2,
  epoch: 0.5,
  split: 'eval',
  metrics: { pairs: 4, loss: 0.68, accuracy: 0.75, ece: 0.1, brier: 0.24 },
};
const checkpoint = { v: 1, type: 'checkpoint', seq: 5, time: 1735732805, step: 2, epoch: 0.5, path: '/runs/dpo/checkpoints/s2' };
const done = {
  v: 1,
  type: 'done',
  seq: 6,
  time: 1735732806,
  status: 'completed',
  step: 4,
  epoch: 1,
  checkpoint: '/runs/dpo/checkpoints/s4',
  eval: null,
};

function line(event: unknown): string {
  return `${typeof event === 'string' ? event : JSON.stringify(event)}\n`;
}

/** The `train.event` frames of one subscription, in arrival order. */
function trainEvents(client: TestClient, sub: string): TrainEventFrame[] {
  return client.frames.filter((frame): frame is TrainEventFrame => frame.type === 'train.event' && frame.sub === sub);
}

async function subscribed(client: TestClient, frame: Record<string, unknown>): Promise<{ sub: string; runDir: string }> {
  const ack = await client.request({ type: 'train.subscribe', ...frame });
  if (ack.type !== 'ack' || ack.sub === undefined || ack.runDir === undefined) {
    throw new Error(`expected an ack, got ${JSON.stringify(ack)}`);
  }
  return { sub: ack.sub, runDir: ack.runDir };
}

describe('tribunal serve: watching a training run', () => {
  let server: TestServer;
  let cwd: string;
  let runDir: string;
  let eventsFile: string;
  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-train-watch-'));
    runDir = path.join(cwd, 'runs', 'dpo');
    mkdirSync(runDir, { recursive: true });
    eventsFile = path.join(runDir, 'events.jsonl');
    // Line 2 is not an event: it is skipped, and line numbers still count it.
    writeFileSync(eventsFile, line(start) + line('not an event: CANARY-CONTENT') + line(metric(2, 1)) + line(evaluation));
    server = await startTestServer({ cwd });
  });
  afterAll(async () => {
    await server.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('sends the stored events in order with their lines, then appended ones live; resumes exactly after afterLine', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const { sub, runDir: followed } = await subscribed(client, { runDir: 'runs/dpo' });
    expect(followed).toBe(realpathSync(runDir));
    await client.waitFor(() => trainEvents(client, sub).length === 3);
    const replayed = trainEvents(client, sub);
    expect(replayed.map((frame) => frame.line)).toEqual([1, 3, 4]);
    expect(replayed.map((frame) => frame.event)).toEqual([start, metric(2, 1), evaluation]);
    expect(TrainerEventSchema.parse(replayed[1]?.event)).toMatchObject({ future_field: 'passes through' });
    // The server log names the skipped line by number, never by its content.
    expect(server.logs).toContainEqual(expect.stringMatching(/skipped .*events\.jsonl:2: not a valid trainer event/));
    expect(server.logs.join('\n')).not.toContain('CANARY-CONTENT');

    appendFileSync(eventsFile, line(checkpoint));
    await client.waitFor(() => trainEvents(client, sub).length === 4);
    expect(trainEvents(client, sub).at(-1)).toMatchObject({ line: 5, event: checkpoint });
    for (const frame of client.frames) expect(ServerFrameSchema.safeParse(frame).success, JSON.stringify(frame)).toBe(true);
    const lastSeen = trainEvents(client, sub).at(-1)?.line as number;
    client.close();
    await client.closed();

    // Missed while disconnected: a metric and `done`; then a resumed run appends a new `start`.
    appendFileSync(eventsFile, line(metric(6, 3)) + line(done));
    const again = await TestClient.connect(server.streamUrl, { token: server.token });
    const resumed = await subscribed(again, { runDir, afterLine: lastSeen });
    await again.waitFor(() => trainEvents(again, resumed.sub).length === 2);
    appendFileSync(eventsFile, line({ ...start, seq: 1, time: 1735733000, step: 4, resumed_from: '/runs/dpo/checkpoints/s4' }));
    await again.waitFor(() => trainEvents(again, resumed.sub).length === 3);
    expect(trainEvents(again, resumed.sub).map((frame) => [frame.line, frame.event.type])).toEqual([
      [6, 'metric'],
      [7, 'done'],
      [8, 'start'],
    ]);
    again.close();
  });

  it('refuses a missing path or a directory that is not a training run with NOT_FOUND naming it; the connection stays usable', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const missing = await client.request({ type: 'train.subscribe', runDir: 'runs/nope' });
    expect(missing).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    expect(missing.type === 'error' && missing.message).toContain(path.join(cwd, 'runs', 'nope'));

    const empty = path.join(cwd, 'runs', 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'secret.txt'), 'not for clients\n');
    const notARun = await client.request({ type: 'train.subscribe', runDir: empty });
    expect(notARun).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    expect(notARun.type === 'error' && notARun.message).toMatch(
      /is not a training run directory: it has neither events\.jsonl nor config\.json/,
    );
    expect(notARun.type === 'error' && notARun.message).toContain(empty);

    const aFile = await client.request({ type: 'train.subscribe', runDir: eventsFile });
    expect(aFile).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: expect.stringContaining('is not a directory') });

    // A run directory whose events.jsonl links elsewhere is not followed.
    const linked = path.join(cwd, 'runs', 'linked');
    mkdirSync(linked);
    symlinkSync(path.join(empty, 'secret.txt'), path.join(linked, 'events.jsonl'));
    expect(await client.request({ type: 'train.subscribe', runDir: linked })).toMatchObject({
      type: 'error',
      code: 'NOT_FOUND',
      message: expect.stringContaining('is not a regular file'),
    });

    expect(await client.request({ type: 'train.subscribe', runDir: '' })).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect(await client.request({ type: 'train.unsubscribe', sub: 's99' })).toMatchObject({ type: 'error', code: 'NOT_FOUND' });

    // Still up: a directory holding only config.json (the worker has not written an event yet) is followed.
    const fresh = path.join(cwd, 'runs', 'fresh');
    mkdirSync(fresh);
    writeFileSync(path.join(fresh, 'config.json'), '{}\n');
    const { sub } = await subscribed(client, { runDir: fresh });
    appendFileSync(path.join(fresh, 'events.jsonl'), line(start));
    await client.waitFor(() => trainEvents(client, sub).length === 1);
    expect(trainEvents(client, sub)[0]).toMatchObject({ line: 1, event: start });
    expect(client.closeCode).toBeUndefined();
    client.close();
  });

  it('ends a subscription on train.unsubscribe: nothing of it follows the ack', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const dir = path.join(cwd, 'runs', 'unsubscribe');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'events.jsonl'), line(start));
    const first = await subscribed(client, { runDir: dir });
    await client.waitFor(() => trainEvents(client, first.sub).length === 1);
    expect(await client.request({ type: 'run.unsubscribe', sub: first.sub })).toMatchObject({
      type: 'error',
      code: 'NOT_FOUND',
      message: expect.stringContaining('train.unsubscribe'),
    });
    const ack = await client.request({ type: 'train.unsubscribe', sub: first.sub });
    expect(ack).toMatchObject({ type: 'ack', for: 'train.unsubscribe', sub: first.sub });
    const ackIndex = client.frames.indexOf(ack as ServerFrame);

    const second = await subscribed(client, { runDir: dir, afterLine: 1 });
    appendFileSync(path.join(dir, 'events.jsonl'), line(metric(2, 1)));
    await client.waitFor(() => trainEvents(client, second.sub).length === 1);
    expect(client.frames.slice(ackIndex).filter((frame) => frame.type === 'train.event' && frame.sub === first.sub)).toEqual([]);
    client.close();
  });

  it('documents the training frames in docs/protocol.md', () => {
    const doc = renderProtocolDoc();
    for (const type of ['train.subscribe', 'train.unsubscribe', 'train.event']) expect(doc).toContain(`### \`${type}\``);
  });
});

describe('tribunal serve: training subscriptions and limits', () => {
  let server: TestServer;
  let runDir: string;
  beforeAll(async () => {
    server = await startTestServer({ limits: { maxSubscriptions: 2 } });
    runDir = path.join(server.dir, 'run');
    mkdirSync(runDir);
    writeFileSync(path.join(runDir, 'events.jsonl'), line(start));
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('counts training subscriptions toward the per-connection subscription limit', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const first = await subscribed(client, { runDir });
    const second = await client.request({ type: 'run.subscribe', run: 'live' });
    expect(second).toMatchObject({ type: 'ack' });
    expect(await client.request({ type: 'train.subscribe', runDir })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    await client.request({ type: 'train.unsubscribe', sub: first.sub });
    const third = await subscribed(client, { runDir });
    await client.waitFor(() => trainEvents(client, third.sub).length === 1);
    expect(trainEvents(client, third.sub).map((frame): TrainerEvent => frame.event)).toEqual([start]);
    client.close();
  });
});

describe('tribunal serve: GET /v1/training-runs', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'tribunal-train-list-'));
  });
  afterAll(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Writes `file` under cwd with a fixed modification time (seconds), so the order does not depend on the clock. */
  function touch(file: string, mtime: number, text = line(start)): void {
    const full = path.join(cwd, file);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, text);
    utimesSync(full, mtime, mtime);
  }

  it('lists the training runs under runs/ and their evals/, newest first, with the bearer token only', async () => {
    touch('runs/dpo-old/events.jsonl', 1_700_000_000);
    touch('runs/dpo-old/config.json', 1_700_000_100, '{}\n');
    touch('runs/dpo-old/evals/held-out-4/events.jsonl', 1_700_000_300);
    touch('runs/rm-new/config.json', 1_700_000_200, '{}\n'); // started: no event yet
    touch('runs/labels/tribunal.sqlite', 1_700_000_400, ''); // a labeling run, not a training run
    touch('runs/notes.txt', 1_700_000_500, 'not a run\n');
    mkdirSync(path.join(cwd, 'runs', 'empty'));
    symlinkSync(path.join(cwd, 'runs', 'dpo-old'), path.join(cwd, 'runs', 'linked')); // links are not followed
    const server = await startTestServer({ cwd });
    try {
      expect((await fetch(`${server.url}/v1/training-runs`)).status).toBe(401);
      const response = await fetch(`${server.url}/v1/training-runs`, { headers: { Authorization: `Bearer ${server.token}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        runs: [
          { runDir: 'runs/dpo-old/evals/held-out-4', updatedAt: new Date(1_700_000_300_000).toISOString(), events: true },
          { runDir: 'runs/rm-new', updatedAt: new Date(1_700_000_200_000).toISOString(), events: false },
          { runDir: 'runs/dpo-old', updatedAt: new Date(1_700_000_100_000).toISOString(), events: true },
        ],
      });
    } finally {
      await server.cleanup();
    }
  });

  it('lists nothing when the working directory has no runs/', async () => {
    const server = await startTestServer({ cwd: path.join(cwd, 'runs', 'empty') });
    try {
      const response = await fetch(`${server.url}/v1/training-runs`, { headers: { Authorization: `Bearer ${server.token}` } });
      expect(await response.json()).toEqual({ runs: [] });
    } finally {
      await server.cleanup();
    }
  });
});
