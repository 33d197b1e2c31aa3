import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DebateEvent } from '../../src/contracts/index.js';
import { createFakeAdapter, createModelRegistry, judgeScript, type ModelRegistry } from '../../src/models/index.js';
import { PROMPT, startTestServer, TestClient, turnTexts, waitUntil } from './ws-harness.js';

/**
 * A panel of five critics that never converges early (tolerance 0) over four rounds, four candidates and one-character
 * deltas: about 2.5 MB of frames per debate, so six debates are well beyond what loopback socket buffers absorb.
 */
const PANEL = `id: slow-client
personas: [safety, efficiency, creativity, factuality, helpfulness]
constitution: default
protocol: simultaneous
maxRounds: 3
tolerance: 0
`;
const CANDIDATES = [
  'Rayleigh scattering: air molecules scatter short (blue) wavelengths far more than long ones.',
  'Because it reflects the ocean.',
  'Sunlight scatters off the atmosphere, and blue light scatters most; violet is absorbed higher up and our eyes favor blue.',
  'Nobody knows.',
];
const DEBATES = 6;

/**
 * Critics that stream their (fake:judge) answer one character per delta, each on its own macrotask, whatever the
 * fake provider's chunking: the test needs many small frames.
 */
function chattyModels(): ModelRegistry {
  return createModelRegistry({
    settings: {},
    providers: { chatty: { concurrency: 256 } },
    adapters: {
      chatty: () => {
        const inner = createFakeAdapter({ script: judgeScript(), latencyMs: 5 });
        return {
          provider: 'chatty',
          chat: inner.chat,
          async complete(messages, call) {
            const { onToken, ...rest } = call;
            const result = await inner.complete(messages, rest);
            for (const char of result.text) {
              await new Promise((resolve) => setImmediate(resolve));
              onToken?.(char);
            }
            return result;
          },
        };
      },
    },
  });
}

function panelFile(): string {
  const file = path.join(tmpdir(), `tribunal-slow-client-${process.pid}.yaml`);
  writeFileSync(file, PANEL);
  return file;
}

