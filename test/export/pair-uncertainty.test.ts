import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LabelRow, PreferencePairSchema } from '../../src/contracts/index.js';
import { exportDataset, pairUncertainty } from '../../src/export/index.js';
import { tempDir } from '../runner/fixtures.js';
import { PANEL } from './label-fixtures.js';

/** A two-candidate row; `critics` gives each critic's [chosen, rejected] final scores. */
function row(
  id: string,
  critics: Record<string, [number | null, number | null]>,
  weights: Record<string, number> = {},
): LabelRow {
  const candidate = (candidateId: string, index: 0 | 1, score: number) => ({
    id: candidateId,
    text: `answer ${candidateId}`,
    score,
    rank: index + 1,
    agreement: 0.9,
    mean: score,
    median: score,
    stdev: 0,
    turns: 3,
    failedTurns: 0,
    critics: Object.fromEntries(
      Object.entries(critics).map(([critic, scores]) => [
        critic,
        [{ round: 0, status: scores[index] === null ? ('failed' as const) : ('ok' as const), score: scores[index] ?? null }],
      ]),
    ),
  });
  return {
    id,
    prompt: 'p',
    candidates: [candidate('good', 0, 8), candidate('bad', 1, 4)],
    ranking: ['good', 'bad'],
    roundsUsed: 1,
    panel: {
      ...PANEL,
      critics: Object.keys(critics).map((critic) => ({ id: critic, model: 'fake:x', weight: weights[critic] ?? 1 })),
    },
    usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 },
    failedTurns: [],
  } as LabelRow;
}

describe('pair uncertainty', () => {
  it('vote distribution, consensus probability, disagreement and suggested label smoothing', () => {
    const split = row('1', { a: [9, 2], b: [7, 7], c: [3, 6], d: [8, null] });
    const [chosen, rejected] = split.candidates;
    if (!chosen || !rejected) throw new Error('two candidates');
    // a for chosen, b tie (half), c against, d not counted: p = 1.5 / 3
    expect(pairUncertainty({ row: split, chosen, rejected })).toEqual({
      votes: { chosen: 1, rejected: 1, tie: 1 },
      consensusProbability: 0.5,
      disagreement: 1,
      labelSmoothing: 0.5,
    });
    // weights: a 3, c 1 -> p = 0.75, disagreement 0.5, smoothing 0.25
    const weighted = row('2', { a: [9, 2], c: [3, 6] }, { a: 3, c: 1 });
    expect(
      pairUncertainty({ row: weighted, chosen: weighted.candidates[0] as never, rejected: weighted.candidates[1] as never }),
    ).toEqual({
      votes: { chosen: 1, rejected: 1, tie: 0 },
      consensusProbability: 0.75,
      disagreement: 0.5,
      labelSmoothing: 0.25,
    });
    const none = row('3', { a: [null, 2] });
    expect(
      pairUncertainty({ row: none, chosen: none.candidates[0] as never, rejected: none.candidates[1] as never }),
    ).toBeUndefined();
  });

  it('exports the columns and drops low-consensus pairs', async () => {
    const directory = tempDir('tribunal-uncertainty-');
    const rows = [row('unanimous', { a: [9, 2], b: [8, 3], c: [7, 4] }), row('split', { a: [9, 2], b: [3, 8], c: [4, 7] })];
    const plain = await exportDataset({ rows, directory });
    expect(plain.summary.pairs).toBe(2);
    const plainPairs = readFileSync(path.join(directory, 'pairs.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(plainPairs[0] ?? '{}')).not.toHaveProperty('consensus_probability');

    const result = await exportDataset({ rows, directory, uncertainty: true, minConsensus: 0.6 });
    expect(result.summary.pairs).toBe(1);
    const [pair] = readFileSync(path.join(directory, 'pairs.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(PreferencePairSchema.safeParse(pair).success).toBe(true);
    expect(pair).toMatchObject({
      id: 'unanimous',
      margin: 4,
      votes: { chosen: 3, rejected: 0, tie: 0 },
      consensus_probability: 1,
      disagreement: 0,
      label_smoothing: 0,
    });
  });
});
