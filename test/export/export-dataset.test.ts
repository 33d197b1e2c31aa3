import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LabelRowSchema, OpenAiPreferenceRowSchema, PreferencePairSchema } from '../../src/contracts/index.js';
import { readItems } from '../../src/datasets/index.js';
import { buildLabelRow, exportDataset } from '../../src/export/index.js';
import { labelRow, PANEL } from './label-fixtures.js';
import { assertWellFormedXml } from './xml-check.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARENA = path.resolve(repoRoot, '../shared/datasets/arena-hard-candidates.jsonl');

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'tribunal-export-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function readJsonl(file: string): Promise<unknown[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

const chat = [{ role: 'user' as const, content: 'Write a haiku.' }];
const rows = [
  labelRow({ id: 'text', candidates: [9, 4, 6] }),
  labelRow({ id: 'chat', prompt: chat, candidates: [2, 8], meta: { humanPreferred: 'c2' } }),
  labelRow({ id: 'tied', candidates: [5, 5] }),
];

describe('exportDataset', () => {
  it('writes labels.jsonl, TRL pairs.jsonl, README.md and score-distribution.svg', async () => {
    const result = await exportDataset({ rows, directory, rejected: 2, card: { license: 'apache-2.0' } });
    expect((await readdir(directory)).sort()).toEqual(['README.md', 'labels.jsonl', 'pairs.jsonl', 'score-distribution.svg']);
    const labels = await readJsonl(result.files.labels);
    expect(labels).toEqual(rows);
    for (const label of labels) LabelRowSchema.parse(label);
    const pairs = await readJsonl(result.files.pairs);
    expect(
      pairs
        .map((pair) => PreferencePairSchema.parse(pair))
        .map((pair) => [pair.id, pair.chosen_id, pair.rejected_id, typeof pair.prompt]),
    ).toEqual([
      ['text', 'c1', 'c2', 'string'],
      ['chat', 'c2', 'c1', 'object'],
    ]);
    expect(result.summary).toMatchObject({
      items: 3,
      labeled: 3,
      pairs: 2,
      rejected: 2,
      unpairable: { allTied: 1, tooFewScored: 0 },
      human: { compared: 1, agreed: 1 },
    });
    const card = await readFile(result.files.card, 'utf8');
    expect(card).toContain('license: apache-2.0');
    expect(card).toContain('](score-distribution.svg)');
    expect(card).toContain('| preference pairs | 2 |');
    const svg = await readFile(result.files.figure, 'utf8');
    assertWellFormedXml(svg);
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(20);
  });

  it('writes OpenAI preference rows to pairs.openai.jsonl with all-pairs and filters', async () => {
    const result = await exportDataset({ rows, directory, pairFormat: 'openai', strategy: 'all-pairs', minMargin: 2.5 });
    expect(path.basename(result.files.pairs)).toBe('pairs.openai.jsonl');
    const pairs = await readJsonl(result.files.pairs);
    expect(pairs).toHaveLength(3);
    for (const pair of pairs) OpenAiPreferenceRowSchema.parse(pair);
    expect(result.summary.filteredOut.margin).toBe(1);
    expect(await readFile(result.files.card, 'utf8')).toContain('OpenAI preference fine-tuning format');
  });

  it('leaves no file behind, and keeps an earlier export, when the rows fail midway', async () => {
    await writeFile(path.join(directory, 'labels.jsonl'), 'previous\n');
    async function* failing() {
      yield rows[0] as (typeof rows)[number];
      yield rows[1] as (typeof rows)[number];
      throw new Error('store went away');
    }
    await expect(exportDataset({ rows: failing(), directory })).rejects.toThrow('store went away');
    expect(await readdir(directory)).toEqual(['labels.jsonl']);
    expect(await readFile(path.join(directory, 'labels.jsonl'), 'utf8')).toBe('previous\n');
  });

  it('refuses an invalid label row or a repeated item id without writing anything', async () => {
    const bad = { ...labelRow({ id: 'bad', candidates: [1, 2] }), roundsUsed: -1 };
    await expect(exportDataset({ rows: [bad], directory })).rejects.toMatchObject({
      code: 'OUTPUT_INVALID',
      location: { field: 'roundsUsed' },
    });
    await expect(exportDataset({ rows: [rows[0], rows[0]].filter((row) => row !== undefined), directory })).rejects.toThrow(
      /repeat item id "text"/,
    );
    expect(await readdir(directory)).toEqual([]);
  });

  it('exports real arena-hard items end to end with reproducible best-vs-random-lower pairs', async () => {
    const labels = [];
    for await (const result of readItems({ file: ARENA })) {
      if (result.kind !== 'item') throw new Error(result.reason);
      const { item } = result;
      // A made-up verdict: scores by candidate position, so every item has a clear best and three lower ones.
      const scores = [8, 6, 3, 5];
      const order = [0, 1, 3, 2];
      labels.push(
        buildLabelRow({
          item,
          panel: PANEL,
          verdict: {
            candidates: item.candidates.map((candidate, index) => ({
              candidateId: candidate.id,
              score: scores[index] ?? null,
              rank: order.indexOf(index) + 1,
              mean: scores[index] ?? null,
              median: scores[index] ?? null,
              stdev: 0,
              spread: 0,
              agreement: 1,
              turns: 2,
              failedTurns: 0,
              perCritic: {},
            })),
            ranking: order.map((index) => item.candidates[index]?.id ?? ''),
            roundsUsed: 0,
          },
          turns: [],
          usage: { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 },
        }),
      );
    }
    const first = await exportDataset({ rows: labels, directory, strategy: 'best-vs-random-lower', seed: 3 });
    const firstPairs = await readFile(first.files.pairs, 'utf8');
    expect(first.summary).toMatchObject({ items: 478, labeled: 478, pairs: 478 });
    const parsed = (await readJsonl(first.files.pairs)).map((pair) => PreferencePairSchema.parse(pair));
    expect(
      parsed.every((pair) => pair.chosen_id === 'gpt-4' && pair.rejected_id !== 'gpt-4' && typeof pair.chosen === 'string'),
    ).toBe(true);
    expect(new Set(parsed.map((pair) => pair.rejected_id))).toEqual(new Set(['claude-v1', 'vicuna-7b-v1.5', 'Llama-2-70b-chat']));
    const again = await exportDataset({
      rows: [...labels].reverse(),
      directory: path.join(directory, 'again'),
      strategy: 'best-vs-random-lower',
      seed: 3,
    });
    const againPairs = (await readFile(again.files.pairs, 'utf8')).split('\n').filter(Boolean).reverse().join('\n');
    expect(`${againPairs}\n`).toBe(firstPairs);
  });
});