function socketOf(client: TestClient): { pause(): void; resume(): void } {
  return (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
}

function byDebate(events: readonly DebateEvent[]): Map<string, DebateEvent[]> {
  const map = new Map<string, DebateEvent[]>();
  for (const event of events) map.set(event.debateId, [...(map.get(event.debateId) ?? []), event]);
  return map;
}

describe('tribunal serve: a deliberately slow client', () => {
  it('never slows the debates or other clients, coalesces its deltas, and still gets every turn-end, verdict and character', async () => {
    const models = chattyModels();
    const server = await startTestServer({
      model: 'chatty:judge',
      models,
      panelFile: panelFile(),
      limits: { maxConcurrentDebates: DEBATES, lowWaterMark: 16 * 1024, maxBufferedBytes: 256 * 1024 * 1024 },
    });
    try {
      const slow = await TestClient.connect(server.streamUrl, { token: server.token });
      const watch = await slow.request({ type: 'run.subscribe', run: 'live' });
      if (watch.type !== 'ack' || !watch.sub) throw new Error('no ack');
      await slow.waitFor(() => slow.liveSubs.has(watch.sub as string));
      socketOf(slow).pause(); // the slow client stops reading

      const fast = await TestClient.connect(server.streamUrl, { token: server.token });
      const debateIds: string[] = [];
      for (let index = 0; index < DEBATES; index++) {
        const ack = await fast.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
        if (ack.type !== 'ack' || !ack.debateId) throw new Error(`no ack: ${JSON.stringify(ack)}`);
        debateIds.push(ack.debateId);
      }
      // Every debate finishes, and the fast client sees every verdict, while the slow one reads nothing.
      await fast.waitFor(() => fast.count('debate-end') === DEBATES, 60_000);
      for (const debateId of debateIds) await server.live.settled(debateId);
      const slowConnection = [...server.connections].find((connection) => connection.backlog.queued > 0);
      expect(slowConnection, 'the slow client has a backlog on the server').toBeDefined();
      expect(slowConnection?.backlog.coalesced).toBeGreaterThan(0);
      expect(slow.count('debate-end')).toBeLessThan(DEBATES);

      socketOf(slow).resume();
      await slow.waitFor(() => slow.count('debate-end') === DEBATES, 60_000);
      const slowEvents = byDebate(slow.events(watch.sub));
      expect(slow.frames.some((frame) => frame.type === 'event' && (frame.coalesced ?? 0) > 1)).toBe(true);
      for (const debateId of debateIds) {
        const stored = (await server.store.eventsAfter({ runId: 'live', debateId, limit: 100_000 })).map((entry) => entry.event);
        const received = slowEvents.get(debateId) ?? [];
        const seqs = received.map((event) => event.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect(new Set(seqs).size).toBe(seqs.length);
        const kept = (events: DebateEvent[]) => events.filter((event) => event.type !== 'turn-delta');
        expect(kept(received)).toEqual(kept(stored));
        expect(turnTexts(received)).toEqual(turnTexts(stored));
      }
      slow.close();
      fast.close();
    } finally {
      await server.cleanup();
      await models.close();
    }
  });

  it('closes a client that falls too far behind with 1013; it resumes with afterSeq and loses nothing', async () => {
    const models = chattyModels();
    const server = await startTestServer({
      model: 'chatty:judge',
      models,
      panelFile: panelFile(),
      limits: { maxConcurrentDebates: DEBATES, lowWaterMark: 16 * 1024, maxBufferedBytes: 64 * 1024 },
    });
    try {
      const slow = await TestClient.connect(server.streamUrl, { token: server.token });
      const watch = await slow.request({ type: 'run.subscribe', run: 'live' });
      if (watch.type !== 'ack' || !watch.sub) throw new Error('no ack');
      await slow.waitFor(() => slow.liveSubs.has(watch.sub as string));
      socketOf(slow).pause();
      const fast = await TestClient.connect(server.streamUrl, { token: server.token });
      const debateIds: string[] = [];
      for (let index = 0; index < DEBATES; index++) {
        const ack = await fast.request({ type: 'debate.start', prompt: PROMPT, candidates: CANDIDATES });
        if (ack.type !== 'ack' || !ack.debateId) throw new Error('no ack');
        debateIds.push(ack.debateId);
      }
      await fast.waitFor(() => fast.count('debate-end') === DEBATES, 60_000);
      for (const debateId of debateIds) await server.live.settled(debateId);
      await waitUntil(() => server.logs.find((line) => line.includes('too slow')));
      socketOf(slow).resume();
      const code = await slow.closed();
      expect([1013, 1006]).toContain(code);

      // Reconnect and resume: a run subscription with the last seq seen of each debate.
      const seen = byDebate(slow.events(watch.sub));
      const afterSeq = Object.fromEntries(debateIds.map((debateId) => [debateId, seen.get(debateId)?.at(-1)?.seq ?? -1]));
      const again = await TestClient.connect(server.streamUrl, { token: server.token });
      const resumed = await again.request({ type: 'run.subscribe', run: 'live', afterSeq });
      if (resumed.type !== 'ack' || !resumed.sub) throw new Error('no ack');
      await again.waitFor(() => again.liveSubs.has(resumed.sub as string), 60_000);
      const rest = byDebate(again.events(resumed.sub));
      for (const debateId of debateIds) {
        const stored = (await server.store.eventsAfter({ runId: 'live', debateId, limit: 100_000 })).map((entry) => entry.event);
        const all = [...(seen.get(debateId) ?? []), ...(rest.get(debateId) ?? [])];
        const kept = (events: DebateEvent[]) => events.filter((event) => event.type !== 'turn-delta');
        expect(kept(all)).toEqual(kept(stored));
        expect(turnTexts(all)).toEqual(turnTexts(stored));
      }
      again.close();
      fast.close();
    } finally {
      await server.cleanup();
      await models.close();
    }
  });
});
