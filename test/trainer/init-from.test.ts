import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TribunalError } from '../../src/contracts/index.js';
import { buildTrainConfig, resolveCheckpoint } from '../../src/trainer/index.js';
import { temporaryDirectory } from './trainer-fixtures.js';

/** A run directory as the worker leaves it: config.json and complete checkpoints (trainer_state.json) at `steps`. */
function trainingRun(dir: string, task: 'rm' | 'dpo', steps: number[], options: { partial?: number } = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ run_dir: dir, task, data: { train: 'pairs.jsonl' } }));
  for (const step of steps) {
    const folder = path.join(dir, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'trainer_state.json'), JSON.stringify({ step, task }));
  }
  if (options.partial !== undefined) {
    // an interrupted save: the .tmp folder of a later step, and a step folder without trainer_state.json
    mkdirSync(path.join(dir, 'checkpoints', `step-${String(options.partial).padStart(8, '0')}.tmp`), { recursive: true });
    mkdirSync(path.join(dir, 'checkpoints', `step-${String(options.partial + 1).padStart(8, '0')}`), { recursive: true });
  }
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<TribunalError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TribunalError);
  return error as TribunalError;
}

describe('resolveCheckpoint (--init-from, --reference-from)', () => {
  it('takes a run directory to its latest complete checkpoint, and a checkpoint folder as it is', async () => {
    const run = trainingRun(path.join(temporaryDirectory(), 'iter-0'), 'dpo', [2, 10, 4], { partial: 12 });
    const latest = path.join(run, 'checkpoints', 'step-00000010');
    expect(await resolveCheckpoint({ dir: run, flag: '--init-from', task: 'dpo' })).toEqual({ step: 10, path: latest });
    const older = path.join(run, 'checkpoints', 'step-00000004');
    expect(await resolveCheckpoint({ dir: older, flag: '--init-from', task: 'dpo' })).toEqual({ step: 4, path: older });
    // a checkpoint folder under another name: its step from trainer_state.json
    const renamed = path.join(path.dirname(run), 'policy-1');
    mkdirSync(renamed);
    writeFileSync(path.join(renamed, 'trainer_state.json'), JSON.stringify({ step: 7, task: 'dpo' }));
    expect(await resolveCheckpoint({ dir: renamed, flag: '--reference-from' })).toEqual({ step: 7, path: renamed });
  });

  it('names the flag and the folder when there is no checkpoint to start from', async () => {
    const dir = temporaryDirectory();
    const missing = await failure(resolveCheckpoint({ dir: path.join(dir, 'nowhere'), flag: '--init-from' }));
    expect(missing.code).toBe('INPUT_INVALID');
    expect(missing.message).toContain(`--init-from ${path.join(dir, 'nowhere')}: neither a checkpoint folder`);
    expect(missing.message).toContain('is not a directory');

    const notARun = path.join(dir, 'empty');
    mkdirSync(notARun);
    const empty = await failure(resolveCheckpoint({ dir: notARun, flag: '--reference-from' }));
    expect(empty.message).toContain(
      `--reference-from ${notARun}: neither a checkpoint folder (no trainer_state.json) nor a training run`,
    );

    const fresh = trainingRun(path.join(dir, 'fresh'), 'dpo', [], { partial: 3 });
    const none = await failure(resolveCheckpoint({ dir: fresh, flag: '--init-from', task: 'dpo' }));
    expect(none.code).toBe('INPUT_INVALID');
    expect(none.message).toContain(`--init-from ${fresh}: the run has no complete checkpoint yet`);
  });

  it('refuses a run or checkpoint of the other task', async () => {
    const rm = trainingRun(path.join(temporaryDirectory(), 'rm'), 'rm', [5]);
    const run = await failure(resolveCheckpoint({ dir: rm, flag: '--init-from', task: 'dpo' }));
    expect(run.code).toBe('CONFIG_INVALID');
    expect(run.message).toContain(`--init-from ${rm} trained rm, not dpo`);
    const folder = path.join(rm, 'checkpoints', 'step-00000005');
    const checkpoint = await failure(resolveCheckpoint({ dir: folder, flag: '--reference-from', task: 'dpo' }));
    expect(checkpoint.message).toContain(`--reference-from ${folder} is a checkpoint of a rm run, not dpo`);
  });
});

describe('buildTrainConfig with checkpoints to start from', () => {
  it('passes initCheckpoint and refCheckpoint as absolute init_checkpoint and ref_checkpoint', () => {
    const config = buildTrainConfig({
      task: 'dpo',
      pairs: 'pairs.jsonl',
      steps: 4,
      initCheckpoint: 'runs/iter-1/checkpoints/step-00000004',
      refCheckpoint: '/runs/iter-0/checkpoints/step-00000004',
    });
    expect(config.init_checkpoint).toBe(path.resolve('runs/iter-1/checkpoints/step-00000004'));
    expect(config.ref_checkpoint).toBe('/runs/iter-0/checkpoints/step-00000004');
    const plain = buildTrainConfig({ task: 'dpo', pairs: 'pairs.jsonl', steps: 4 });
    expect('init_checkpoint' in plain || 'ref_checkpoint' in plain).toBe(false);
  });
});
