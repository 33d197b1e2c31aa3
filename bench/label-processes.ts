/**
 * Benchmark of `tribunal label --processes N`: items per second with 256 items in flight in all (shared out between
 * the processes) with 1, 2 and 4 processes, on SQLite (one WAL file, several writers) and on Postgres when its
 * server binaries are here (a throwaway cluster, as the tests start one), against the fake judge with a fixed model
 * latency. Each run is the real command line in a fresh run directory; CPU is the whole process tree's (the shell's
 * `times` after the command: the coordinator and its worker children). Not a test: numbers depend on the machine.
 * Writes bench/results/label-processes.json (also in quick mode, marked `quick`) and prints a table.
 *
 *   npx tsx bench/label-processes.ts            # 512 items per run
 *   npx tsx bench/label-processes.ts --quick    # 256 items per run, once each
 *   npx tsx bench/label-processes.ts --items 1912 --stores sqlite --processes 1,2 --json label-processes-long.json
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabelRow } from '../src/contracts/index.js';
import { findPostgresBin, startPostgresCluster } from '../test/store/postgres-cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'tribunal.js');
const ARENA = path.resolve(ROOT, '../shared/datasets/arena-hard-candidates.jsonl');
const quick = process.argv.includes('--quick');
const flag = (name: string): string | undefined => {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
};
const LATENCY_MS = 200;
const MODEL = `fake:judge?latencyMs=${LATENCY_MS}&chunks=16`;
const IN_FLIGHT = 256;
/** --items N: more items than the Arena file holds repeat its items under new ids (longer runs amortise start-up). */
const ITEMS = Number(flag('--items') ?? (quick ? 256 : 512));
const PROCESSES = (flag('--processes') ?? '1,2,4').split(',').map(Number);
const STORES = (flag('--stores') ?? 'sqlite,postgres').split(',');

