import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IterationReport, LoopReport } from '../../src/contracts/index.js';
import { writeLoopReport } from '../../src/loop/index.js';

/** One iteration's measures as `tribunal loop` reports them, climbing with the iteration (a loop that learns). */
export function loopIteration(iteration: number, overrides: Partial<IterationReport> = {}): IterationReport {
  const gain = 0.05 * (iteration + 1);
  return {
    iteration,
    policy: `checkpoint:runs/loop/iter-${iteration}/train`,
    samples: 32,
    duplicates: 2,
    pairs: 12,
    cutOffCompletions: 3,
    trainerAccuracy: 0.75,
    winRate: 0.55 + gain,
    winRateInterval: [0.45 + gain, 0.65 + gain],
    wins: 10,
    losses: 5,
    ties: 1,
    swapInconsistent: 1,
    comparisons: 16,
    missingComparisons: 0,
    winRateVsInitial: 0.55 + 2 * gain,
    winRateVsInitialInterval: [0.45 + 2 * gain, 0.65 + 2 * gain],
    lengthControlledWinRate: 0.5 + gain,
    lengthControlledWinRateInterval: [0.4 + gain, 0.6 + gain],
    lengthControlledWinRateVsInitial: 0.5 + gain,
    meanConsensus: 6 + iteration,
    meanTokens: 20 + 4 * (iteration + 1),
    lengthDrift: (20 + 4 * (iteration + 1)) / 20,
    distinct1: 0.6,
    distinct2: 0.8 - gain,
    pairwiseOverlap: 0.1 + gain,
    kl: 0.5 * (iteration + 1),
    klInterval: [0.25 * (iteration + 1), 0.75 * (iteration + 1)],
    goldAgreement: null,
    stopRule: null,
    ...overrides,
  };
}

/** A report of `iterations` finished iterations out of `iterationsRequested`. */
export function loopReport(options: {
  status: LoopReport['status'];
  stage: string | null;
  iterations: number;
  iterationsRequested?: number;
  overrides?: Partial<LoopReport>;
}): LoopReport {
  return {
    version: 1,
    status: options.status,
    stage: options.stage,
    prompts: { file: 'prompts.jsonl', train: 16, heldOut: 4 },
    policy: 'tiny',
    iterationsRequested: options.iterationsRequested ?? 2,
    reference: 'initial',
    initial: { policy: 'tiny', meanTokens: 20, distinct1: 0.6, distinct2: 0.8, pairwiseOverlap: 0.1, meanConsensus: 5 },
    iterations: Array.from({ length: options.iterations }, (_, index) => loopIteration(index)),
    stoppedBy: null,
    ...options.overrides,
  };
}

/** Makes `dir` a loop directory as `tribunal loop --out dir` leaves it: loop.json, and report.json by the loop's own writer. */
export async function writeLoopDir(dir: string, report: LoopReport): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'loop.json'), `${JSON.stringify({ version: 1, stages: [] })}\n`);
  await writeLoopReport({ report, outDir: dir });
}
