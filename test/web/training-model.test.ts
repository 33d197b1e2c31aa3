import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TrainerEvent, TrainerEventSchema } from '../../src/contracts/index.js';
import { trainerStartEvent } from '../fakes/trainer-events.js';

/** The viewer's TrainingModel (src/web is plain JS without types: the shape the tests use). */
interface TrainingModel {
  status: string;
  task: string | undefined;
  step: number;
  totalSteps: number;
  pace: { secondsPerStep: number; etaSeconds: number } | undefined;
  resumes: Array<{ step: number; from: string }>;
  done: { status: string } | undefined;
  phase: { phase: string; split?: string; done: number; total: number; unit: string } | undefined;
  apply(event: TrainerEvent, line: number): string | undefined;
  trainSeries(field: string): Array<{ x: number; y: number }>;
  evalSeries(field: string): Array<{ x: number; y: number }>;
  nonFiniteLossSteps(): number[];
}

let createModel: () => TrainingModel;
beforeAll(async () => {
  // A computed specifier: the module is plain browser JS that TypeScript does not type-check.
  const url = pathToFileURL(path.resolve(import.meta.dirname, '../../src/web/training-model.js')).href;
  const module = (await import(url)) as { TrainingModel: new () => TrainingModel };
  createModel = () => new module.TrainingModel();
});

const start = (task: 'rm' | 'dpo', extra: Record<string, unknown> = {}) =>
  trainerStartEvent({
    time: 1000,
    command: task,
    task,
    run_dir: '/runs/x',
    model: { family: 'tiny', parameters: 10, trainable: 10, lora: null },
    data: { train_pairs: 8, eval_pairs: 2, truncated: 0, tokenizer: 'byte' },
    ...extra,
  });
const metric = (step: number, metrics: Record<string, number | null>, loss: number | null = 0.5) =>
  TrainerEventSchema.parse({
    v: 1,
    type: 'metric',
    seq: step + 1,
    time: 1000 + step * 3,
    step,
    epoch: step / 10,
    loss,
    lr: 1e-3,
    grad_norm: 1,
    tokens_per_s: 100,
    tokens: step * 10,
    metrics,
  });
const heldOut = (step: number, extra: Record<string, unknown> = {}) =>
  TrainerEventSchema.parse({
    v: 1,
    type: 'eval',
    seq: 50 + step,
    time: 1000 + step * 3,
    step,
    split: 'eval',
    metrics: { pairs: 2, loss: 0.4, accuracy: 0.5 },
    ...extra,
  });

/** Applies events as consecutive lines from 1. */
function fold(events: TrainerEvent[]): TrainingModel {
  const model = createModel();
  events.forEach((event, index) => {
    model.apply(event, index + 1);
  });
  return model;
}

