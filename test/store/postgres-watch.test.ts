import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DebateEvent } from '../../src/contracts/index.js';
import { PostgresStore } from '../../src/store/index.js';
import { LISTEN_APPLICATION_NAME } from '../../src/store/postgres-event-listener.js';
import { runCli } from '../cli/label-process.js';
import { nativeItem, tempDir, writeInput } from '../runner/fixtures.js';
import { startTestServer, TestClient } from '../server/ws-harness.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';
import { debateEvents, runConfig, take } from './store-fixtures.js';

/*
 * Live watching across machines: `tribunal serve --store postgres://…` streams a run whose worker is another process
 * (a child `tribunal label --store postgres://…`), woken by LISTEN/NOTIFY rather than a poll: the server's poll interval
 * is a minute here, so an event reaches the client within the test only through a notification (or the re-read after
 * the LISTEN connection comes back). The listening connection is killed mid-run; nothing is lost or sent twice.
 */
const unavailable = postgresUnavailable();
const ITEMS = 8;

describe.skipIf(unavailable !== undefined)(
  `serve follows Postgres runs by LISTEN/NOTIFY${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let cluster: PostgresCluster;
    let url: string;

    beforeAll(async () => {
      cluster = await startPostgresCluster();
      url = await cluster.createDatabase('watch');
    });
    afterAll(() => cluster?.stop());

    async function listenBackends(): Promise<number[]> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
          [LISTEN_APPLICATION_NAME],
        );
        return rows.map((row) => row.pid);
      } finally {
        await client.end();
      }
    }

    async function terminate(pids: number[]): Promise<void> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS killed (pid)', [pids]);
      } finally {
        await client.end();
      }
    }

    /** Resolves with the first truthy value of an async check, asked every 20 ms; rejects after `timeoutMs`. */
    async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await check();
        if (value) return value;
        if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    /** Each debate's events in the order a client received them. */
    function byDebate(events: readonly DebateEvent[]): Map<string, DebateEvent[]> {
      const debates = new Map<string, DebateEvent[]>();
      for (const event of events) debates.set(event.debateId, [...(debates.get(event.debateId) ?? []), event]);
      return debates;
    }

    it('streams a child process run once and in order, across a killed LISTEN connection and a client reconnect', async () => {
      const dir = tempDir('tribunal-pg-watch-');
      const input = writeInput(
        dir,
        Array.from({ length: ITEMS }, (_, index) => nativeItem(index + 1, 2)),
      );
      const server = await startTestServer({ storeUrl: url, pollMs: 60_000 });
      const reader = PostgresStore.open({ url, readonly: true });
      try {
        const child = runCli({
          out: path.join(dir, 'out'),
          args: [
            'label',
            input,
            '--out',
            path.join(dir, 'out'),
            '--store',
            url,
            '--model',
            'fake:judge?latencyMs=150',
            '--concurrency',
            '1',
            '--json',
          ],
        });
        // The run appears when the child has opened it; the client subscribes from the first event of every debate.
        const runId = (await eventually(async () => (await reader.listRuns()).find((run) => run.id !== 'live'))).id;
        const first = await TestClient.connect(server.streamUrl, { token: server.token });
        const ack = await first.request({ type: 'run.subscribe', run: runId, afterSeq: {} });
        if (ack.type !== 'ack' || ack.sub === undefined) throw new Error(`no ack: ${JSON.stringify(ack)}`);
        const sub = ack.sub;
        await first.waitFor(() => first.liveSubs.has(sub));

        // Mid-run: kill the server's listening connection; it must come back and re-read what it missed.
        await first.waitFor(() => first.count('debate-end') >= 2, 60_000);
        const killed = await listenBackends();
        expect(killed).toHaveLength(1);
        await terminate(killed);

        // The client drops and resumes with afterSeq = the last seq it has of each debate.
        await first.waitFor(() => first.count('debate-end') >= 4, 60_000);
        first.close();
        await first.closed();
        const before = first.events(sub);
        const lastSeqs = Object.fromEntries(
          [...byDebate(before)].map(([debateId, events]) => [debateId, events.at(-1)?.seq ?? -1]),
        );
        const second = await TestClient.connect(server.streamUrl, { token: server.token });
        const resumed = await second.request({ type: 'run.subscribe', run: runId, afterSeq: lastSeqs });
        if (resumed.type !== 'ack' || resumed.sub === undefined) throw new Error(`no ack: ${JSON.stringify(resumed)}`);

        const outcome = await child;
        expect(outcome.code, outcome.stderr).toBe(0);
        const debates = await reader.listDebates({ runId });
        expect(debates).toHaveLength(ITEMS);
        await second.waitFor(
          () => before.filter((event) => event.type === 'debate-end').length + second.count('debate-end') >= ITEMS,
          60_000,
        );

        // Every stored event reached the client exactly once, in seq order: before the drop, or after the resume. The
        // session pruned its done items' turn-deltas when it ended, so the store now holds the other events only.
        const received = byDebate([...before, ...second.events(resumed.sub)]);
        for (const debate of debates) {
          const stored = (await reader.eventsAfter({ runId, debateId: debate.debateId, limit: 100_000 })).map(
            (entry) => entry.event,
          );
          const got = received.get(debate.debateId) ?? [];
          expect(
            got.filter((event) => event.type !== 'turn-delta'),
            debate.debateId,
          ).toEqual(stored);
          const seqs = got.map((event) => event.seq);
          expect(seqs, debate.debateId).toEqual([...new Set(seqs)].sort((left, right) => left - right));
        }
        // The debates the first client watched whole: each turn's coalesced deltas join to exactly the judge's answer.
        for (const [debateId, events] of byDebate(before)) {
          if (!events.some((event) => event.type === 'debate-end')) continue;
          const texts = new Map<string, string>();
          for (const event of events) {
            if (event.type === 'turn-delta') texts.set(event.turnId, (texts.get(event.turnId) ?? '') + event.text);
            if (event.type === 'turn-end' && event.status === 'ok') {
              expect(JSON.parse(texts.get(event.turnId) ?? 'null'), `${debateId} ${event.turnId}`).toMatchObject({
                rationale: event.assessment?.rationale,
              });
            }
          }
        }
        // The listening connection came back (a new backend), and no poll was needed for any of it.
        const now = await eventually(async () => {
          const pids = await listenBackends();
          return pids.length === 1 && !killed.includes(pids[0] as number) ? pids : undefined;
        });
        expect(now).toHaveLength(1);
        second.close();
      } finally {
        await reader.close();
        await server.cleanup();
      }
    });

    it('wakes the followers of a run whose id is too long for a notification payload (all of them, then they read)', async () => {
      const writer = PostgresStore.open({ url });
      const reader = PostgresStore.open({ url, readonly: true });
      try {
        const runId = `run-${'x'.repeat(9000)}`; // Postgres refuses payloads of 8000 bytes or more
        await writer.createOrResumeRun({ runId, config: runConfig() });
        const controller = new AbortController();
        const followed = take(reader.followEvents({ runId, afterId: 0, signal: controller.signal, pollMs: 60_000 }), 5);
        // Once the follower listens (its first read found nothing), the append must wake it: no poll comes for a minute.
        await eventually(async () => ((await listenBackends()).length === 1 ? true : undefined));
        const events = debateEvents({ runId, debateId: 'd1', deltas: 3 });
        await writer.appendEvents({ events });
        expect((await followed).map((entry) => entry.event)).toEqual(events);
        controller.abort();
      } finally {
        await reader.close();
        await writer.close();
      }
    });
  },
);
