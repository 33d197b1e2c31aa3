import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/index.js';
import { labelItems } from '../server/label-run-fixture.js';
import { CANDIDATES, PROMPT, startTestServer, TestClient } from '../server/ws-harness.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';
import { runConfig } from './store-fixtures.js';

/*
 * `tribunal serve --store postgres://…`: a labeling run written to Postgres by another process (another machine)
 * streams live to a client of the server, by run id, exactly as stored.
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== undefined)(
  `tribunal serve --store postgres://…${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let cluster: PostgresCluster;
    let url: string;

    beforeAll(async () => {
      cluster = await startPostgresCluster();
      url = await cluster.createDatabase('serve');
    });
    afterAll(() => cluster?.stop());

    it('streams a run labeled elsewhere into the same database, by run id', async () => {
      const worker = PostgresStore.open({ url }); // the labeling process, on another machine
      const { run } = await worker.createOrResumeRun({ config: runConfig() });
      await worker.upsertItems({
        runId: run.id,
        items: [1, 2].map((line) => ({
          line,
          item: {
            id: `item-${line}`,
            prompt: PROMPT,
            candidates: CANDIDATES.map((text, index) => ({ id: `c${index}`, text })),
            meta: {},
          },
        })),
      });
      const server = await startTestServer({ storeUrl: url });
      try {
        expect(server.store.location).toContain('postgres://');
        const client = await TestClient.connect(server.streamUrl, { token: server.token });
        const ack = await client.request({ type: 'run.subscribe', run: run.id, afterSeq: {} });
        expect(ack).toMatchObject({ type: 'ack', runId: run.id });
        if (ack.type !== 'ack' || !ack.sub) throw new Error('no ack');
        await client.waitFor(() => client.liveSubs.has(ack.sub as string));

        const debateIds = await labelItems({ store: worker, runId: run.id, count: 2 });
        await client.waitFor(() => client.count('debate-end') === 2);
        for (const debateId of debateIds) {
          const stored = (await worker.eventsAfter({ runId: run.id, debateId, limit: 10_000 })).map((entry) => entry.event);
          expect(client.events(ack.sub).filter((event) => event.debateId === debateId)).toEqual(stored);
        }
        client.close();
      } finally {
        await server.cleanup();
        await worker.close();
      }
    });
  },
);
