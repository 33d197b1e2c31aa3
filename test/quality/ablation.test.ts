import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import { ablationMarkdown, ablationPlans, ablationResults, replicate } from '../../src/quality/index.js';
import { runLabeling } from '../../src/runner/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { simulatedItems, simulatedPanel } from '../fakes/simulated-panel.js';
import { HH, REPO_ROOT, tempDir } from '../runner/fixtures.js';

describe('equal-budget ablation', () => {
  it('plans the same calls per candidate for single judge, jury and debate, with distinct replicas', () => {
    const panel = makePanel({ maxRounds: 2 });
    const plans = ablationPlans({ panel, judge: 'b' });
    expect(plans.map((plan) => [plan.arm, plan.callsPerSubject, plan.panel.critics.length, plan.panel.panel.protocol])).toEqual([
      ['single', 9, 9, 'jury'],
      ['jury', 9, 9, 'jury'],
      ['debate', 9, 3, 'simultaneous'],
    ]);
    const single = plans[0]?.panel.critics ?? [];
    expect(single.map((critic) => critic.id)).toEqual(['b', 'b-r2', 'b-r3', 'b-r4', 'b-r5', 'b-r6', 'b-r7', 'b-r8', 'b-r9']);
    expect(new Set(single.map((critic) => critic.hash)).size).toBe(9);
    expect(new Set(plans.map((plan) => plan.panel.hash)).size).toBe(3);
    expect(replicate(makeCritic({ id: 'x' }), 1)).toHaveLength(1);
  });

  it('runs all three arms on simulated gold items and reports agreement and calls side by side', async () => {
    const items = simulatedItems({ count: 60, seed: 'abl' });
    const critics = [
      { id: 'a', noise: 1.5 },
      { id: 'b', noise: 1.5 },
      { id: 'c', noise: 1.5 },
    ];
    const simulation = simulatedPanel({ seed: 'abl', critics, lengthBias: 0, conformity: 0.3, items });
    const dir = tempDir('tribunal-ablate-');
    const input = path.join(dir, 'gold.jsonl');
    writeFileSync(input, `${items.map(({ quality: _quality, ...row }) => JSON.stringify(row)).join('\n')}\n`);
    const panel = makePanel({ critics: critics.map((critic) => makeCritic({ id: critic.id })), maxRounds: 2, tolerance: 0 });
    const models = simulation.models();
    const arms: Array<{ plan: ReturnType<typeof ablationPlans>[number]; rows: LabelRow[] }> = [];
    try {
      for (const plan of ablationPlans({ panel })) {
        const result = await runLabeling({
          input,
          outDir: path.join(dir, plan.arm),
          panel: plan.panel,
          models,
          defaultModel: 'fake:sim',
          concurrency: 8,
        });
        const rows = readFileSync(result.export.files.labels, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as LabelRow);
        arms.push({ plan, rows });
      }
    } finally {
      await models.close();
    }
    const results = ablationResults({ arms, seed: 'abl', resamples: 100 });
    expect(results.map((result) => result.arm)).toEqual(['single', 'jury', 'debate']);
    // 60 items x 2 candidates x 9 calls each; the debate runs every round (tolerance 0) so it spends the same.
    for (const result of results) {
      expect(result.usage.calls).toBe(60 * 2 * 9);
      expect(result.items).toBe(60);
      expect(result.agreement.accuracy.value).toBeGreaterThan(0.65);
    }
    // Nine independent samples average out more noise than three critics who partly copy each other.
    const accuracy = Object.fromEntries(results.map((result) => [result.arm, result.agreement.accuracy.value ?? 0]));
    expect(accuracy.jury).toBeGreaterThanOrEqual((accuracy.debate ?? 0) - 0.02);
    expect(results[0]?.versusSingle).toBeNull();
    for (const result of results.slice(1)) {
      expect(result.versusSingle?.n).toBe(60);
      expect(result.versusSingle?.value).toBeCloseTo((result.agreement.accuracy.value ?? 0) - (accuracy.single ?? 0));
    }
    const markdown = ablationMarkdown(results);
    expect(markdown).toContain('vs single (95% CI)');
    expect(markdown).toContain('| single | a alone, sampled 9 times | 9 | 1080 |');
  });

  it('tribunal ablate runs on the real HH-RLHF file with the fake judge', async () => {
    const out = path.join(tempDir('tribunal-ablate-'), 'out');
    const io = captureIo(REPO_ROOT);
    const code = await main(
      ['ablate', '--gold', HH, '--model', 'fake:judge', '--limit', '4', '--out', out, '--resamples', '50', '--json'],
      io,
    );
    expect(code, io.err()).toBe(0);
    const report = JSON.parse(io.out()) as { arms: Array<{ arm: string; items: number; usage: { calls: number } }> };
    expect(report.arms.map((arm) => [arm.arm, arm.items])).toEqual([
      ['single', 4],
      ['jury', 4],
      ['debate', 4],
    ]);
    expect(report.arms[0]?.usage.calls).toBe(4 * 2 * 9);
    expect(readFileSync(path.join(out, 'ablation.md'), 'utf8')).toContain('Equal-budget ablation');
  });
});
