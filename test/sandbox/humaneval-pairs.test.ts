import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHumanEvalPairs, readHumanEvalRows } from '../../scripts/humaneval-pairs.js';
import { readItems } from '../../src/datasets/index.js';
import { createSandboxPool, type SandboxPool } from '../../src/sandbox/index.js';

// CI keeps shared/ beside the clone; never copy these files into the repo.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HUMANEVAL = path.resolve(repoRoot, '../shared/datasets/humaneval.jsonl.gz');
let pool: SandboxPool;

beforeAll(async () => {
  pool = createSandboxPool({ size: 1, timeoutMs: 5000 });
  await pool.warm();
});

afterAll(async () => {
  await pool?.close();
});

describe('HumanEval pairs', () => {
  it('pairs a passing canonical program with mutants that fail their tests, readable as gold pairs', async () => {
    const rows = await readHumanEvalRows(HUMANEVAL, 6);
    const { pairs, reports } = await buildHumanEvalPairs({ rows, pool, perTask: 1, seed: 'test' });
    expect(reports.map((report) => report.canonical)).toEqual(Array(6).fill('passed'));
    expect(pairs.length).toBeGreaterThanOrEqual(4);
    for (const pair of pairs) {
      const chosen = pair.candidates.find((candidate) => candidate.id === 'chosen')?.text ?? '';
      const rejected = pair.candidates.find((candidate) => candidate.id === 'rejected')?.text ?? '';
      expect(chosen).not.toBe(rejected);
      const run = (code: string) => pool.runPython({ code, tests: pair.meta.tests, entryPoint: pair.meta.entry_point });
      expect((await run(chosen)).status).toBe('passed');
      expect((await run(rejected)).status).toBe('failed');
    }
    // The same seed gives the same pairs.
    const again = await buildHumanEvalPairs({ rows: rows.slice(0, 2), pool, perTask: 1, seed: 'test' });
    expect(again.pairs.map((pair) => pair.id)).toEqual(
      pairs.filter((pair) => rows.slice(0, 2).some((row) => pair.meta.taskId === row.task_id)).map((pair) => pair.id),
    );

    const file = path.join(mkdtempSync(path.join(tmpdir(), 'humaneval-pairs-')), 'pairs.jsonl');
    writeFileSync(file, pairs.map((pair) => JSON.stringify(pair)).join('\n'));
    const items = [];
    for await (const result of readItems({ file })) if (result.kind === 'item') items.push(result.item);
    expect(items).toHaveLength(pairs.length);
    expect(items[0]?.meta).toMatchObject({ humanPreferred: 'chosen', entry_point: pairs[0]?.meta.entry_point });
  });

  it('names the file, line and field of a bad HumanEval row', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'humaneval-bad-')), 'bad.jsonl');
    writeFileSync(file, '{"task_id": "t", "prompt": "p", "canonical_solution": "", "test": "t", "entry_point": "1x"}\n');
    await expect(readHumanEvalRows(file)).rejects.toThrow(/bad\.jsonl:1: entry_point: must be a Python identifier/);
  });
});
