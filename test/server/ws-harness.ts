import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { DebateEvent, ServerFrame } from '../../src/contracts/index.js';
import { type ServeOptions, startServer, type TribunalServer } from '../../src/server/index.js';

/** The scripted fake judge with a delay per call, so debates stream over time. */
export const FAKE_MODEL = 'fake:judge?latencyMs=20';

/**
 * A server on loopback with a temp store and the fake model; `cleanup` closes it and removes the store. Its runs
 * directory is the temp directory (so runs a test creates in `dir` can be named), or `cwd/runs` when `cwd` is given.
 */
export async function startTestServer(
  options: Partial<ServeOptions> = {},
): Promise<TribunalServer & { dir: string; logs: string[]; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-serve-'));
  const logs: string[] = [];
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    storeDir: path.join(dir, 'store'),
    model: FAKE_MODEL,
    settings: {},
    log: (line) => logs.push(line),
    pollMs: 20,
    ...(options.cwd === undefined ? { runsDir: dir } : {}),
    ...options,
  });
  return Object.assign(server, {
    dir,
    logs,
    cleanup: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A real `ws` client that records every frame and lets a test wait on conditions over them. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  /** Events received by type (all subscriptions): cheap to check on every frame. */
  readonly counts = new Map<string, number>();
  /** Subscriptions whose replay is done (`subscription.live` arrived). */
  readonly liveSubs = new Set<string>();
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<() => void> = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      this.frames.push(frame);
      if (frame.type === 'subscription.live') this.liveSubs.add(frame.sub);
      if (frame.type === 'event') this.counts.set(frame.event.type, (this.counts.get(frame.event.type) ?? 0) + 1);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.wake();
    });
  }

  /** Connects with `Authorization: Bearer` (or the given headers/protocols) and waits for the hello frame. */
  static async connect(
    url: string,
    options: { token?: string; headers?: Record<string, string>; protocols?: string[] } = {},
  ): Promise<TestClient> {
    const headers = { ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }), ...options.headers };
    const ws = new WebSocket(url, options.protocols ?? [], { headers });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) => reject(new RefusedError(response.statusCode ?? 0)));
    });
    await client.waitFor(() => client.frames.some((frame) => frame.type === 'hello'));
    return client;
  }

  /** Sends a frame (adds `v: 1` and an id when missing) and returns its id. */
  send(frame: Record<string, unknown>): string {
    const id = typeof frame.id === 'string' ? frame.id : `q${this.nextId++}`;
    this.ws.send(JSON.stringify({ v: 1, id, ...frame }));
    return id;
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends a request and waits for its ack or error. */
  async request(frame: Record<string, unknown>): Promise<Extract<ServerFrame, { type: 'ack' | 'error' }>> {
    const id = this.send(frame);
    return this.waitFor(() =>
      this.frames.find(
        (candidate): candidate is Extract<ServerFrame, { type: 'ack' | 'error' }> =>
          (candidate.type === 'ack' || candidate.type === 'error') && candidate.id === id,
      ),
    );
  }

  /** Events of one subscription in arrival order. */
  events(sub?: string): DebateEvent[] {
    return this.frames.flatMap((frame) =>
      frame.type === 'event' && (sub === undefined || frame.sub === sub) ? [frame.event] : [],
    );
  }

  /** How many events of `type` arrived. */
  count(type: DebateEvent['type']): number {
    return this.counts.get(type) ?? 0;
  }

  errors(): Extract<ServerFrame, { type: 'error' }>[] {
    return this.frames.filter((frame): frame is Extract<ServerFrame, { type: 'error' }> => frame.type === 'error');
  }

  /** Resolves with the first truthy value of `check`, re-evaluated on every frame; rejects after `timeoutMs`. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((waiter) => waiter !== attempt);
          resolve(value);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== attempt);
        reject(new Error(`timed out; last frames: ${JSON.stringify(this.frames.slice(-3)).slice(0, 600)}`));
      }, timeoutMs);
      if (!attempt()) this.waiters.push(attempt);
    });
  }

  /** Waits for the connection to close and returns its code. */
  async closed(): Promise<number> {
    return this.waitFor(() => this.closeCode);
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Polls a condition that no frame announces (server state, logs) until it holds. */
export async function waitUntil<T>(check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An upgrade the server refused with an HTTP status. */
export class RefusedError extends Error {
  constructor(readonly status: number) {
    super(`refused with HTTP ${status}`);
  }
}

/** Joins the token deltas of each turn: what a client reconstructs, whatever was coalesced. */
export function turnTexts(events: readonly DebateEvent[]): Map<string, string> {
  const texts = new Map<string, string>();
  for (const event of events) {
    if (event.type === 'turn-delta')
      texts.set(`${event.debateId}/${event.turnId}`, (texts.get(`${event.debateId}/${event.turnId}`) ?? '') + event.text);
  }
  return texts;
}

export const PROMPT = 'Why is the sky blue?';
export const CANDIDATES = ['Rayleigh scattering: shorter wavelengths scatter more.', 'Because it reflects the ocean.'];
