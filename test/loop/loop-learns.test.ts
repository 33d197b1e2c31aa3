import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import { runLoop } from '../../src/loop/index.js';
import { createModelRegistry, loadSettings } from '../../src/models/index.js';
import { tempDir } from '../runner/fixtures.js';
import { heldOutFiles, MARKER, markerRate, PLANTED_SETTINGS, writePrompts } from './planted.js';

/*
 * The loop learns a planted preference. The fake judge scores answers that contain the byte MARKER in the top 28% of
 * the scale and every other answer in the bottom 28%; the random tiny policy (byte-level, 32 new tokens) writes it in
 * about one sample in ten. Two iterations of generate → label → DPO must raise the marker's rate among the policy's
 * held-out samples, and the report must show it: a win rate over policy_0 above 50% and a KL that rises from 0.
 *
 * The thresholds come from the measured distribution (scripts/measure-loop-planted.ts, seeds 0–9, results in
 * bench/results/loop-planted.json): policy_0's held-out marker rate was 0.05–0.175, policy_1's 0.14–0.89 and
 * policy_2's 0.99–1.0, a gain of 0.825–0.94; the win rate of policy_2 over policy_0 was 0.89–0.975; the KL after
 * iteration 0 was 1.1–9.8 nats, after iteration 1 12.9–46.6. Float arithmetic differs between machines and a sampled
 * trajectory amplifies it, so the test (seed 0) asks for much less than every seed gave: a gain of 0.5, a rate of
 * 0.7, a win rate over policy_0 above 0.6 with its whole interval above 0.5, a KL that rises from 0. Without learning
 * the two rates are two samples of 80 at a rate near 0.12, whose difference has a standard deviation near 0.05: a
 * gain of 0.5 is ten of them away.
 */

describe('tribunal loop learns a planted preference', () => {
  it('raises the marker rate of the tiny policy over two iterations, and the report shows it', async () => {
    const dir = tempDir('tribunal-loop-learns-');
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), PLANTED_SETTINGS.prompts);
    const outDir = path.join(dir, 'loop');
    const models = createModelRegistry({ settings: loadSettings() });
    const stages: string[] = [];
    let result: Awaited<ReturnType<typeof runLoop>>;
    try {
      result = await runLoop({
        prompts,
        outDir,
        policy: 'tiny?seed=0',
        iterations: PLANTED_SETTINGS.iterations,
        n: PLANTED_SETTINGS.n,
        heldOut: PLANTED_SETTINGS.heldOut,
        evalSamples: PLANTED_SETTINGS.evalSamples,
        maxTokens: PLANTED_SETTINGS.maxTokens,
        seed: 0,
        panel: await loadPanel({}),
        models,
        defaultModel: `fake:judge?prefer=${MARKER}`,
        modelOverride: `fake:judge?prefer=${MARKER}`,
        train: { epochs: PLANTED_SETTINGS.epochs, gpus: 0 },
        export: { strategy: PLANTED_SETTINGS.strategy, minMargin: PLANTED_SETTINGS.minMargin },
        worker: { device: 'cpu' },
        onStage: (stage) => stages.push(`${stage.iteration}:${stage.stage}:${stage.state}`),
      });
    } finally {
      await models.close();
    }
    expect(result.status).toBe('done');

    const rates = [];
    for (const file of heldOutFiles(outDir, PLANTED_SETTINGS.iterations)) rates.push(await markerRate(file));
    expect(rates.map((rate) => rate.samples)).toEqual([80, 80, 80]);
    const [initial, , last] = rates.map((rate) => rate.rate) as [number, number, number];
    expect(initial).toBeLessThan(0.25);
    expect(last - initial).toBeGreaterThanOrEqual(0.5);
    expect(last).toBeGreaterThanOrEqual(0.7);

    const { report } = result;
    expect(report.iterations).toHaveLength(2);
    const [first, second] = report.iterations as [(typeof report.iterations)[0], (typeof report.iterations)[0]];
    expect(second.winRateVsInitial).toBeGreaterThan(0.6);
    expect(second.winRateVsInitialInterval?.[0]).toBeGreaterThan(0.5);
    expect(first.kl).toBeGreaterThan(0);
    expect(second.kl).toBeGreaterThan(first.kl as number);
    expect(second.meanConsensus).toBeGreaterThan(report.initial?.meanConsensus as number);
    // every measure the issue names is in report.json
    for (const field of [
      'iteration',
      'winRate',
      'winRateInterval',
      'winRateVsInitial',
      'kl',
      'meanTokens',
      'lengthControlledWinRate',
      'distinct2',
      'meanConsensus',
      'stopRule',
    ]) {
      expect(second, field).toHaveProperty(field);
    }
    const json = JSON.parse(readFileSync(path.join(outDir, 'report.json'), 'utf8')) as typeof report;
    expect(json).toEqual(report);
    const markdown = readFileSync(path.join(outDir, 'report.md'), 'utf8');
    for (const plot of ['win-rate', 'kl', 'length', 'diversity']) {
      expect(markdown).toContain(`(plots/${plot}.svg)`);
      expect(existsSync(path.join(outDir, 'plots', `${plot}.svg`))).toBe(true);
    }
    // every stage ran once, in order
    expect(stages.filter((stage) => stage.endsWith(':start'))).toEqual([
      '-1:split:start',
      '-1:initial:start',
      ...[0, 1].flatMap((iteration) =>
        ['generate', 'label', 'train', 'held-out', 'compare', 'measure'].map((stage) => `${iteration}:${stage}:start`),
      ),
    ]);
  }, 300_000);
});
