import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import { fitLengthAdjustment, lengthControlledRow } from '../../src/export/index.js';
import { runLabeling } from '../../src/runner/index.js';
import { makeCritic, makePanel } from '../fakes/panel.js';
import { simulatedItems, simulatedPanel } from '../fakes/simulated-panel.js';
import { tempDir } from '../runner/fixtures.js';

function candidate(id: string, text: string, score: number | null) {
  return { id, text, score, rank: 1, agreement: 1, mean: score, median: score, stdev: 0, turns: 1, failedTurns: 0, critics: {} };
}

describe('length-controlled pairs', () => {
  it('fits the slope and re-ranks a row on adjusted scores', () => {
    const rows = [
      { id: '1', candidates: [candidate('short', 'x'.repeat(10), 3), candidate('long', 'x'.repeat(30), 4)] },
      { id: '2', candidates: [candidate('short', 'x'.repeat(20), 5), candidate('long', 'x'.repeat(40), 6)] },
    ] as unknown as LabelRow[];
    // x = 10, 30, 20, 40 (mean 25); y = 3, 4, 5, 6 -> slope = sum dx dy / sum dx^2 = (22.5 - 2.5 - 2.5 + 22.5) / 500 = 0.08 per char
    const adjustment = fitLengthAdjustment(rows);
    expect(adjustment.meanLength).toBe(25);
    expect(adjustment.slopePerChar).toBeCloseTo(0.08);
    // row 1: short 3 + 0.08 * 15 = 4.2, long 4 - 0.08 * 5 = 3.6 -> the short answer now wins
    const adjusted = lengthControlledRow(rows[0] as LabelRow, adjustment);
    expect(adjusted.candidates.map((entry) => entry.score)).toEqual([expect.closeTo(4.2), expect.closeTo(3.6)]);
    expect(adjusted.ranking).toEqual(['short', 'long']);
    expect(adjusted.candidates.map((entry) => entry.rank)).toEqual([1, 2]);
  });

  it('a planted length bias stops deciding which answer is chosen', async () => {
    const items = simulatedItems({ count: 120, seed: 'lc' });
    const critics = [
      { id: 'a', noise: 0.3 },
      { id: 'b', noise: 0.3 },
    ];
    const simulation = simulatedPanel({ seed: 'lc', critics, lengthBias: 3, conformity: 0, items });
    const dir = tempDir('tribunal-lc-');
    const input = path.join(dir, 'gold.jsonl');
    writeFileSync(input, `${items.map(({ quality: _quality, ...row }) => JSON.stringify(row)).join('\n')}\n`);
    const panel = makePanel({ critics: critics.map((critic) => makeCritic({ id: critic.id })), maxRounds: 0 });
    const texts = new Map(items.flatMap((item) => item.candidates.map((entry) => [`${item.id}:${entry.id}`, entry.text.length])));
    const humans = new Map(items.map((item) => [item.id, item.meta.humanPreferred]));
    const summarise = async (lengthControl: boolean) => {
      const models = simulation.models();
      try {
        const out = path.join(dir, lengthControl ? 'controlled' : 'plain');
        await runLabeling({
          input,
          outDir: out,
          panel,
          models,
          defaultModel: 'fake:sim',
          concurrency: 8,
          export: { lengthControl },
        });
        const pairs = readFileSync(path.join(out, 'pairs.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { id: string; chosen_id: string; rejected_id: string });
        const longer = pairs.filter(
          (pair) => (texts.get(`${pair.id}:${pair.chosen_id}`) ?? 0) > (texts.get(`${pair.id}:${pair.rejected_id}`) ?? 0),
        ).length;
        const human = pairs.filter((pair) => humans.get(pair.id) === pair.chosen_id).length;
        return { longer: longer / pairs.length, human: human / pairs.length };
      } finally {
        await models.close();
      }
    };
    const plain = await summarise(false);
    const controlled = await summarise(true);
    expect(plain.longer).toBeGreaterThan(0.7);
    expect(Math.abs(controlled.longer - 0.5)).toBeLessThan(0.12);
    expect(controlled.human).toBeGreaterThan(plain.human + 0.1);
  });

  it('a panel with aggregation length-controlled labels like weighted-mean and exports like --length-control', async () => {
    const items = simulatedItems({ count: 40, seed: 'lca' });
    const critics = [
      { id: 'a', noise: 0.3 },
      { id: 'b', noise: 0.3 },
    ];
    const simulation = simulatedPanel({ seed: 'lca', critics, lengthBias: 3, conformity: 0, items });
    const dir = tempDir('tribunal-lca-');
    const input = path.join(dir, 'gold.jsonl');
    writeFileSync(input, `${items.map(({ quality: _quality, ...row }) => JSON.stringify(row)).join('\n')}\n`);
    const label = async (options: { aggregation: 'weighted-mean' | 'length-controlled'; lengthControl: boolean }) => {
      const models = simulation.models();
      try {
        const out = path.join(dir, `${options.aggregation}-${options.lengthControl}`);
        const result = await runLabeling({
          input,
          outDir: out,
          panel: makePanel({
            critics: critics.map((critic) => makeCritic({ id: critic.id })),
            maxRounds: 0,
            aggregation: options.aggregation,
          }),
          models,
          defaultModel: 'fake:sim',
          concurrency: 8,
          export: { lengthControl: options.lengthControl },
        });
        const read = (file: string) =>
          readFileSync(path.join(out, file), 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Record<string, unknown>);
        const pairs = read('pairs.jsonl').map((pair) => [pair.id, pair.chosen_id, pair.rejected_id, pair.score_chosen]);
        const scores = read('labels.jsonl').map((row) =>
          (row as unknown as LabelRow).candidates.map((candidate) => candidate.score),
        );
        return { pairs, scores, settings: result.export.settings };
      } finally {
        await models.close();
      }
    };
    const plain = await label({ aggregation: 'weighted-mean', lengthControl: false });
    const flagged = await label({ aggregation: 'weighted-mean', lengthControl: true });
    const panel = await label({ aggregation: 'length-controlled', lengthControl: false });
    expect(panel.settings.lengthControl).toBe(true);
    expect(panel.scores).toEqual(plain.scores);
    expect(panel.pairs).toEqual(flagged.pairs);
    expect(panel.pairs).not.toEqual(plain.pairs);
  });
});
