import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import type { EvalReport } from '../../src/quality/index.js';
import { assertWellFormedXml } from '../export/xml-check.js';
import { captureIo } from '../fakes/cli-io.js';
import { HH, REPO_ROOT, readJsonl, tempDir } from '../runner/fixtures.js';

const MODEL_ENV = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_CONCURRENCY'];
let savedEnv: Record<string, string | undefined> = {};
beforeEach(() => {
  savedEnv = Object.fromEntries(MODEL_ENV.map((name) => [name, process.env[name]]));
  for (const name of MODEL_ENV) delete process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function run(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe('tribunal eval: agreement vs coverage', () => {
  it('reports the curve computed from the labels and chooses a threshold for a target agreement', async () => {
    const out = path.join(tempDir('tribunal-eval-coverage-'), 'out');
    const args = ['eval', '--gold', HH, '--model', 'fake:judge', '--limit', '40', '--max-rounds', '0', '--out', out];
    const result = await run([...args, '--resamples', '100', '--target-agreement', '0.55']);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/Target agreement 55\.0%: /);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as EvalReport;

    // Recompute each point from labels.jsonl: HH's human-preferred id is "chosen"; the label run recorded every row's
    // consensus probability.
    const rows = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(rows).toHaveLength(40);
    expect(rows.every((row) => typeof row.consensusProbability === 'number')).toBe(true);
    for (const point of report.escalation.points) {
      const kept = rows.filter((row) => (row.consensusProbability ?? 1) >= point.threshold);
      let right = 0;
      let decided = 0;
      for (const row of kept) {
        const chosen = row.candidates.find((candidate) => candidate.id === 'chosen')?.score ?? null;
        const rejected = row.candidates.find((candidate) => candidate.id === 'rejected')?.score ?? null;
        if (chosen === null || rejected === null) continue;
        decided++;
        if (chosen > rejected) right++;
      }
      expect(point.kept).toBe(kept.length);
      expect(point.escalated).toBeCloseTo(1 - kept.length / rows.length, 4);
      expect(point.agreement.n).toBe(decided);
      if (decided > 0) expect(point.agreement.value).toBeCloseTo(right / decided, 4);
    }
    // More escalation as the threshold rises.
    const shares = report.escalation.points.map((point) => point.escalated ?? 0);
    expect(shares).toEqual([...shares].sort((a, b) => a - b));

    const target = report.escalation.target;
    if (!target) throw new Error('no target report');
    expect(target.target).toBe(0.55);
    expect(target.delta).toBe(0.1);
    expect(target.calibrationPairs + target.heldOutPairs).toBe(40);
    const markdown = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('## Agreement vs coverage (escalation)');
    expect(markdown).toContain('![Agreement vs share escalated](report-coverage.svg)');
    assertWellFormedXml(readFileSync(path.join(out, 'report-coverage.svg'), 'utf8'));
  }, 120_000);

  it('refuses a target outside (0, 1) with exit code 2', async () => {
    const out = path.join(tempDir('tribunal-eval-coverage-'), 'out');
    const result = await run(['eval', '--gold', HH, '--model', 'fake:judge', '--out', out, '--target-agreement', '1.5']);
    expect(result.code).toBe(2);
    expect(result.err).toContain('--target-agreement');
  });
});
