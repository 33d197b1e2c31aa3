import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import { BIN } from '../cli/label-process.js';
import { ARENA, labelEssence, REPO_ROOT, readJsonl, tempDir } from '../runner/fixtures.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';

/*
 * kill -9 of `tribunal label --store postgres://…` mid-run, then the same command again at once: the run resumes (the
 * dead session's run lock went with its connection), and every item ends labeled exactly once, with the labels an
 * uninterrupted SQLite run gives.
 */
const unavailable = postgresUnavailable();
const ITEMS = 12;
const MODEL = 'fake:judge?latencyMs=100';

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  doneAtKill?: number;
}

describe.skipIf(unavailable !== undefined)(
  `tribunal label --store after kill -9${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let cluster: PostgresCluster;
    let url: string;

    beforeAll(async () => {
      cluster = await startPostgresCluster();
      url = await cluster.createDatabase('crash');
    });
    afterAll(() => cluster?.stop());

    async function doneItems(): Promise<number> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const exists = await client.query("SELECT to_regclass('items') IS NOT NULL AS ok");
        if (exists.rows[0]?.ok !== true) return 0;
        const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM items WHERE state = 'done'");
        return Number(rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    }

    function label(options: { out: string; store?: string; killWhenDone?: number }): Promise<Outcome> {
      const args = [
        'label',
        ARENA,
        '--limit',
        String(ITEMS),
        '--model',
        MODEL,
        '--out',
        options.out,
        '--concurrency',
        '4',
        '--json',
      ];
      if (options.store) args.push('--store', options.store);
      return new Promise((resolve, reject) => {
        const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '', TRIBUNAL_STORE: '' },
        });
        let stdout = '';
        let stderr = '';
        let doneAtKill: number | undefined;
        child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        let watching = options.killWhenDone !== undefined;
        const watch = async () => {
          while (watching) {
            const done = await doneItems().catch(() => 0);
            if (done >= (options.killWhenDone ?? 0)) {
              doneAtKill = done;
              child.kill('SIGKILL');
              return;
            }
            await new Promise((wait) => setTimeout(wait, 20));
          }
        };
        void watch();
        child.on('error', reject);
        child.on('close', (code, signal) => {
          watching = false;
          resolve({ code, signal, stdout, stderr, ...(doneAtKill === undefined ? {} : { doneAtKill }) });
        });
      });
    }

    it('resumes at once and labels every item exactly once, as an uninterrupted SQLite run does', async () => {
      const dir = tempDir('tribunal-pg-crash-');
      const clean = await label({ out: path.join(dir, 'clean') });
      expect(clean.code, clean.stderr).toBe(0);

      const out = path.join(dir, 'crashed');
      const killed = await label({ out, store: url, killWhenDone: 3 });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(killed.doneAtKill ?? ITEMS).toBeLessThan(ITEMS);

      const resumed = await label({ out, store: url });
      expect(resumed.code, resumed.stderr).toBe(0);
      const summary = JSON.parse(resumed.stdout) as { opening: string; recovered: number; totals: Record<string, number> };
      expect(summary.opening).toBe('resumed');
      expect(summary.recovered).toBeGreaterThan(0);
      expect(summary.totals).toMatchObject({ items: ITEMS, done: ITEMS, pending: 0, running: 0 });

      const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
      expect(new Set(labels.map((row) => row.id)).size).toBe(ITEMS);
      expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(dir, 'clean', 'labels.jsonl'))));

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const duplicates = await client.query(
          'SELECT debate_id, seq FROM events GROUP BY run_id, debate_id, seq HAVING count(*) > 1',
        );
        expect(duplicates.rows).toEqual([]);
        expect((await client.query('SELECT count(*)::int AS n FROM debate_snapshots')).rows[0]).toEqual({ n: 0 });
      } finally {
        await client.end();
      }
    });
  },
);
