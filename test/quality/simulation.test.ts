import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DebateEvent, LabelRow } from '../../src/contracts/index.js';
import {
  debateDynamics,
  evalReport,
  goldAgreement,
  goldComparisons,
  lengthBias,
  type PairwiseTurn,
  positionConsistency,
  selfPreference,
} from '../../src/quality/index.js';
import { runLabeling } from '../../src/runner/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { type SimulatedCritic, type SimulationOptions, simulatedItems, simulatedPanel } from '../fakes/simulated-panel.js';
import { tempDir } from '../runner/fixtures.js';

/** Labels simulated gold items with the simulated panel through the real runner; returns rows and pairwise turns. */
async function simulate(
  options: Omit<SimulationOptions, 'seed'> & {
    count: number;
    maxRounds: number;
    mode?: 'pointwise' | 'pairwise';
    models?: Record<string, string>;
    seed?: string;
  },
): Promise<{ rows: LabelRow[]; turns: PairwiseTurn[] }> {
  const seed = options.seed ?? 'sim';
  const items = simulatedItems({ count: options.count, seed });
  const simulation = simulatedPanel({ ...options, seed, items });
  const dir = tempDir('tribunal-sim-');
  const input = path.join(dir, 'gold.jsonl');
  writeFileSync(input, `${items.map(({ quality: _quality, ...row }) => JSON.stringify(row)).join('\n')}\n`);
  const panel = makePanel({
    critics: options.critics.map((critic) =>
      makeCritic({ id: critic.id, ...(options.models?.[critic.id] ? { model: options.models[critic.id] } : {}) }),
    ),
    maxRounds: options.maxRounds,
    tolerance: 0,
    mode: options.mode ?? 'pointwise',
  });
  const models = simulation.models();
  const turns: PairwiseTurn[] = [];
  try {
    const result = await runLabeling({
      input,
      outDir: path.join(dir, 'out'),
      panel,
      models,
      defaultModel: 'fake:sim',
      concurrency: 8,
      onEvent: (event: DebateEvent) => {
        if (event.type === 'turn-end' && event.judgment) turns.push({ ...event, judgment: event.judgment });
      },
    });
    expect(result.totals).toMatchObject({ done: options.count, failed: 0 });
  } finally {
    await models.close();
  }
  const rows = readFileSync(path.join(dir, 'out', 'labels.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LabelRow);
  return { rows, turns };
}

const CLEAN: SimulatedCritic[] = [
  { id: 'careful', noise: 0.3 },
  { id: 'steady', noise: 0.3 },
  { id: 'noisy', noise: 3 },
];

describe('simulated panel: every metric recovers its planted effect', () => {
  it('per-persona accuracy, κ and inter-critic α expose the noisy persona; length bias is recovered', async () => {
    const { rows } = await simulate({ critics: CLEAN, lengthBias: 2, conformity: 0, count: 120, maxRounds: 0 });
    const { comparisons } = goldComparisons({ rows, seed: 's' });
    expect(comparisons).toHaveLength(120);
    const agreement = goldAgreement({ comparisons, seed: 's', resamples: 300 });
    const careful = agreement.critics.careful?.accuracy.value ?? 0;
    const noisy = agreement.critics.noisy?.accuracy.value ?? 1;
    expect(careful).toBeGreaterThan(noisy + 0.1);
    expect(agreement.consensus.accuracy.value).toBeGreaterThan(0.6);
    expect(agreement.consensus.kappa.value).toBeGreaterThan(0.2);
    expect(agreement.consensus.accuracy.low).toBeLessThan(agreement.consensus.accuracy.value ?? 0);

    // Planted: +2 points per 1000 characters, length independent of quality.
    const bias = lengthBias(rows);
    expect(bias.slopePer1000Chars).toBeGreaterThan(1.4);
    expect(bias.slopePer1000Chars).toBeLessThan(2.6);
    expect(bias.longerWins.rate).toBeGreaterThan(0.6);
    expect(bias.critics.careful).toBeGreaterThan(0.5);

    // Length-controlled consensus: the slope is removed, so accuracy against the (length-blind) humans goes up.
    const report = evalReport({ rows, seed: 's', resamples: 100 });
    expect(report.lengthControlled.slopePer1000Chars).toBeCloseTo(bias.slopePer1000Chars ?? 0, 3);
    expect(report.lengthControlled.agreement.accuracy.value ?? 0).toBeGreaterThan(
      (report.agreement.consensus.accuracy.value ?? 1) + 0.05,
    );
    expect(lengthBias(rows).longerWins.rate).toBe(bias.longerWins.rate);

    const unbiased = lengthBias(
      (await simulate({ critics: CLEAN, lengthBias: 0, conformity: 0, count: 120, maxRounds: 0 })).rows,
    );
    expect(Math.abs(unbiased.slopePer1000Chars ?? 1)).toBeLessThan(0.6);
    expect(Math.abs((unbiased.longerWins.rate ?? 0) - 0.5)).toBeLessThan(0.12);
  });

  it('conformity: the planted "close half the gap each round" is recovered and α rises by round', async () => {
    const { rows } = await simulate({ critics: CLEAN, lengthBias: 0, conformity: 0.5, count: 40, maxRounds: 2 });
    const dynamics = debateDynamics(rows);
    expect(dynamics.overall.conformity).toBeGreaterThan(0.45);
    expect(dynamics.overall.conformity).toBeLessThan(0.55);
    expect(dynamics.overall.towardOthers).toBeGreaterThan(0.95);
    expect(Object.keys(dynamics.rounds)).toEqual(['1', '2']);
    // The noisy critic is the one far from the others, so it moves most.
    expect(dynamics.critics.noisy?.meanAbsoluteChange).toBeGreaterThan(dynamics.critics.careful?.meanAbsoluteChange ?? 0);
    const alpha = dynamics.alphaByRound;
    expect(alpha['1'] ?? 0).toBeGreaterThan(alpha['0'] ?? 1);
    expect(alpha['2'] ?? 0).toBeGreaterThan(alpha['1'] ?? 1);

    const independent = debateDynamics(
      (await simulate({ critics: CLEAN, lengthBias: 0, conformity: 0, count: 20, maxRounds: 1 })).rows,
    );
    expect(independent.overall.conformity).toBeCloseTo(0, 2);
    expect(independent.overall.changed).toBe(0);
  });

  it('position consistency under swap recovers the planted position bias (consistency = 1 - p)', async () => {
    const critics: SimulatedCritic[] = [
      { id: 'fair', noise: 0.3 },
      { id: 'first-lover', noise: 0.3, positionBias: 0.4 },
    ];
    const { rows, turns } = await simulate({ critics, lengthBias: 0, conformity: 0, count: 120, maxRounds: 0, mode: 'pairwise' });
    const stats = positionConsistency(turns);
    expect(stats.fair).toMatchObject({ swappedPairs: 120, consistency: 1 });
    expect(Math.abs((stats.fair?.firstShownRate ?? 0) - 0.5)).toBeLessThan(0.01);
    expect(stats['first-lover']?.swappedPairs).toBe(120);
    expect(Math.abs((stats['first-lover']?.consistency ?? 0) - 0.6)).toBeLessThan(0.1);
    // P(first shown) = p + (1 - p) / 2 = 0.7
    expect(Math.abs((stats['first-lover']?.firstShownRate ?? 0) - 0.7)).toBeLessThan(0.08);

    // Per-persona accuracy in pairwise mode comes from the verdicts: the position-biased critic's flips are ties.
    const report = evalReport({ rows, pairwiseTurns: turns, seed: 'pw', resamples: 100 });
    const fair = report.agreement.critics.fair;
    const lover = report.agreement.critics['first-lover'];
    expect(fair?.counts.abstain).toBe(0);
    expect(fair?.counts.tie).toBeLessThanOrEqual(2); // equal planted scores (one decimal) are honest ties
    expect(fair?.accuracy.value).toBeGreaterThan(0.75);
    expect(lover?.counts.tie).toBe(Math.round(120 * (1 - (stats['first-lover']?.consistency ?? 0))));
    expect(lover?.accuracy.value ?? 1).toBeLessThan((fair?.accuracy.value ?? 0) - 0.2);
  });

  it('self-preference flags the critic that favours its own model family, by about the planted gap', async () => {
    const critics: SimulatedCritic[] = [
      { id: 'gpt-judge', noise: 0.3, family: 'gpt', selfPreference: 1.5 },
      { id: 'claude-judge', noise: 0.3 },
    ];
    const { rows } = await simulate({
      critics,
      lengthBias: 0,
      conformity: 0,
      count: 80,
      maxRounds: 0,
      models: { 'gpt-judge': 'fake:gpt-4.1', 'claude-judge': 'fake:claude-sonnet' },
    });
    const flags = Object.fromEntries(selfPreference(rows).map((flag) => [flag.criticId, flag]));
    expect(flags['gpt-judge']).toMatchObject({ family: 'gpt', sameFamily: 80, otherFamily: 80 });
    expect(Math.abs((flags['gpt-judge']?.scoreGap ?? 0) - 1.5)).toBeLessThan(0.5);
    expect(Math.abs(flags['claude-judge']?.scoreGap ?? 1)).toBeLessThan(0.5);
  });

  it('calibration lowers the noisy persona’s weight and does not lose held-out accuracy', async () => {
    const { rows } = await simulate({ critics: CLEAN, lengthBias: 0, conformity: 0, count: 240, maxRounds: 0 });
    const report = evalReport({ rows, seed: 'cal', resamples: 200, calibrate: { heldOut: 0.3 } });
    const calibration = report.calibration;
    expect(calibration).toBeDefined();
    const weights = calibration?.fit.weights ?? {};
    expect(weights.noisy ?? 1).toBeLessThan(0.5);
    expect(weights.careful ?? 0).toBeGreaterThan(1);
    expect(weights.steady ?? 0).toBeGreaterThan(1);
    expect(Math.abs(calibration?.fit.bias ?? 1)).toBeLessThan(0.5);
    expect(calibration?.heldOutPairs).toBeGreaterThan(50);
    expect(calibration?.after.accuracy.value ?? 0).toBeGreaterThanOrEqual((calibration?.before.accuracy.value ?? 1) - 0.02);
    expect(report.agreement.critics.noisy?.accuracy.value ?? 1).toBeLessThan(
      report.agreement.critics.careful?.accuracy.value ?? 0,
    );
  });
});
