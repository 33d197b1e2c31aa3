import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHumanEvalPairs, readHumanEvalRows } from '../../scripts/humaneval-pairs.js';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import { createSandboxPool, type SandboxPool } from '../../src/sandbox/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

// CI keeps shared/ beside the clone; the pairs are built from it here, never copied into the repo.
const HUMANEVAL = path.resolve(REPO_ROOT, '../shared/datasets/humaneval.jsonl.gz');
let pool: SandboxPool;

beforeAll(async () => {
  pool = createSandboxPool({ size: 1, timeoutMs: 5000 });
});

afterAll(async () => {
  await pool?.close();
});

describe('tribunal label with a code panel', () => {
  it('labels HumanEval correct-vs-broken pairs offline: the verifier scores the correct program higher, pairs prefer it', async () => {
    expect(existsSync(HUMANEVAL), `${HUMANEVAL} is needed (shared/ beside the clone)`).toBe(true);
    const rows = await readHumanEvalRows(HUMANEVAL, 3);
    const { pairs } = await buildHumanEvalPairs({ rows, pool, perTask: 1, seed: 'label-code' });
    expect(pairs.length).toBeGreaterThanOrEqual(2);
    const dir = tempDir();
    const input = writeInput(dir, pairs as unknown as Array<Record<string, unknown>>);
    const out = path.join(dir, 'out');
    // The estimate counts only the model critic's calls: 2 candidates x (1 + 1 debate round) per item.
    const dry = captureIo(REPO_ROOT);
    const dryArgs = ['--panel', 'panels/code.yaml', '--model', 'fake:judge', '--dry-run', '--json'];
    expect(await main(['label', input, '--out', path.join(dir, 'dry'), ...dryArgs], dry)).toBe(0);
    expect((JSON.parse(dry.out()) as { total: { calls: number } }).total.calls).toBe(pairs.length * 2 * 2);
    const io = captureIo(REPO_ROOT);
    const code = await main(
      ['label', input, '--out', out, '--panel', 'panels/code.yaml', '--model', 'fake:judge', '--concurrency', '2', '--json'],
      io,
    );
    expect(code, io.err()).toBe(0);
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labels).toHaveLength(pairs.length);
    expect(labels[0]?.panel.critics).toContainEqual({ id: 'code-tests', model: 'verifier:run-python', weight: 2 });
    for (const label of labels) {
      const chosen = label.candidates.find((candidate) => candidate.id === 'chosen');
      const rejected = label.candidates.find((candidate) => candidate.id === 'rejected');
      // The execution summary per candidate: the canonical program passes every test, the mutant fails one or more.
      expect(chosen?.execution).toMatchObject({ status: 'passed' });
      expect(chosen?.execution?.passed).toBe(chosen?.execution?.total);
      expect(rejected?.execution?.status).toBe('failed');
      expect(rejected?.execution?.passed).toBeLessThan(rejected?.execution?.total ?? 0);
      const verifierScore = (candidate: typeof chosen) => candidate?.critics['code-tests']?.at(-1)?.score ?? Number.NaN;
      expect(verifierScore(chosen)).toBe(10);
      expect(verifierScore(rejected)).toBeLessThan(10);
      // The model critic took its turns beside the verifier.
      expect(chosen?.critics.efficiency?.length).toBeGreaterThan(0);
      expect(label.ranking[0]).toBe('chosen');
    }
    const preference = readJsonl<{ prompt: unknown; chosen: unknown; rejected: unknown }>(path.join(out, 'pairs.jsonl'));
    expect(preference).toHaveLength(pairs.length);
    const textOf = (value: unknown) =>
      typeof value === 'string' ? value : ((value as Array<{ content: string }>).at(-1)?.content ?? '');
    for (const pair of preference) {
      const source = pairs.find((row) => textOf(pair.prompt) === row.prompt);
      const text = (id: string) => source?.candidates.find((candidate) => candidate.id === id)?.text;
      expect(textOf(pair.chosen)).toBe(text('chosen'));
      expect(textOf(pair.rejected)).toBe(text('rejected'));
    }
  });

  it('`tribunal debate --tests` shows the tool-result and the verifier in the live transcript', async () => {
    const dir = tempDir();
    const tests = path.join(dir, 'tests.py');
    writeFileSync(tests, 'def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n');
    const io = captureIo(REPO_ROOT);
    const code = await main(
      [
        'debate',
        '--prompt',
        'Write square(x).',
        '--candidate',
        '```python\ndef square(x):\n    return x * x\n```',
        '--candidate',
        'def square(x):\n    return x + x',
        '--tests',
        `@${tests}`,
        '--entry-point',
        'square',
        '--panel',
        'panels/code.yaml',
        '--model',
        'fake:judge',
      ],
      io,
    );
    expect(code, io.err()).toBe(0);
    expect(io.out()).toContain('⚙ run-python on c1: passed, 2/2 tests passed');
    expect(io.out()).toContain('⚙ run-python on c2: failed, 1/2 tests passed');
    expect(io.out()).toContain('first error: AssertionError');
    expect(io.out()).toContain('Passed 1 of 2 tests (status failed).');
  });
});
