/**
 * Builds correct-vs-broken HumanEval pairs with a known right answer: for each task, the canonical program (checked to
 * pass its tests in the sandbox) against single-site mutants of its body (operator swaps, off-by-one, dropped branch...,
 * see src/sandbox/python-mutants.ts) that FAIL their tests in the sandbox; mutants that pass, time out or do not load
 * are dropped. Writes native rows (`meta.humanPreferred = "chosen"`, `meta.tests`, `meta.entry_point`: what
 * `tribunal eval --gold` and a code critic read) and, with --trl-out, the same pairs as TRL rows (no meta).
 *
 *   npx tsx scripts/humaneval-pairs.ts --out humaneval-pairs.jsonl [--in ../shared/datasets/humaneval.jsonl.gz]
 *     [--trl-out humaneval-pairs.trl.jsonl] [--per-task 1] [--seed humaneval] [--workers 2] [--limit N]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type HumanEvalRow, HumanEvalRowSchema, TribunalError } from '../src/contracts/index.js';
import { humanEvalProgram, humanEvalPrompt, readLines } from '../src/datasets/index.js';
import { seededRandom, writeJsonlAtomic } from '../src/export/index.js';
import { createSandboxPool, type Mutant, pythonMutants, type SandboxPool } from '../src/sandbox/index.js';

/** One built pair in our native input format. */
export interface HumanEvalPairRow {
  id: string;
  prompt: string;
  candidates: Array<{ id: 'chosen' | 'rejected'; text: string }>;
  meta: {
    humanPreferred: 'chosen';
    taskId: string;
    tests: string;
    entry_point: string;
    mutation: { operator: Mutant['operator']; line: number; from: string; to: string };
  };
}

/** What happened to one task. */
export interface HumanEvalTaskReport {
  taskId: string;
  canonical: string;
  pairs: number;
  mutantsTried: number;
}

/**
 * Builds up to `perTask` pairs for each row, running the sandbox for the canonical program and for mutants in a
 * seeded order until enough fail their tests (at most `maxTries` mutants a task). Tasks run `concurrency` at a time.
 */
export async function buildHumanEvalPairs(options: {
  rows: HumanEvalRow[];
  pool: SandboxPool;
  perTask?: number;
  maxTries?: number;
  seed?: string;
  concurrency?: number;
}): Promise<{ pairs: HumanEvalPairRow[]; reports: HumanEvalTaskReport[] }> {
  const perTask = options.perTask ?? 1;
  const maxTries = options.maxTries ?? 12;
  const seed = options.seed ?? 'humaneval';
  const results: Array<{ pairs: HumanEvalPairRow[]; report: HumanEvalTaskReport }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.rows.length) {
      const index = next++;
      results[index] = await buildTask(options.rows[index] as HumanEvalRow, options.pool, perTask, maxTries, seed);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
  return { pairs: results.flatMap((result) => result.pairs), reports: results.map((result) => result.report) };
}

