import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { copyLibrary, nativeItem, readJsonl, writeInput } from '../runner/fixtures.js';
import { startTestServer, TestClient } from './ws-harness.js';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;
interface ListedDebate {
  debateId: string;
  itemId?: string;
  review?: { consensusProbability: number; threshold: number; answered: boolean };
}

describe('tribunal serve: the review queue of a labeling run', () => {
  let server: TestServer;
  let labelDir: string;
  let rows: LabelRow[];
  beforeAll(async () => {
    server = await startTestServer();
    const library = path.join(server.dir, 'library');
    const { panelFile } = copyLibrary(library);
    const panel = path.join(path.dirname(panelFile), 'escalating.yaml');
    writeFileSync(
      panel,
      `${readFileSync(panelFile, 'utf8').replace('id: default', 'id: escalating')}escalate: { belowConsensusProbability: 1 }\n`,
    );
    const input = writeInput(
      library,
      Array.from({ length: 8 }, (_, index) => nativeItem(index + 1)),
    );
    labelDir = path.join(server.dir, 'label-run');
    const io = captureIo(library);
    const code = await main(
      ['label', input, '--out', labelDir, '--panel', panel, '--model', 'fake:judge', '--max-rounds', '0'],
      io,
    );
    expect(code, io.err()).toBe(0);
    rows = readJsonl<LabelRow>(path.join(labelDir, 'labels.jsonl'));
  }, 60_000);
  afterAll(async () => {
    await server.cleanup();
  });

  async function list(query: string): Promise<ListedDebate[]> {
    const response = await fetch(`${server.url}/v1/debates?run=${encodeURIComponent(labelDir)}${query}`, {
      headers: { Authorization: `Bearer ${server.token}` },
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { debates: ListedDebate[] }).debates;
  }

  it('marks escalated debates, lists only them on request, and shows a human override as their answer', async () => {
    const escalated = rows.filter((row) => row.review !== undefined);
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.length).toBeLessThan(rows.length);

    const all = await list('');
    expect(all).toHaveLength(rows.length);
    for (const row of rows) {
      const debate = all.find((entry) => entry.debateId === row.debateId);
      expect(debate?.review).toEqual(
        row.review === undefined
          ? undefined
          : { consensusProbability: row.review.consensusProbability, threshold: 1, answered: false },
      );
    }
    const queue = await list('&review=1');
    expect(queue.map((debate) => debate.debateId).sort()).toEqual(escalated.map((row) => row.debateId).sort());

    // The viewer's override path answers the review.
    const target = escalated[0] as LabelRow;
    const client = await TestClient.connect(server.streamUrl, { token: server.token });
    const ack = await client.request({
      type: 'verdict.override',
      run: labelDir,
      debateId: target.debateId,
      kind: 'prefer',
      candidateId: target.ranking[1],
    });
    expect(ack.type).toBe('ack');
    client.close();
    const after = await list('&review=1');
    expect(after.find((debate) => debate.debateId === target.debateId)?.review?.answered).toBe(true);
    expect(after.filter((debate) => debate.review?.answered === true)).toHaveLength(1);
  });
});
