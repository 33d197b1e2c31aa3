/**
 * Fan-out benchmark of `tribunal serve`: 1000 WebSocket subscribers on loopback watching 10 concurrent debates
 * (100 per debate). Measures delivery latency (event emitted by the engine -> frame parsed by a subscriber) at p50,
 * p90, p99 and max, and the server's memory (RSS) and CPU time. The server runs in its own process (this script with
 * --server), so its memory is its own; the subscribers share this process. Critics are a paced fake model that
 * streams each answer as `--tokens` deltas `--token-ms` apart, like a provider's SSE stream (the plain fake:judge
 * emits a turn's deltas all at once). Writes bench/results/ws-fanout.json. Not a test: numbers depend on the machine.
 *
 *   npx tsx bench/ws-fanout.ts                    # 1000 subscribers, 10 debates
 *   npx tsx bench/ws-fanout.ts --quick            # 100 subscribers, 4 debates, for a smoke check
 *   npx tsx bench/ws-fanout.ts --subscribers 2000 --debates 20 --token-ms 20
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { ServerFrame } from '../src/contracts/index.js';
import { createFakeAdapter, createModelRegistry, judgeScript, type ProviderAdapter } from '../src/models/index.js';
import { startServer } from '../src/server/index.js';

const { values } = parseArgs({
  options: {
    server: { type: 'boolean' },
    quick: { type: 'boolean' },
    subscribers: { type: 'string' },
    debates: { type: 'string' },
    tokens: { type: 'string' },
    'token-ms': { type: 'string' },
    port: { type: 'string' },
    store: { type: 'string' },
    token: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const SUBSCRIBERS = Number(values.subscribers ?? (quick ? 100 : 1000));
const DEBATES = Number(values.debates ?? (quick ? 4 : 10));
const TOKENS = Number(values.tokens ?? 40);
const TOKEN_MS = Number(values['token-ms'] ?? 25);
const TOKEN = 'bench-token-0123456789abcdef';
const CANDIDATES = ['Rayleigh scattering: air scatters short wavelengths most.', 'Because it reflects the ocean.'];

/** A fake critic that streams its (fake:judge) answer as `tokens` deltas, `tokenMs` apart. */
function pacedAdapter(options: { tokens: number; tokenMs: number }): ProviderAdapter {
  const inner = createFakeAdapter({ script: judgeScript(), latencyMs: 0, chunks: 1 });
  return {
    provider: 'paced',
    chat: inner.chat,
    async complete(messages, call) {
      const { onToken, ...rest } = call;
      const result = await inner.complete(messages, rest);
      const size = Math.max(1, Math.ceil(result.text.length / options.tokens));
      for (let start = 0; start < result.text.length; start += size) {
        await sleep(options.tokenMs, undefined, { signal: call.signal });
        onToken?.(result.text.slice(start, start + size));
      }
      return result;
    },
  };
}

