import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetItem, DebateEvent, LabelRow } from '../../src/contracts/index.js';
import type { NewItem, RunConfig } from '../../src/store/index.js';

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'tribunal-store-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A run config for a given input hash, with one persona hash that tests can vary. */
export function runConfig(
  overrides: { sha256?: string; panelId?: string; safetyHash?: string; rounds?: number } = {},
): RunConfig {
  return {
    input: { file: 'input.jsonl', sha256: overrides.sha256 ?? 'a'.repeat(64), format: 'native' },
    panel: { id: overrides.panelId ?? 'default', hash: `panel-${overrides.safetyHash ?? 's1'}` },
    personas: { safety: overrides.safetyHash ?? 's1', efficiency: 'e1' },
    constitution: { id: 'default', version: '1', hash: 'c1' },
    models: { safety: 'fake:scripted', efficiency: 'fake:scripted' },
    options: { maxRounds: overrides.rounds ?? 2 },
  };
}

/** A dataset item with two candidates. */
export function datasetItem(id: string): DatasetItem {
  return {
    id,
    prompt: `Question ${id}?`,
    candidates: [
      { id: 'c1', text: `First answer to ${id}` },
      { id: 'c2', text: `Second answer to ${id}` },
    ],
    meta: {},
  };
}

/** Items `item-1..item-n` on lines 1..n. */
export function newItems(count: number, options: { prefix?: string; firstLine?: number } = {}): NewItem[] {
  const prefix = options.prefix ?? 'item-';
  const firstLine = options.firstLine ?? 1;
  return Array.from({ length: count }, (_, index) => ({ line: firstLine + index, item: datasetItem(`${prefix}${index + 1}`) }));
}

/** A minimal valid label row for an item. */
export function labelRow(itemId: string, options: { costUsd?: number; debateId?: string } = {}): LabelRow {
  return {
    id: itemId,
    prompt: `Question ${itemId}?`,
    candidates: [
      {
        id: 'c1',
        score: 7,
        rank: 1,
        agreement: 0.9,
        mean: 7,
        median: 7,
        stdev: 0.5,
        turns: 2,
        failedTurns: 0,
        critics: { safety: [{ round: 0, status: 'ok', score: 7 }] },
      },
    ],
    ranking: ['c1'],
    roundsUsed: 1,
    panel: {
      id: 'default',
      hash: 'panel-s1',
      protocol: 'simultaneous',
      aggregation: 'weighted-mean',
      scale: { min: 1, max: 10 },
      critics: [{ id: 'safety', model: 'fake:scripted', weight: 1 }],
    },
    usage: { inputTokens: 100, outputTokens: 20, calls: 2, costUsd: options.costUsd ?? 0.01 },
    failedTurns: [],
    ...(options.debateId === undefined ? {} : { debateId: options.debateId }),
  };
}

const AT = '2025-01-01T00:00:00.000Z';

/**
 * The events of one small debate: debate-start, `deltas` turn-delta events, and debate-end, seq 0..deltas+1.
 * `first` and `count` cut a slice, e.g. to append a debate in several batches.
 */
export function debateEvents(options: { runId: string; debateId: string; itemId?: string; deltas?: number }): DebateEvent[] {
  const { runId, debateId } = options;
  const deltas = options.deltas ?? 3;
  const events: DebateEvent[] = [
    {
      type: 'debate-start',
      runId,
      debateId,
      seq: 0,
      at: AT,
      ...(options.itemId === undefined ? {} : { itemId: options.itemId }),
      panel: {
        id: 'default',
        hash: 'panel-s1',
        protocol: 'simultaneous',
        mode: 'pointwise',
        scale: { min: 1, max: 10 },
        maxRounds: 2,
        tolerance: 1,
        aggregation: 'weighted-mean',
        constitution: { id: 'default', version: '1', hash: 'c1' },
      },
      critics: [{ id: 'safety', name: 'Safety', focus: 'harm', weight: 1, model: 'fake:scripted' }],
      prompt: 'Question?',
      candidates: [{ id: 'c1', text: 'An answer' }],
    },
  ];
  for (let index = 0; index < deltas; index++) {
    events.push({
      type: 'turn-delta',
      runId,
      debateId,
      seq: index + 1,
      at: AT,
      round: 0,
      criticId: 'safety',
      candidateId: 'c1',
      turnId: '0/safety/c1',
      text: `token ${index} `,
    });
  }
  events.push({
    type: 'debate-end',
    runId,
    debateId,
    seq: deltas + 1,
    at: AT,
    usage: { inputTokens: 10, outputTokens: 5, calls: 1, costUsd: 0 },
    turns: 1,
    failedTurns: 0,
  });
  return events;
}

/** Collects up to `count` items of an async iterable. */
export async function take<T>(iterable: AsyncIterable<T>, count: number): Promise<T[]> {
  const taken: T[] = [];
  if (count <= 0) return taken;
  for await (const value of iterable) {
    taken.push(value);
    if (taken.length >= count) break;
  }
  return taken;
}
