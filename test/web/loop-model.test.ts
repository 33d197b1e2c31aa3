import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LoopReport } from '../../src/contracts/index.js';
import { loopIteration, loopReport } from '../fakes/loop-report.js';

interface Point {
  x: number;
  y: number;
  low?: number;
  high?: number;
}
type Series = Array<{ id: string; points: Point[] }>;
/** The viewer's loopSeries (src/web is plain JS without types: the shape the tests use). */
type LoopSeries = (report: LoopReport) => { winRate: Series; kl: Series; tokens: Series; diversity: Series };

let loopSeries: LoopSeries;
beforeAll(async () => {
  // A computed specifier: the module is plain browser JS that TypeScript does not type-check.
  const url = pathToFileURL(path.resolve(import.meta.dirname, '../../src/web/loop-model.js')).href;
  loopSeries = ((await import(url)) as { loopSeries: LoopSeries }).loopSeries;
});

const pointsOf = (series: Series, id: string) => series.find((entry) => entry.id === id)?.points;

describe('loopSeries (the Loop tab curves)', () => {
  it('puts iteration i at policy i + 1, policy_0 at 0, with the intervals of the report', () => {
    const measured = (iteration: number, value: number) =>
      loopIteration(iteration, {
        winRate: value,
        winRateInterval: [value - 0.125, value + 0.125],
        winRateVsInitial: value + 0.125,
        winRateVsInitialInterval: [value, value + 0.25],
        lengthControlledWinRate: value - 0.125,
        kl: value * 2,
        klInterval: [value, value * 4],
        meanTokens: 24 + iteration * 4,
        distinct2: 0.75 - iteration * 0.25,
      });
    const report = loopReport({ status: 'done', stage: null, iterations: 0 });
    const series = loopSeries({ ...report, iterations: [measured(0, 0.5), measured(1, 0.75)] });
    expect(pointsOf(series.winRate, 'vs-previous')).toEqual([
      { x: 1, y: 0.5, low: 0.375, high: 0.625 },
      { x: 2, y: 0.75, low: 0.625, high: 0.875 },
    ]);
    expect(pointsOf(series.winRate, 'vs-initial')).toEqual([
      { x: 1, y: 0.625, low: 0.5, high: 0.75 },
      { x: 2, y: 0.875, low: 0.75, high: 1 },
    ]);
    expect(pointsOf(series.winRate, 'length-controlled')).toEqual([
      { x: 1, y: 0.375 },
      { x: 2, y: 0.625 },
    ]);
    expect(pointsOf(series.kl, 'kl')).toEqual([
      { x: 0, y: 0 },
      { x: 1, y: 1, low: 0.5, high: 2 },
      { x: 2, y: 1.5, low: 0.75, high: 3 },
    ]);
    expect(pointsOf(series.tokens, 'tokens')).toEqual([
      { x: 0, y: 20 },
      { x: 1, y: 24 },
      { x: 2, y: 28 },
    ]);
    expect(pointsOf(series.diversity, 'distinct2')).toEqual([
      { x: 0, y: 0.8 },
      { x: 1, y: 0.75 },
      { x: 2, y: 0.5 },
    ]);
  });

  it('leaves out what the loop could not compute, and draws nothing before the first iteration but the baselines', () => {
    const report = loopReport({
      status: 'running',
      stage: 'iteration 1: train',
      iterations: 0,
      overrides: {
        initial: null,
        iterations: [
          loopIteration(0, { winRate: null, winRateInterval: null, kl: 0.3, klInterval: null, distinct2: null }),
          loopIteration(1),
        ],
      },
    });
    const series = loopSeries(report);
    expect(pointsOf(series.winRate, 'vs-previous')?.map((point) => point.x)).toEqual([2]);
    expect(pointsOf(series.kl, 'kl')?.[1]).toEqual({ x: 1, y: 0.3 });
    expect(pointsOf(series.tokens, 'tokens')?.map((point) => point.x)).toEqual([1, 2]);
    expect(pointsOf(series.diversity, 'distinct2')?.map((point) => point.x)).toEqual([2]);
    const empty = loopSeries(loopReport({ status: 'running', stage: null, iterations: 0 }));
    expect(pointsOf(empty.winRate, 'vs-previous')).toEqual([]);
    expect(pointsOf(empty.kl, 'kl')).toEqual([{ x: 0, y: 0 }]);
    expect(pointsOf(empty.tokens, 'tokens')).toEqual([{ x: 0, y: 20 }]);
  });
});
