import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DebateEvent, LabelRow, ResolvedPanel } from '../../src/contracts/index.js';
import { createModelRegistry, type ModelRegistry } from '../../src/models/index.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// CI keeps shared/ beside the clone; never copy these files into the repo.
export const ARENA = path.resolve(REPO_ROOT, '../shared/datasets/arena-hard-candidates.jsonl');
export const HH = path.resolve(REPO_ROOT, '../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz');
export const TINY_GGUF = path.resolve(REPO_ROOT, '../shared/models/llama-2-tiny-random.gguf');

/** A fresh temporary directory. */
export function tempDir(prefix = 'tribunal-label-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A native item with `candidates` answers of different lengths (the fake judge scores by text). */
export function nativeItem(index: number, candidates = 3): Record<string, unknown> {
  return {
    id: `item-${index}`,
    prompt: `Question ${index}: how do I keep a sourdough starter alive?`,
    candidates: Array.from({ length: candidates }, (_, c) => ({
      id: `c${c + 1}`,
      text: `Answer ${c + 1} to question ${index}. ${'Feed it flour and water daily. '.repeat(c + 1)}`,
    })),
  };
}

/** Writes a JSONL input: objects become JSON lines, strings are written as they are (bad lines). */
export function writeInput(dir: string, rows: Array<Record<string, unknown> | string>, name = 'input.jsonl'): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n')}\n`);
  return file;
}

/** A registry with only the built-in providers and no environment (fake:judge for tests). */
export function fakeModels(): ModelRegistry {
  return createModelRegistry({ settings: {} });
}

/** Copies the shipped panels, personas and constitutions into `dir`, so a test may edit them. */
export function copyLibrary(dir: string): { panelFile: string; personasDir: string } {
  for (const folder of ['panels', 'personas', 'constitutions']) {
    mkdirSync(path.join(dir, folder), { recursive: true });
    cpSync(path.join(REPO_ROOT, folder), path.join(dir, folder), { recursive: true });
  }
  return { panelFile: path.join(dir, 'panels', 'default.yaml'), personasDir: path.join(dir, 'personas') };
}

/** Reads a JSONL file. */
export function readJsonl<T = Record<string, unknown>>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** What must match between two runs of the same input: ids, scores, ranks and rounds, not run or debate ids or usage. */
export function labelEssence(rows: readonly LabelRow[]) {
  return rows.map((row) => ({
    id: row.id,
    ranking: row.ranking,
    roundsUsed: row.roundsUsed,
    candidates: row.candidates.map((candidate) => ({
      id: candidate.id,
      score: candidate.score,
      rank: candidate.rank,
      agreement: candidate.agreement,
      critics: Object.fromEntries(
        Object.entries(candidate.critics).map(([critic, turns]) => [critic, turns.map((turn) => turn.score)]),
      ),
    })),
  }));
}

/** Turn-end events by status. */
export function turnStatuses(events: readonly DebateEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) if (event.type === 'turn-end') counts[event.status] = (counts[event.status] ?? 0) + 1;
  return counts;
}

/** A panel with fewer rounds, for quicker tests. */
export function withRounds(panel: ResolvedPanel, maxRounds: number): ResolvedPanel {
  return { ...panel, panel: { ...panel.panel, maxRounds } };
}
