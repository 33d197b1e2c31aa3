import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { PostgresStore } from '../../src/store/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { HH, nativeItem, REPO_ROOT, tempDir, writeInput } from '../runner/fixtures.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';

/*
 * `tribunal label --store postgres://…` and `tribunal export --store …` end to end: the run lives in Postgres, the
 * run directory holds only outputs, any directory can export it, and a second session of the run is refused.
 */
const unavailable = postgresUnavailable();
const ENV = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_STORE'];

describe.skipIf(unavailable !== undefined)(
  `tribunal label/export --store${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let cluster: PostgresCluster;
    let url: string;
    let saved: Record<string, string | undefined> = {};

    beforeAll(async () => {
      cluster = await startPostgresCluster();
      url = await cluster.createDatabase('cli');
    });
    afterAll(() => cluster?.stop());
    beforeEach(() => {
      saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
      for (const name of ENV) delete process.env[name];
    });
    afterEach(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    async function run(args: string[]) {
      const io = captureIo(REPO_ROOT);
      const code = await main(args, io);
      return { code, out: io.out(), err: io.err() };
    }

    it('labels into Postgres, keeps outputs in the run directory, and exports the same files from another one', async () => {
      const dir = tempDir();
      const input = writeInput(dir, [nativeItem(1), nativeItem(2), '{oops', nativeItem(3)]);
      const out = path.join(dir, 'out');
      const labeled = await run([
        'label',
        input,
        '--out',
        out,
        '--store',
        url,
        '--model',
        'fake:judge',
        '--max-rounds',
        '0',
        '--json',
      ]);
      expect(labeled.code, labeled.err).toBe(0);
      expect(existsSync(path.join(out, 'tribunal.sqlite'))).toBe(false);
      const labels = readFileSync(path.join(out, 'labels.jsonl'), 'utf8');
      expect(labels.trim().split('\n')).toHaveLength(3);
      const { runId } = JSON.parse(labeled.out) as { runId: string };

      // Another directory (another machine), the URL from the environment this time.
      process.env.TRIBUNAL_STORE = url;
      const elsewhere = path.join(dir, 'elsewhere', 'copy');
      const exported = await run(['export', elsewhere, '--run', runId]);
      expect(exported.code, exported.err).toBe(0);
      expect(readFileSync(path.join(elsewhere, 'labels.jsonl'), 'utf8')).toBe(labels);
      expect(readFileSync(path.join(elsewhere, 'pairs.jsonl'), 'utf8')).toBe(readFileSync(path.join(out, 'pairs.jsonl'), 'utf8'));
      expect(readFileSync(path.join(elsewhere, 'rejected.jsonl'), 'utf8')).toContain('oops');

      // Rerun: the same run, resumed, nothing labeled twice.
      const again = await run(['label', input, '--out', out, '--model', 'fake:judge', '--max-rounds', '0', '--json']);
      expect(again.code, again.err).toBe(0);
      expect(JSON.parse(again.out)).toMatchObject({ runId, opening: 'resumed' });
      expect(readFileSync(path.join(out, 'labels.jsonl'), 'utf8')).toBe(labels);
    });

    it('refuses a second session of the run from another directory, leaving the run as it was', async () => {
      const dir = tempDir();
      const input = writeInput(dir, [nativeItem(7)]);
      const first = await run([
        'label',
        input,
        '--out',
        path.join(dir, 'a'),
        '--store',
        url,
        '--model',
        'fake:judge',
        '--max-rounds',
        '0',
        '--json',
      ]);
      expect(first.code, first.err).toBe(0);
      const { runId } = JSON.parse(first.out) as { runId: string };
      const holder = PostgresStore.open({ url });
      const lock = await holder.lockRun({ runId, purpose: 'label' }); // a session elsewhere holds the run
      try {
        const second = await run(['label', input, '--out', path.join(dir, 'b'), '--store', url, '--model', 'fake:judge']);
        expect(second.code).not.toBe(0);
        expect(second.err).toContain('locked by another session');
        expect((await holder.getRun({ runId }))?.status).not.toBe('failed');
      } finally {
        await lock.release();
        await holder.close();
      }
    });

    it('evaluates a gold set with the run in Postgres', async () => {
      const out = path.join(tempDir(), 'eval');
      const result = await run([
        'eval',
        '--gold',
        HH,
        '--model',
        'fake:judge',
        '--limit',
        '5',
        '--resamples',
        '50',
        '--out',
        out,
        '--store',
        url,
      ]);
      expect(result.code, result.err).toBe(0);
      expect(existsSync(path.join(out, 'tribunal.sqlite'))).toBe(false);
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as { items: { labeled: number } };
      expect(report.items.labeled).toBe(5);
    });

    it('refuses a --store that is not a Postgres URL, without echoing it', async () => {
      const dir = tempDir();
      const input = writeInput(dir, [nativeItem(1)]);
      const result = await run([
        'label',
        input,
        '--out',
        path.join(dir, 'o'),
        '--store',
        'mysql://u:pw-secret@h/db',
        '--model',
        'fake:judge',
      ]);
      expect(result.code).toBe(2);
      expect(result.err).not.toContain('pw-secret');
    });
  },
);
