import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { labelEssence, nativeItem, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from '../store/postgres-cluster.js';
import { BIN, itemStates, mulberry32, runCli, runProblems } from './label-process.js';

/*
 * The kill drill, small: a run queued with `label --no-work`, three `tribunal worker` processes on it, one killed
 * with SIGKILL at a seeded random point while it works, another started; the run ends with every item settled
 * exactly once and the same pairs, byte for byte, as a single `tribunal label` process writes. On SQLite (several
 * processes on one WAL file) and on Postgres when its binaries are here.
 */
const ITEMS = 24;
const MODEL = 'fake:judge?latencyMs=30';
const LEASE_S = '1';

interface Spawned {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function spawnCli(args: string[]): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '', TRIBUNAL_STORE: '' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, exited };
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let tries = 0; tries < 3000; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tribunal worker: three workers, one killed with SIGKILL, another started', () => {
  const dir = tempDir('tribunal-workers-');
  const input = writeInput(
    dir,
    Array.from({ length: ITEMS }, (_, index) => nativeItem(index + 1, 3)),
  );
  const itemIds = Array.from({ length: ITEMS }, (_, index) => `item-${index + 1}`);
  const labelArgs = (out: string) => ['label', input, '--model', MODEL, '--out', out, '--max-rounds', '1', '--json'];
  let cleanPairs = '';
  let cleanLabels: ReturnType<typeof labelEssence> = [];

  beforeAll(async () => {
    const out = path.join(dir, 'single');
    const result = await runCli({ args: [...labelArgs(out), '--concurrency', '4'], out });
    expect(result.code, result.stderr).toBe(0);
    cleanPairs = readFileSync(path.join(out, 'pairs.jsonl'), 'utf8');
    cleanLabels = labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')));
    expect(cleanPairs.length).toBeGreaterThan(0);
  });

  /** The drill against one store; `done()` counts the run's done items the way another process sees them. */
  async function drill(options: {
    out: string;
    store: string[];
    workerStore: string[];
    done: () => Promise<number>;
    /** Items a process (by pid: worker ids are `host:pid:random`) holds now. */
    heldBy: (pid: number) => Promise<number>;
    /** The most claims any item needed: 2 or more once the victim's items were taken over after its lease. */
    maxAttempts: () => Promise<number>;
    seed: number;
  }) {
    const { out } = options;
    const queued = await runCli({ args: [...labelArgs(out), ...options.store, '--no-work'], out });
    expect(queued.code, queued.stderr).toBe(0);
    expect(JSON.parse(queued.stdout).status).toBe('queued');
    const runId = JSON.parse(queued.stdout).runId as string;
    const workerArgs = ['worker', ...options.workerStore, '--run', runId, '--concurrency', '2', '--lease-s', LEASE_S];
    const workers = [spawnCli(workerArgs), spawnCli(workerArgs), spawnCli(workerArgs)];
    const random = mulberry32(options.seed);
    // Kill the first worker while it works: once 1 to 5 items are done and it holds items, then up to 100 ms more.
    const after = 1 + Math.floor(random() * 5);
    const victim = workers[0] as Spawned;
    const pid = victim.child.pid ?? 0;
    await waitFor(
      async () => (await options.done()) >= after && (await options.heldBy(pid)) > 0,
      `${after} done items and the victim holding some`,
    );
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 100)));
    victim.child.kill('SIGKILL');
    const late = spawnCli(workerArgs);
    const results = await Promise.all([...workers, late].map((worker) => worker.exited));
    expect(results[0]?.signal, 'the victim was killed while it worked').toBe('SIGKILL');
    for (const result of results.slice(1)) expect(result.code, result.stderr).toBe(0);
    expect(await options.maxAttempts(), 'the killed worker held items, and others took them over').toBeGreaterThanOrEqual(2);
    const exported = await runCli({ args: ['export', out, ...options.store], out });
    expect(exported.code, exported.stderr).toBe(0);
    expect(readFileSync(path.join(out, 'pairs.jsonl'), 'utf8')).toBe(cleanPairs);
    expect(labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')))).toEqual(cleanLabels);
    return runId;
  }

  it('label --processes 3 labels with two worker children beside it, the same pairs as one process', async () => {
    const out = path.join(dir, 'processes');
    const result = await runCli({ args: [...labelArgs(out), '--concurrency', '6', '--processes', '3'], out });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).status).toBe('done');
    expect(readFileSync(path.join(out, 'pairs.jsonl'), 'utf8')).toBe(cleanPairs);
    expect(runProblems({ out, itemIds })).toEqual([]);
  }, 120_000);

  it('label --processes 2 stopped with Ctrl-C stops its worker child gracefully: nothing left running; a rerun finishes', async () => {
    const out = path.join(dir, 'processes-sigint');
    const args = [...labelArgs(out), '--concurrency', '2', '--processes', '2'];
    const stopped = await runCli({ args, out, plan: { killWhenDone: 2, signal: 'SIGINT' } });
    expect(stopped.code, stopped.stderr).toBe(130);
    const states = itemStates(out);
    expect(states.running ?? 0, JSON.stringify(states)).toBe(0);
    expect(states.pending ?? 0).toBeGreaterThan(0);
    const finished = await runCli({ args, out });
    expect(finished.code, finished.stderr).toBe(0);
    expect(runProblems({ out, itemIds })).toEqual([]);
  }, 120_000);

  it('on SQLite: every item settled exactly once, pairs byte-identical to one process', async () => {
    const out = path.join(dir, 'sqlite');
    await drill({
      out,
      store: [],
      workerStore: ['--store', out],
      done: async () => itemStates(out).done ?? 0,
      heldBy: async (pid) => {
        const db = new Database(path.join(out, STORE_FILE_NAME), { readonly: true, fileMustExist: true });
        try {
          const sql = "SELECT count(*) AS n FROM items WHERE state = 'running' AND lease_owner LIKE ?";
          return (db.prepare(sql).get(`%:${pid}:%`) as { n: number }).n;
        } finally {
          db.close();
        }
      },
      maxAttempts: async () => {
        const db = new Database(path.join(out, STORE_FILE_NAME), { readonly: true, fileMustExist: true });
        try {
          return (db.prepare('SELECT max(attempts) AS n FROM items').get() as { n: number }).n;
        } finally {
          db.close();
        }
      },
      seed: 14,
    });
    expect(runProblems({ out, itemIds })).toEqual([]);
  }, 120_000);

  const unavailable = postgresUnavailable();
  describe.skipIf(unavailable !== undefined)(`on Postgres${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
    let cluster: PostgresCluster | undefined;
    afterAll(() => cluster?.stop());

    it('every item settled exactly once, pairs byte-identical to one process', async () => {
      cluster = await startPostgresCluster();
      const url = await cluster.createDatabase('workers');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const count = async (sql: string) => Number((await client.query(sql)).rows[0]?.n ?? 0);
        const out = path.join(dir, 'postgres');
        await drill({
          out,
          store: ['--store', url],
          workerStore: ['--store', url],
          done: () => count("SELECT count(*) AS n FROM items WHERE state = 'done'"),
          maxAttempts: () => count('SELECT max(attempts) AS n FROM items'),
          heldBy: async (pid) =>
            Number(
              (
                await client.query("SELECT count(*) AS n FROM items WHERE state = 'running' AND lease_owner LIKE $1", [
                  `%:${pid}:%`,
                ])
              ).rows[0]?.n ?? 0,
            ),
          seed: 15,
        });
        expect(await count("SELECT count(*) AS n FROM items WHERE state <> 'done'")).toBe(0);
        expect(await count("SELECT count(*) AS n FROM items WHERE state = 'done'")).toBe(ITEMS);
        const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
        expect(labels.map((row) => row.id).sort()).toEqual([...itemIds].sort());
      } finally {
        await client.end();
      }
    }, 120_000);
  });
});