async function buildTask(
  row: HumanEvalRow,
  pool: SandboxPool,
  perTask: number,
  maxTries: number,
  seed: string,
): Promise<{ pairs: HumanEvalPairRow[]; report: HumanEvalTaskReport }> {
  const run = (body: string) =>
    pool.runPython({ code: humanEvalProgram(row, body), tests: row.test, entryPoint: row.entry_point });
  const canonical = await run(row.canonical_solution);
  const report: HumanEvalTaskReport = { taskId: row.task_id, canonical: canonical.status, pairs: 0, mutantsTried: 0 };
  if (canonical.status !== 'passed') return { pairs: [], report };
  const random = seededRandom(`${seed}:${row.task_id}`);
  const mutants = shuffle(pythonMutants(row.canonical_solution), random);
  const pairs: HumanEvalPairRow[] = [];
  for (const mutant of mutants) {
    if (pairs.length >= perTask || report.mutantsTried >= maxTries) break;
    report.mutantsTried += 1;
    const result = await run(mutant.source);
    if (result.status !== 'failed') continue;
    const chosen = { id: 'chosen' as const, text: humanEvalProgram(row, row.canonical_solution) };
    const rejected = { id: 'rejected' as const, text: humanEvalProgram(row, mutant.source) };
    pairs.push({
      id: `${row.task_id}#${mutant.operator}@${mutant.line}`,
      prompt: humanEvalPrompt(row),
      // Position is seeded per task so the right answer is not always first.
      candidates: random() < 0.5 ? [chosen, rejected] : [rejected, chosen],
      meta: {
        humanPreferred: 'chosen',
        taskId: row.task_id,
        tests: row.test,
        entry_point: row.entry_point,
        mutation: { operator: mutant.operator, line: mutant.line, from: mutant.from, to: mutant.to },
      },
    });
  }
  report.pairs = pairs.length;
  return { pairs, report };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

/** Reads HumanEval rows (plain or gzipped JSONL), failing on the first bad line with its number and field. */
export async function readHumanEvalRows(file: string, limit = Number.POSITIVE_INFINITY): Promise<HumanEvalRow[]> {
  const rows: HumanEvalRow[] = [];
  for await (const { line, text } of readLines({ file })) {
    if (text.trim() === '') continue;
    if (rows.length >= limit) break;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new TribunalError('INPUT_INVALID', `${file}:${line}: invalid JSON (${(error as Error).message})`);
    }
    const parsed = HumanEvalRowSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TribunalError('INPUT_INVALID', `${file}:${line}: ${issue?.path.join('.')}: ${issue?.message}`, {
        location: { file, line },
      });
    }
    rows.push(parsed.data);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      in: { type: 'string', default: '../shared/datasets/humaneval.jsonl.gz' },
      out: { type: 'string' },
      'trl-out': { type: 'string' },
      'per-task': { type: 'string', default: '1' },
      seed: { type: 'string', default: 'humaneval' },
      workers: { type: 'string', default: '2' },
      limit: { type: 'string' },
    },
  });
  if (values.out === undefined) throw new TribunalError('CONFIG_INVALID', '--out FILE is required');
  const positive = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new TribunalError('CONFIG_INVALID', `--${name} must be a positive integer`);
    return value;
  };
  const perTask = positive('per-task', values['per-task']);
  const workers = positive('workers', values.workers);
  const rows = await readHumanEvalRows(
    path.resolve(values.in),
    values.limit === undefined ? undefined : positive('limit', values.limit),
  );
  const pool = createSandboxPool({ size: workers, timeoutMs: 5000 });
  try {
    const { pairs, reports } = await buildHumanEvalPairs({ rows, pool, perTask, seed: values.seed, concurrency: workers });
    await writeJsonlAtomic({ file: path.resolve(values.out), rows: pairs });
    const trlOut = values['trl-out'];
    if (trlOut !== undefined) {
      await writeJsonlAtomic({
        file: path.resolve(trlOut),
        rows: pairs.map((pair) => ({
          id: pair.id,
          prompt: pair.prompt,
          chosen: pair.candidates.find((candidate) => candidate.id === 'chosen')?.text,
          rejected: pair.candidates.find((candidate) => candidate.id === 'rejected')?.text,
        })),
      });
    }
    const failing = reports.filter((report) => report.canonical !== 'passed');
    const without = reports.filter((report) => report.canonical === 'passed' && report.pairs === 0);
    process.stdout.write(
      `${pairs.length} pairs from ${rows.length} tasks -> ${values.out}\n` +
        `canonical solutions passing: ${rows.length - failing.length}/${rows.length}` +
        `${failing.length > 0 ? ` (not: ${failing.map((report) => `${report.taskId} ${report.canonical}`).join(', ')})` : ''}\n` +
        `tasks without a failing mutant: ${without.length}${without.length > 0 ? ` (${without.map((report) => report.taskId).join(', ')})` : ''}\n`,
    );
    if (failing.length > 0) process.exitCode = 1;
  } finally {
    await pool.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