describe('the viewer training model', () => {
  it("reads the task's accuracy (rm: accuracy, dpo: rewards/accuracies) and the pace from the events' own times", () => {
    const rm = fold([start('rm'), metric(1, { accuracy: 0.6, 'rewards/accuracies': 0.1 }), metric(2, { accuracy: 0.7 })]);
    expect(rm.trainSeries('accuracy')).toEqual([
      { x: 1, y: 0.6 },
      { x: 2, y: 0.7 },
    ]);
    expect(rm.pace).toEqual({ secondsPerStep: 3, etaSeconds: 24 });
    const dpo = fold([start('dpo'), metric(1, { accuracy: 0.1, 'rewards/accuracies': 0.8 })]);
    expect(dpo.trainSeries('accuracy')).toEqual([{ x: 1, y: 0.8 }]);
    expect(dpo.status).toBe('running');
  });

  it('ignores a line it already has, and keeps non-finite losses out of the curve while reporting them', () => {
    const model = createModel();
    expect(model.apply(start('dpo'), 1)).toBe('start');
    expect(model.apply(metric(1, {}, null), 2)).toBe('metric');
    expect(model.apply(metric(1, {}, null), 2)).toBeUndefined();
    expect(model.apply(metric(2, {}, 0.4), 3)).toBe('metric');
    expect(model.trainSeries('loss')).toEqual([{ x: 2, y: 0.4 }]);
    expect(model.nonFiniteLossSteps()).toEqual([1]);
  });

  it('on a resume drops the points logged after the checkpoint it resumes from, and runs again after done', () => {
    const model = fold([
      start('dpo'),
      metric(1, {}),
      metric(2, {}),
      heldOut(2),
      metric(3, {}),
      metric(4, {}),
      heldOut(4),
      TrainerEventSchema.parse({ v: 1, type: 'done', seq: 9, time: 1100, status: 'stopped', step: 4, checkpoint: null }),
    ]);
    expect(model.status).toBe('stopped');
    model.apply(start('dpo', { step: 2, resumed_from: '/runs/x/checkpoints/step-2', time: 2000 }), 20);
    expect(model.status).toBe('running');
    expect(model.done).toBeUndefined();
    expect(model.resumes).toMatchObject([{ step: 2, from: '/runs/x/checkpoints/step-2' }]);
    expect(model.trainSeries('loss').map((point) => point.x)).toEqual([1, 2]);
    expect(model.evalSeries('accuracy').map((point) => point.x)).toEqual([2]);
  });

  it("shows an evaluation's own directory (tribunal train eval) as evaluating, then completed", () => {
    const evalStart = TrainerEventSchema.parse({
      v: 1,
      type: 'start',
      seq: 1,
      time: 1000,
      command: 'eval',
      task: 'rm',
      run_dir: '/runs/x/evals/held-out-4',
      step: 4,
      checkpoint: '/runs/x/checkpoints/step-4',
      world_size: 1,
      device: 'cpu',
      torch: '2.5.1',
      data: { eval_pairs: 2, tokenizer: 'byte' },
      config: {},
    });
    const model = createModel();
    model.apply(evalStart, 1);
    expect(model.status).toBe('evaluating');
    expect(model.task).toBe('rm');
    model.apply(heldOut(4, { checkpoint: '/runs/x/checkpoints/step-4' }), 2);
    model.apply(
      TrainerEventSchema.parse({
        v: 1,
        type: 'done',
        seq: 3,
        time: 1010,
        status: 'completed',
        step: 4,
        checkpoint: '/runs/x/checkpoints/step-4',
        eval: { pairs: 2, loss: 0.4, accuracy: 0.5 },
      }),
      3,
    );
    expect(model.status).toBe('completed');
    expect(model.evalSeries('accuracy')).toEqual([]); // a checkpoint's evaluation is not a point of the training curve
  });

  it('is failed after an error, until a later worker run starts', () => {
    const model = fold([
      start('dpo'),
      TrainerEventSchema.parse({ v: 1, type: 'error', seq: 2, time: 1001, code: 'OUT_OF_MEMORY', message: 'CUDA out of memory' }),
    ]);
    expect(model.status).toBe('failed');
    model.apply(start('dpo', { seq: 1, time: 3000 }), 3);
    expect(model.status).toBe('running');
  });
});

describe('the reference log-prob phase before start (progress events)', () => {
  const progress = (done: number, total: number) =>
    TrainerEventSchema.parse({
      v: 1,
      type: 'progress',
      seq: done + 1,
      time: 500 + done,
      phase: 'reference',
      split: 'train',
      done,
      total,
      unit: 'batches',
    });

  it('shows the phase while it runs and clears it at the start that follows', () => {
    const model = createModel();
    expect(model.apply(progress(0, 50), 1)).toBe('progress');
    expect(model.apply(progress(25, 50), 2)).toBe('progress');
    expect(model.status).toBe('waiting');
    expect(model.phase).toMatchObject({ phase: 'reference', split: 'train', done: 25, total: 50, unit: 'batches' });
    expect(model.apply(start('dpo'), 3)).toBe('start');
    expect(model.phase).toBeUndefined();
    expect(model.status).toBe('running');
  });
});