/** --server: the server process (its RSS is what we report). Prints its port on stdout. */
async function runServer(): Promise<void> {
  const models = createModelRegistry({
    settings: {},
    adapters: { paced: () => pacedAdapter({ tokens: TOKENS, tokenMs: TOKEN_MS }) },
    providers: { paced: { concurrency: 1024 } },
  });
  const server = await startServer({
    port: Number(values.port ?? 0),
    storeDir: values.store ?? mkdtempSync(path.join(tmpdir(), 'ws-fanout-store-')),
    token: values.token ?? TOKEN,
    model: 'paced:judge',
    models,
    settings: {},
    limits: { maxConnections: 100_000, maxPendingHandshakes: 100_000, maxLiveDebates: 1000 },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`PORT ${server.port}\n`);
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
}

interface Memory {
  rssMb: number;
  cpuSeconds: number;
}

function sample(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(stat[11] ?? 0) + Number(stat[12] ?? 0); // utime + stime (fields 14, 15)
  return { rssMb: rssKb / 1024, cpuSeconds: ticks / 100 };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function startServerProcess(): Promise<{ child: ChildProcess; port: number; store: string }> {
  const store = mkdtempSync(path.join(tmpdir(), 'ws-fanout-store-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--server',
      '--store',
      store,
      '--tokens',
      String(TOKENS),
      '--token-ms',
      String(TOKEN_MS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /PORT (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, port, store };
}

const AT = /"at":"([^"]+)"/;
const COALESCED = /"coalesced":(\d+)\}$/;

class Subscriber {
  readonly ws: WebSocket;
  debateId: string | undefined;
  live = false;
  ended = false;
  readonly latencies: number[] = [];
  events = 0;
  coalesced = 0;
  private resolveAck: ((frame: ServerFrame) => void) | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url, { headers: { Authorization: `Bearer ${TOKEN}` }, perMessageDeflate: false });
    this.ws.on('message', (data) => this.onMessage(data.toString()));
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  request(frame: Record<string, unknown>): Promise<ServerFrame> {
    return new Promise((resolve) => {
      this.resolveAck = resolve;
      this.ws.send(JSON.stringify({ v: 1, id: 'r', ...frame }));
    });
  }

  /**
   * Event frames are read without JSON.parse (a quote inside a JSON string is escaped, so `"at":"` and
   * `"type":"debate-end"` only match the event's own keys): 1000 clients share this process, and the point is to
   * measure the server.
   */
  private onMessage(text: string): void {
    const now = performance.timeOrigin + performance.now();
    if (text.startsWith('{"v":1,"type":"event"')) {
      this.events++;
      const at = AT.exec(text)?.[1];
      if (this.live && at !== undefined) this.latencies.push(now - Date.parse(at));
      const coalesced = COALESCED.exec(text)?.[1];
      if (coalesced !== undefined) this.coalesced += Number(coalesced) - 1;
      if (text.includes('"type":"debate-end"') || text.includes('"type":"debate-error"')) this.ended = true;
      return;
    }
    this.onFrame(JSON.parse(text) as ServerFrame);
  }

  private onFrame(frame: ServerFrame): void {
    const now = performance.timeOrigin + performance.now();
    switch (frame.type) {
      case 'ack':
      case 'error':
        this.resolveAck?.(frame);
        return;
      case 'subscription.live':
        this.live = true;
        return;
      case 'event':
        this.events++;
        if (frame.coalesced) this.coalesced += frame.coalesced - 1;
        if (this.live) this.latencies.push(now - Date.parse(frame.event.at));
        if (frame.event.type === 'debate-end' || frame.event.type === 'debate-error') this.ended = true;
        return;
      default:
        return;
    }
  }
}

async function runBench(): Promise<void> {
  const { child, port, store } = await startServerProcess();
  const pid = child.pid as number;
  const url = `ws://127.0.0.1:${port}/v1/stream`;
  const idle = sample(pid);
  let peakRss = idle.rssMb;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, sample(pid).rssMb);
    } catch {
      // the server exited
    }
  }, 50);

  const loadBefore = loadavg()[0] ?? 0;
  const connectStart = performance.now();
  const subscribers: Subscriber[] = [];
  for (let index = 0; index < SUBSCRIBERS; index += 100) {
    const batch = Array.from({ length: Math.min(100, SUBSCRIBERS - index) }, () => new Subscriber(url));
    await Promise.all(batch.map((subscriber) => subscriber.opened()));
    subscribers.push(...batch);
  }
  const connectMs = performance.now() - connectStart;
  await sleep(200);
  const connected = sample(pid);

  // The first DEBATES subscribers start a debate each (and are subscribed by it); the rest subscribe by debate id.
  const debateIds: string[] = [];
  for (let index = 0; index < DEBATES; index++) {
    const starter = subscribers[index] as Subscriber;
    const ack = await starter.request({ type: 'debate.start', prompt: 'Why is the sky blue?', candidates: CANDIDATES });
    if (ack.type !== 'ack' || !ack.debateId) throw new Error(`debate.start failed: ${JSON.stringify(ack)}`);
    starter.debateId = ack.debateId;
    debateIds.push(ack.debateId);
  }
  await Promise.all(
    subscribers.slice(DEBATES).map(async (subscriber, index) => {
      subscriber.debateId = debateIds[index % DEBATES];
      const ack = await subscriber.request({ type: 'run.subscribe', run: 'live', debateId: subscriber.debateId, afterSeq: -1 });
      if (ack.type !== 'ack') throw new Error(`run.subscribe failed: ${JSON.stringify(ack)}`);
    }),
  );
  const subscribedMs = performance.now() - connectStart - connectMs;
  const started = performance.now();
  while (!subscribers.every((subscriber) => subscriber.ended)) await sleep(20);
  const debateMs = performance.now() - started;
  clearInterval(sampler);
  const done = sample(pid);

  const latencies = subscribers.flatMap((subscriber) => subscriber.latencies).sort((a, b) => a - b);
  const events = subscribers.reduce((sum, subscriber) => sum + subscriber.events, 0);
  const coalesced = subscribers.reduce((sum, subscriber) => sum + subscriber.coalesced, 0);
  const round = (value: number) => Math.round(value * 10) / 10;
  const result = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      // Other work on the machine competes for the same cores: the 1-minute load average before and after.
      loadAverage: [round(loadBefore), round(loadavg()[0] ?? 0)],
    },
    setup: {
      subscribers: SUBSCRIBERS,
      debates: DEBATES,
      subscribersPerDebate: SUBSCRIBERS / DEBATES,
      panel: 'default (3 critics, 2 candidates, up to 2 debate rounds)',
      critic: `paced fake: ${TOKENS} deltas per answer, ${TOKEN_MS} ms apart`,
    },
    connectMs: round(connectMs),
    subscribeMs: round(subscribedMs),
    debatesWallMs: round(debateMs),
    framesDelivered: events,
    liveFramesMeasured: latencies.length,
    deltasCoalesced: coalesced,
    framesPerSecond: Math.round(events / (debateMs / 1000)),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1) ?? Number.NaN),
    },
    server: {
      rssIdleMb: round(idle.rssMb),
      rssConnectedMb: round(connected.rssMb),
      rssPeakMb: round(peakRss),
      rssAfterMb: round(done.rssMb),
      cpuSeconds: round(done.cpuSeconds - connected.cpuSeconds),
    },
  };
  for (const subscriber of subscribers) subscriber.ws.terminate();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(store, { recursive: true, force: true });
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results', 'ws-fanout.json');
  if (!quick) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (values.server) await runServer();
else await runBench();
