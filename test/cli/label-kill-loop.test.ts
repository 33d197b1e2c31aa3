import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import { labelEssence, nativeItem, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';
import { mulberry32, runCli, runProblems } from './label-process.js';

/**
 * A few trials of the kill -9 loop (scripts/label-kill-loop.ts runs many more and reports): each trial kills
 * `tribunal label` at seeded random moments — during start-up, import, debates, settling or export — then lets the
 * same command finish, and checks that no label was lost or duplicated and that the labels equal an uninterrupted run's.
 */
const ITEMS = 8;
const TRIALS = 3;
const MODEL = 'fake:judge?latencyMs=40';

describe('tribunal label killed at random moments', () => {
  const dir = tempDir('tribunal-kill-loop-');
  const input = writeInput(
    dir,
    Array.from({ length: ITEMS }, (_, index) => nativeItem(index + 1, 3)),
  );
  const itemIds = Array.from({ length: ITEMS }, (_, index) => `item-${index + 1}`);
  const args = (out: string) => [
    'label',
    input,
    '--model',
    MODEL,
    '--out',
    out,
    '--concurrency',
    '3',
    '--max-rounds',
    '1',
    '--json',
  ];
  let cleanMs = 0;
  let activeMs = 0;
  let clean: ReturnType<typeof labelEssence> = [];
  beforeAll(async () => {
    const out = path.join(dir, 'clean');
    const started = Date.now();
    const result = await runCli({ args: args(out), out });
    cleanMs = Date.now() - started;
    expect(result.code, result.stderr).toBe(0);
    // Loading the CLI takes much of a short run: aim most kills at the time after the store holds the items.
    activeMs = Math.max(50, result.elapsedMs - (result.readyMs ?? 0));
    clean = labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')));
  });

  it('loses and duplicates no label, and ends with the labels of an uninterrupted run', async () => {
    const random = mulberry32(20261203);
    let landed = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const out = path.join(dir, `trial-${trial}`);
      for (let kill = 0; kill <= trial % 2; kill++) {
        // The first kill of the first trial anywhere from the start (start-up, import); the others while it labels.
        const fromStart = trial === 0 && kill === 0;
        const delay = Math.floor(random() * 0.9 * (fromStart ? cleanMs : activeMs));
        const plan = fromStart ? { killAtMs: delay } : { killAfterReadyMs: delay };
        const result = await runCli({ args: args(out), out, plan });
        expect(result.code === 0 || result.signal === 'SIGKILL', `${JSON.stringify(plan)}: ${result.stderr}`).toBe(true);
        if (result.signal === 'SIGKILL') landed += 1;
      }
      const finished = await runCli({ args: args(out), out });
      expect(finished.code, finished.stderr).toBe(0);
      expect(runProblems({ out, itemIds }), `trial ${trial}`).toEqual([]);
      expect(labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')))).toEqual(clean);
    }
    // Most kills land (a resumed run has less to do and may finish first).
    expect(landed).toBeGreaterThanOrEqual(2);
  });
});