/** The input: the Arena file, or (for --items beyond it) its items repeated under new ids, in a temporary file. */
function inputFile(): string {
  const lines = readFileSync(ARENA, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  if (ITEMS <= lines.length) return ARENA;
  const rows: string[] = [];
  for (let index = 0; rows.length < ITEMS; index++) {
    const row = JSON.parse(lines[index % lines.length] as string) as { id?: string };
    rows.push(JSON.stringify({ ...row, id: `${row.id ?? 'item'}~${Math.floor(index / lines.length)}` }));
  }
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tribunal-bench-input-')), 'input.jsonl');
  writeFileSync(file, `${rows.join('\n')}\n`);
  return file;
}
const INPUT = inputFile();

interface Measurement {
  store: 'sqlite' | 'postgres';
  processes: number;
  items: number;
  /** The coordinator's session, from opening the run to the end of its export (children's start-up included). */
  seconds: number;
  itemsPerSecond: number;
  idealItemsPerSecond: number;
  cpuMsPerItem: number;
  /** Items the coordinator labeled itself (the rest by its worker children). */
  byCoordinator: number;
}

function measure(options: { store: 'sqlite' | 'postgres'; processes: number; url?: string }): Measurement {
  const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-bench-processes-'));
  const out = path.join(dir, 'out');
  const args = [
    BIN,
    'label',
    INPUT,
    '--limit',
    String(ITEMS),
    '--model',
    MODEL,
    '--out',
    out,
    '--concurrency',
    String(IN_FLIGHT),
    '--processes',
    String(options.processes),
    '--json',
    ...(options.url === undefined ? [] : ['--store', options.url]),
  ];
  // `times` prints the shell's children's user and system time: the coordinator and the workers it waited for.
  const script = `"$0" "$@" > "${dir}/summary.json" 2> "${dir}/stderr.txt"; code=$?; times; exit $code`;
  const printed = execFileSync('sh', ['-c', script, process.execPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TRIBUNAL_CONCURRENCY: '1000000', TRIBUNAL_STORE: '', OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' },
  });
  const childTimes = printed.trim().split('\n').at(-1) ?? '';
  const cpuSeconds = childTimes
    .split(/\s+/)
    .map((field) => /^(\d+)m([\d.]+)s$/.exec(field))
    .reduce((sum, match) => sum + (match ? Number(match[1]) * 60 + Number(match[2]) : 0), 0);
  const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as {
    totals: { done: number };
    session: { done: number; elapsedMs: number };
  };
  const rows = readFileSync(path.join(out, 'labels.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LabelRow);
  rmSync(dir, { recursive: true, force: true });
  const items = summary.totals.done;
  const seconds = summary.session.elapsedMs / 1000;
  const modelSeconds = rows.reduce((sum, row) => sum + (row.roundsUsed + 1) * (LATENCY_MS / 1000), 0);
  const round = (value: number, digits = 2) => Number(value.toFixed(digits));
  return {
    store: options.store,
    processes: options.processes,
    items,
    seconds: round(seconds, 3),
    itemsPerSecond: round(items / seconds),
    idealItemsPerSecond: round(items / (modelSeconds / IN_FLIGHT)),
    cpuMsPerItem: round((cpuSeconds * 1000) / items),
    byCoordinator: summary.session.done,
  };
}

const results: Measurement[] = [];
const loadBefore = loadavg()[0] ?? 0;
if (STORES.includes('sqlite')) {
  for (const processes of PROCESSES) {
    process.stderr.write(`sqlite, ${processes} processes: ${ITEMS} items ...\n`);
    results.push(measure({ store: 'sqlite', processes }));
  }
}
let postgres = STORES.includes('postgres') ? 'skipped: no Postgres server binaries' : 'not measured (--stores)';
if (STORES.includes('postgres') && findPostgresBin() !== undefined) {
  const cluster = await startPostgresCluster();
  try {
    postgres = 'a throwaway cluster (test/store/postgres-cluster.ts: Unix socket, fsync off)';
    for (const processes of PROCESSES) {
      process.stderr.write(`postgres, ${processes} processes: ${ITEMS} items ...\n`);
      const url = await cluster.createDatabase(`bench_${processes}`);
      results.push(measure({ store: 'postgres', processes, url }));
    }
  } finally {
    cluster.stop();
  }
}
const loadAfter = loadavg()[0] ?? 0;

console.table(
  results.map((entry) => ({
    store: entry.store,
    processes: entry.processes,
    items: entry.items,
    'items/s': entry.itemsPerSecond,
    'ideal items/s': entry.idealItemsPerSecond,
    'CPU ms/item (all processes)': entry.cpuMsPerItem,
    'by coordinator': entry.byCoordinator,
  })),
);

const outDir = path.join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const resultName = flag('--json') ?? 'label-processes.json';
writeFileSync(
  path.join(outDir, resultName),
  `${JSON.stringify(
    {
      benchmark: 'label-processes',
      command: `npx tsx bench/label-processes.ts ${process.argv.slice(2).join(' ')}`.trim(),
      quick,
      date: new Date().toISOString(),
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        platform: `${process.platform}-${process.arch}`,
        loadAverage1m: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
      },
      node: process.version,
      settings: {
        input: `../shared/datasets/arena-hard-candidates.jsonl (4 candidates an item)${INPUT === ARENA ? '' : `, repeated under new ids to ${ITEMS} items`}`,
        panel: 'panels/default.yaml (3 critics, up to 2 debate rounds, simultaneous)',
        model: MODEL,
        inFlight: `${IN_FLIGHT} in all: --concurrency ${IN_FLIGHT} is shared out between the processes`,
        providerConcurrency: 'TRIBUNAL_CONCURRENCY=1000000 (the fake provider does not limit)',
        ideal: 'sum over items of (rounds held x latency) / in flight',
        seconds: "the coordinator's session (opening the run to its export), children's start-up included",
        cpu: "user + system time of the whole process tree (the shell's `times`)",
        postgres,
      },
      results,
    },
    null,
    2,
  )}\n`,
);
process.stderr.write(`wrote ${path.relative(ROOT, path.join(outDir, resultName))}\n`);
