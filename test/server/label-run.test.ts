import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import { labelItems, openLabelRun } from './label-run-fixture.js';
import { startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

describe('tribunal serve: watching a labeling run', () => {
  let server: TestServer;
  let labelDir: string;
  let labelStore: Store;
  let runId: string;
  beforeAll(async () => {
    server = await startTestServer();
    labelDir = path.join(server.dir, 'label-run');
    ({ store: labelStore, runId } = await openLabelRun({ dir: labelDir, items: 2 }));
  });
  afterAll(async () => {
    await labelStore.close();
    await server.cleanup();
  });

  it('streams a labeling run live by its directory, exactly as stored', async () => {
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({ type: 'run.subscribe', run: labelDir, afterSeq: {} });
    expect(ack).toMatchObject({ type: 'ack', runId });
    if (ack.type !== 'ack' || !ack.sub) throw new Error('no ack');
    await client.waitFor(() => client.liveSubs.has(ack.sub as string));

    const debateIds = await labelItems({ store: labelStore, runId, count: 2 });
    await client.waitFor(() => client.count('debate-end') === 2);
    for (const debateId of debateIds) {
      const stored = (await labelStore.eventsAfter({ runId, debateId, limit: 10_000 })).map((entry) => entry.event);
      expect(client.events(ack.sub).filter((event) => event.debateId === debateId)).toEqual(stored);
    }

    // The run id works too once the directory is known, and so does the API listing.
    const byId = await client.request({ type: 'run.subscribe', run: runId, debateId: debateIds[0], afterSeq: 10 });
    expect(byId).toMatchObject({ type: 'ack', runId });
    const runs = (await (
      await fetch(`${server.url}/v1/runs?dir=${encodeURIComponent(labelDir)}`, {
        headers: { Authorization: `Bearer ${server.token}` },
      })
    ).json()) as { runs: Array<{ runId: string; totals: { done: number } }> };
    expect(runs.runs).toContainEqual(expect.objectContaining({ runId, totals: expect.objectContaining({ done: 2 }) }));
    const debates = (await (
      await fetch(`${server.url}/v1/debates?run=${encodeURIComponent(runId)}`, {
        headers: { Authorization: `Bearer ${server.token}` },
      })
    ).json()) as { debates: Array<{ debateId: string; status: string }> };
    expect(debates.debates.map((debate) => [debate.debateId, debate.status])).toEqual(debateIds.map((id) => [id, 'done']));

    // Another process's run cannot be cancelled from here, but its verdicts can be overridden (in its own store).
    expect(await client.request({ type: 'run.cancel', run: labelDir, debateId: debateIds[0] })).toMatchObject({
      code: 'NOT_CANCELLABLE',
    });
    const override = await client.request({
      type: 'verdict.override',
      run: labelDir,
      debateId: debateIds[1],
      kind: 'wrong',
      note: 'both are wrong',
    });
    expect(override).toMatchObject({ type: 'ack', override: { kind: 'wrong', itemId: 'item-2' } });
    expect(await labelStore.listOverrides({ runId })).toEqual([
      expect.objectContaining({ kind: 'wrong', itemId: 'item-2', debateId: debateIds[1] }),
    ]);
    client.close();
  });
});
