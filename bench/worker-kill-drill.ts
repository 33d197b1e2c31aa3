/**
 * The kill drill, larger than its test (test/cli/label-workers.test.ts): a run queued with `tribunal label --no-work`,
 * `--workers` `tribunal worker` processes on it, `--kill` of them killed with SIGKILL at seeded random moments while
 * they hold items, one worker started again; then the run must hold every item done exactly once, and `tribunal
 * export` must write the same pairs, byte for byte, as one `tribunal label` process. On Postgres (a throwaway cluster,
 * as the tests start one) unless `--sqlite`. Prints a report and writes bench/results/worker-kill-drill.json.
 *
 *   npx tsx bench/worker-kill-drill.ts                       # Postgres, 200 items, 4 workers, 2 killed
 *   npx tsx bench/worker-kill-drill.ts --sqlite --items 64    # one SQLite file, several processes
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { mulberry32 } from '../test/cli/label-process.js';
import { startPostgresCluster } from '../test/store/postgres-cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'tribunal.js');
const ARENA = path.resolve(ROOT, '../shared/datasets/arena-hard-candidates.jsonl');
const flag = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const sqlite = process.argv.includes('--sqlite');
const ITEMS = flag('--items', 200);
const WORKERS = flag('--workers', 4);
const KILLS = Math.min(flag('--kill', 2), WORKERS);
const SEED = flag('--seed', 14);
const MODEL = 'fake:judge?latencyMs=50';
const ENV = { ...process.env, TRIBUNAL_CONCURRENCY: '1000000', TRIBUNAL_STORE: '', OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
const label = (out: string) => [
  'label',
  ARENA,
  '--limit',
  String(ITEMS),
  '--model',
  MODEL,
  '--out',
  out,
  '--max-rounds',
  '1',
  '--json',
];

function cli(args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: ENV, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function startWorker(args: string[]): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { cwd: ROOT, env: ENV, stdio: 'ignore' });
  return { child, exited: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-kill-drill-'));
const random = mulberry32(SEED);
const startedAt = Date.now();
const cluster = sqlite ? undefined : await startPostgresCluster();
try {
  process.stderr.write(`one process: ${ITEMS} items ...\n`);
  cli([...label(path.join(dir, 'single')), '--concurrency', '32']);
  const singlePairs = readFileSync(path.join(dir, 'single', 'pairs.jsonl'), 'utf8');

  const out = path.join(dir, 'drill');
  const url = cluster === undefined ? undefined : await cluster.createDatabase('drill');
  const storeArgs = url === undefined ? [] : ['--store', url];
  const { runId } = JSON.parse(cli([...label(out), ...storeArgs, '--no-work'])) as { runId: string };
  const query = async (sql: string, params: unknown[]): Promise<number> => {
    if (url !== undefined) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        let index = 0;
        return Number(
          (
            await client.query(
              sql.replaceAll('?', () => `$${++index}`),
              params,
            )
          ).rows[0]?.n ?? 0,
        );
      } finally {
        await client.end();
      }
    }
    const db = new Database(path.join(out, 'tribunal.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return Number((db.prepare(sql).get(...params) as { n: number } | undefined)?.n ?? 0);
    } finally {
      db.close();
    }
  };
  const workerArgs = ['--store', url ?? out, '--run', runId, '--concurrency', '16', '--lease-s', '2'];
  process.stderr.write(`drill: ${WORKERS} workers, ${KILLS} killed, 1 started again ...\n`);
  const workers = Array.from({ length: WORKERS }, () => startWorker(workerArgs));
  const kills: Array<{ pid: number; doneAtKill: number; heldAtKill: number }> = [];
  for (let kill = 0; kill < KILLS; kill++) {
    const victim = workers[kill];
    const pid = victim?.child.pid ?? 0;
    // Wait until a random share of the items is done and the victim holds items, then kill it.
    const target = Math.floor(random() * 0.6 * ITEMS);
    for (;;) {
      const done = await query("SELECT count(*) AS n FROM items WHERE run_id = ? AND state = 'done'", [runId]);
      const held = await query("SELECT count(*) AS n FROM items WHERE state = 'running' AND lease_owner LIKE ?", [`%:${pid}:%`]);
      if ((done >= target && held > 0) || victim?.child.exitCode !== null) {
        victim?.child.kill('SIGKILL');
        kills.push({ pid, doneAtKill: done, heldAtKill: held });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const restarted = startWorker(workerArgs);
  const codes = await Promise.all([...workers, restarted].map((worker) => worker.exited));
  cli(['export', out, ...storeArgs]);
  const pairs = readFileSync(path.join(out, 'pairs.jsonl'), 'utf8');
  const done = await query("SELECT count(*) AS n FROM items WHERE run_id = ? AND state = 'done'", [runId]);
  const other = await query("SELECT count(*) AS n FROM items WHERE run_id = ? AND state <> 'done'", [runId]);
  const takenOver = await query('SELECT count(*) AS n FROM items WHERE run_id = ? AND attempts > 1', [runId]);
  const labels = readFileSync(path.join(out, 'labels.jsonl'), 'utf8').trim().split('\n');
  const ids = labels.map((line) => (JSON.parse(line) as { id: string }).id);
  const report = {
    benchmark: 'worker-kill-drill',
    command: `npx tsx bench/worker-kill-drill.ts${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)) },
    settings: {
      store: sqlite ? 'sqlite' : 'postgres',
      items: ITEMS,
      workers: WORKERS,
      killed: KILLS,
      seed: SEED,
      model: MODEL,
      leaseS: 2,
    },
    kills,
    exitCodes: codes,
    result: {
      done,
      notDone: other,
      lost: ITEMS - new Set(ids).size,
      duplicated: ids.length - new Set(ids).size,
      takenOver,
      pairsIdenticalToOneProcess: pairs === singlePairs,
      seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    },
  };
  console.log(JSON.stringify(report.result, null, 2));
  const results = path.join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(path.join(results, 'worker-kill-drill.json'), `${JSON.stringify(report, null, 2)}\n`);
  const ok = done === ITEMS && other === 0 && report.result.lost === 0 && report.result.duplicated === 0 && pairs === singlePairs;
  if (!ok) {
    process.stderr.write('the drill FAILED: see the result above\n');
    process.exitCode = 1;
  }
} finally {
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
}
