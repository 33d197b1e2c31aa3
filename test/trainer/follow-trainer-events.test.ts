import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainerEvent } from '../../src/contracts/index.js';
import { type FollowedTrainerEvent, followTrainerEvents, runTrainer, SYSTEM_PYTHON } from '../../src/trainer/index.js';
import { requireTorch, syntheticPairs, temporaryDirectory, tinyConfig, writeJsonl } from './trainer-fixtures.js';

const start = {
  v: 1,
  type: 'start',
  seq: 1,
  time: 1,
  command: 'eval',
  task: 'rm',
  run_dir: '/r',
  step: 0,
  checkpoint: null,
  world_size: 1,
  device: 'cpu',
  torch: '2.5.1',
  data: { eval_pairs: 2, tokenizer: 'byte' },
  config: {},
};
const evaluation = {
  v: 1,
  type: 'eval',
  seq: 2,
  time: 2,
  step: 0,
  split: 'eval',
  checkpoint: null,
  metrics: { pairs: 2, loss: 0.7 },
};
const done = { v: 1, type: 'done', seq: 3, time: 3, status: 'completed', step: 0, checkpoint: null, eval: null };

describe('followTrainerEvents', () => {
  it('waits for events.jsonl, yields events as lines are appended (even half-written ones), skips invalid lines', async () => {
    const runDir = path.join(temporaryDirectory(), 'run');
    const file = path.join(runDir, 'events.jsonl');
    const invalid: string[] = [];
    const events = followTrainerEvents({
      runDir,
      pollMs: 5,
      untilEnd: true,
      onInvalidLine: (problem) => invalid.push(problem.message),
    });
    const first = events.next();
    mkdirSync(runDir);
    appendFileSync(file, `${JSON.stringify(start)}\nnot an event\n${JSON.stringify(evaluation).slice(0, 20)}`);
    expect(await first).toMatchObject({ done: false, value: { line: 1, event: { type: 'start' } } });
    const second = events.next();
    appendFileSync(file, `${JSON.stringify(evaluation).slice(20)}\n`);
    expect(await second).toMatchObject({ value: { line: 3, event: { type: 'eval', metrics: { pairs: 2 } } } });
    expect(invalid).toEqual([expect.stringMatching(/events\.jsonl:2 is not JSON .*"not an event"$/)]);
    const third = events.next();
    appendFileSync(file, `${JSON.stringify(done)}\n${JSON.stringify(start)}\n`);
    expect(await third).toMatchObject({ value: { line: 4, event: { type: 'done' } } });
    expect(await events.next()).toEqual({ done: true, value: undefined }); // untilEnd
  });

  it('resumes after a line and ends when the signal aborts', async () => {
    const runDir = temporaryDirectory();
    writeJsonl(path.join(runDir, 'events.jsonl'), [start, evaluation, done]);
    const controller = new AbortController();
    const seen: FollowedTrainerEvent[] = [];
    for await (const followed of followTrainerEvents({ runDir, afterLine: 1, pollMs: 5, signal: controller.signal })) {
      seen.push(followed);
      if (followed.event.type === 'done') controller.abort();
    }
    expect(seen.map(({ line, event }) => [line, event.type])).toEqual([
      [2, 'eval'],
      [3, 'done'],
    ]);
  });

  it('sees exactly what runTrainer delivers, from another reader of the run directory', async () => {
    requireTorch();
    const dir = temporaryDirectory();
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const runDir = path.join(dir, 'run');
    const followed: TrainerEvent[] = [];
    const following = (async () => {
      for await (const { event } of followTrainerEvents({ runDir, untilEnd: true, pollMs: 20 })) followed.push(event);
    })();
    const delivered: TrainerEvent[] = [];
    await runTrainer({
      task: 'rm',
      config: tinyConfig({ train, steps: 3 }),
      runDir,
      python: SYSTEM_PYTHON,
      onEvent: (event) => delivered.push(event),
    });
    await following;
    expect(followed).toEqual(delivered);
  });
});
