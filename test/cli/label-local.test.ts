import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { ARENA, REPO_ROOT, readJsonl, TINY_GGUF, tempDir } from '../runner/fixtures.js';

describe('tribunal label with the local tiny model', () => {
  it('runs real arena items through node-llama-cpp and settles every item cleanly', async () => {
    const dir = tempDir('tribunal-local-');
    // One critic, one round and short turns keep CPU inference to seconds; the weights are random, so turns may fail.
    const panelFile = path.join(dir, 'tiny.yaml');
    writeFileSync(panelFile, 'id: tiny\npersonas: [safety]\nconstitution: default\nmaxRounds: 2\nmaxTokens: 48\n');
    const out = path.join(dir, 'out');
    const io = captureIo(REPO_ROOT);
    const code = await main(
      [
        'label',
        ARENA,
        '--limit',
        '2',
        '--out',
        out,
        '--panel',
        panelFile,
        '--model',
        `local:${TINY_GGUF}`,
        '--max-rounds',
        '0',
        '--concurrency',
        '2',
        '--json',
      ],
      io,
    );
    const summary = JSON.parse(io.out()) as {
      status: string;
      totals: { items: number; done: number; failed: number; pending: number; running: number };
      session: { usage: { calls: number } };
      failures: { successRate: number | null };
    };
    // Random weights: when the model fails on most items, the run says so and exits 3 (see --min-success-rate).
    expect(code, io.err()).toBe((summary.failures.successRate ?? 0) >= 0.5 ? 0 : 3);
    expect(summary.status).toBe('done');
    expect(summary.totals.items).toBe(2);
    expect(summary.totals.done + summary.totals.failed).toBe(2);
    expect(summary.totals).toMatchObject({ pending: 0, running: 0 });
    expect(summary.session.usage.calls).toBeGreaterThanOrEqual(8); // 2 items x 4 candidates x 1 critic, plus repairs
    expect(readJsonl(path.join(out, 'labels.jsonl'))).toHaveLength(summary.totals.done);
    for (const name of ['pairs.jsonl', 'README.md', 'score-distribution.svg'])
      expect(existsSync(path.join(out, name))).toBe(true);

    const db = new Database(path.join(out, STORE_FILE_NAME), { readonly: true });
    try {
      const states = db.prepare('SELECT state, error FROM items ORDER BY line').all() as Array<{
        state: string;
        error: string | null;
      }>;
      for (const { state, error } of states) {
        expect(['done', 'failed']).toContain(state);
        if (state === 'failed')
          expect(JSON.parse(error ?? '{}')).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      }
      const turnEnds = db.prepare("SELECT count(*) AS n FROM events WHERE type = 'turn-end'").get() as { n: number };
      expect(turnEnds.n).toBe(8);
    } finally {
      db.close();
    }
  });
});
