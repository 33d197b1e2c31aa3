/**
 * Cost of the Python sandbox (src/sandbox): interpreter load time, per-run overhead of a trivial program, runs/s of the
 * 164 HumanEval canonical programs with their tests on 1 worker and on `--workers` workers, and the canonical pass
 * rate (should be 164/164). Writes bench/results/sandbox.json. Not a test: numbers depend on the machine and its load.
 *
 *   npx tsx bench/sandbox.ts                 # 3 loads, 200 trivial runs, HumanEval on 1 and 2 workers
 *   npx tsx bench/sandbox.ts --workers 4 --loads 1 --trivial 50
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readHumanEvalRows } from '../scripts/humaneval-pairs.js';
import { humanEvalProgram } from '../src/datasets/index.js';
import { createSandboxPool } from '../src/sandbox/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    loads: { type: 'string', default: '3' },
    trivial: { type: 'string', default: '200' },
    in: { type: 'string', default: path.resolve(here, '../../shared/datasets/humaneval.jsonl.gz') },
  },
});
const WORKERS = Number(values.workers);
const LOADS = Number(values.loads);
const TRIVIAL = Number(values.trivial);

const median = (numbers: number[]): number => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const loadBefore = loadavg();

// 1. Load: a fresh pool of one, until its interpreter is ready (host wall time and the worker's own loadMs).
const loads: Array<{ wallMs: number; workerMs: number }> = [];
for (let index = 0; index < LOADS; index += 1) {
  const pool = createSandboxPool({ size: 1 });
  const started = performance.now();
  await pool.warm();
  loads.push({ wallMs: performance.now() - started, workerMs: pool.stats().loadMs[0] ?? Number.NaN });
  await pool.close();
}
process.stdout.write(`load: median ${round(median(loads.map((load) => load.wallMs)))} ms wall\n`);

// 2. Per-run overhead: `pass`, round trip from runPython to the resolved result, on a warm interpreter.
const single = createSandboxPool({ size: 1 });
await single.warm();
const trivial: number[] = [];
const inside: number[] = [];
for (let index = 0; index < TRIVIAL; index += 1) {
  const started = performance.now();
  const result = await single.runPython({ code: 'pass' });
  trivial.push(performance.now() - started);
  inside.push(result.timeMs);
}
process.stdout.write(`trivial run: median ${round(median(trivial), 2)} ms round trip, ${round(median(inside), 2)} ms inside\n`);

// 3. HumanEval canonical programs with their tests: runs/s on 1 worker and on WORKERS workers; pass rate.
const rows = await readHumanEvalRows(values.in);
const jobs = rows.map((row) => ({
  taskId: row.task_id,
  code: humanEvalProgram(row, row.canonical_solution),
  tests: row.test,
  entryPoint: row.entry_point,
}));

async function humanEval(pool: ReturnType<typeof createSandboxPool>, concurrency: number) {
  const statuses = new Map<string, string>();
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as (typeof jobs)[number];
        const result = await pool.runPython(job);
        statuses.set(job.taskId, result.status);
        times.push(result.timeMs);
      }
    }),
  );
  const wallMs = performance.now() - started;
  const passed = [...statuses.values()].filter((status) => status === 'passed').length;
  const notPassed = [...statuses.entries()].filter(([, status]) => status !== 'passed');
  return {
    runs: jobs.length,
    wallMs: round(wallMs),
    runsPerSecond: round((jobs.length / wallMs) * 1000),
    medianRunMs: round(median(times), 2),
    passed,
    notPassed,
    recycled: pool.stats().recycled,
  };
}

const oneWorker = await humanEval(single, 1);
await single.close();
process.stdout.write(`HumanEval, 1 worker: ${oneWorker.runsPerSecond} runs/s, ${oneWorker.passed}/${jobs.length} passed\n`);

const many = createSandboxPool({ size: WORKERS });
await many.warm();
const manyWorkers = await humanEval(many, WORKERS);
await many.close();
process.stdout.write(
  `HumanEval, ${WORKERS} workers: ${manyWorkers.runsPerSecond} runs/s, ${manyWorkers.passed}/${jobs.length} passed\n`,
);

const result = {
  recordedAt: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    node: process.version,
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg(),
  },
  load: {
    medianWallMs: round(median(loads.map((load) => load.wallMs))),
    medianWorkerMs: round(median(loads.map((load) => load.workerMs))),
    loads: loads.map((load) => ({ wallMs: round(load.wallMs), workerMs: round(load.workerMs) })),
  },
  trivialRun: { runs: TRIVIAL, medianRoundTripMs: round(median(trivial), 2), medianInsideMs: round(median(inside), 2) },
  humanEval: { oneWorker, [`workers${WORKERS}`]: manyWorkers },
};
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/sandbox.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write('wrote bench/results/sandbox.json\n');
