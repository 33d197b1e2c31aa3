import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import type { DebateEvent } from '../../src/contracts/index.js';
import type { ModelRegistry } from '../../src/models/index.js';
import { exportRun, runLabeling } from '../../src/runner/index.js';
import { openStore, STORE_FILE_NAME } from '../../src/store/index.js';
import { startTestServer, TestClient } from '../server/ws-harness.js';
import { fakeModels, nativeItem, tempDir, withRounds, writeInput } from './fixtures.js';

/*
 * A labeling session prunes what no resume needs when it ends (Store.pruneSettled): the debate snapshots and the
 * turn-delta events of its done items. The store then holds a bounded number of rows per item (its turns, not its
 * tokens), and resume, export and a watcher's replay of the finished run still work: the replay has every event but
 * the deltas, each turn's rationale arriving with its turn-end.
 */
const ITEMS = 6;
const OUTPUTS = ['labels.jsonl', 'pairs.jsonl'];

let registries: ModelRegistry[] = [];
function models(): ModelRegistry {
  const registry = fakeModels();
  registries.push(registry);
  return registry;
}
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.close()));
  registries = [];
});

function read(dir: string): Record<string, string> {
  return Object.fromEntries(OUTPUTS.map((name) => [name, readFileSync(path.join(dir, name), 'utf8')]));
}

describe('a finished labeling run is pruned', () => {
  it('keeps no snapshot or turn-delta of its done items, and resumes, exports and replays as before', async () => {
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: ITEMS }, (_, index) => nativeItem(index + 1)),
    );
    const out = path.join(dir, 'out');
    const options = { input, outDir: out, panel: withRounds(await loadPanel(), 1), defaultModel: 'fake:judge', concurrency: 3 };
    const emitted: DebateEvent[] = [];
    const result = await runLabeling({ ...options, models: models(), onEvent: (event) => emitted.push(event) });
    expect(result).toMatchObject({ status: 'done', totals: { done: ITEMS } });
    const outputs = read(out);

    // Row counts: one row per event but the deltas (gone), no snapshot; what is left grows with turns, not tokens.
    const kept = emitted.filter((event) => event.type !== 'turn-delta');
    expect(emitted.length).toBeGreaterThan(kept.length);
    const db = new Database(path.join(out, STORE_FILE_NAME), { readonly: true });
    try {
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      expect(count("SELECT count(*) AS n FROM events WHERE type = 'turn-delta'")).toBe(0);
      expect(count('SELECT count(*) AS n FROM events')).toBe(kept.length);
      expect(count('SELECT count(*) AS n FROM debate_snapshots')).toBe(0);
    } finally {
      db.close();
    }

    // Resume: the rerun finds every item done, labels nothing and writes the same outputs.
    const again = await runLabeling({ ...options, models: models() });
    expect(again).toMatchObject({ opening: 'resumed', status: 'done', session: { done: 0 } });
    expect(read(out)).toEqual(outputs);

    // Export from the pruned store into another directory: the same files.
    const elsewhere = path.join(dir, 'elsewhere');
    const store = openStore({ dir: out, readonly: true });
    try {
      await exportRun({ store, runId: result.runId, directory: elsewhere });
    } finally {
      await store.close();
    }
    expect(read(elsewhere)).toEqual(outputs);

    // A watcher replaying the finished run gets every kept event once, in order, each debate ending in debate-end.
    const server = await startTestServer({ runsDir: dir });
    try {
      const client = await TestClient.connect(server.streamUrl, { token: server.token });
      const ack = await client.request({ type: 'run.subscribe', run: out, afterSeq: {} });
      if (ack.type !== 'ack' || ack.sub === undefined) throw new Error(`no ack: ${JSON.stringify(ack)}`);
      const sub = ack.sub;
      await client.waitFor(() => client.liveSubs.has(sub));
      const replayed = client.events(sub);
      const byDebate = (events: readonly DebateEvent[]) =>
        [...new Set(events.map((event) => event.debateId))]
          .sort()
          .map((debateId) => events.filter((event) => event.debateId === debateId));
      expect(byDebate(replayed)).toEqual(byDebate(kept));
      expect(replayed.filter((event) => event.type === 'debate-end')).toHaveLength(ITEMS);
      client.close();
    } finally {
      await server.cleanup();
    }
  });
});
