import { describe, expect, it } from 'vitest';
import { styleFor } from '../../src/cli/terminal.js';
import { renderTrainBar, TrainProgress, type TrainSnapshot } from '../../src/cli/train-progress.js';
import type { TrainerEvent } from '../../src/contracts/index.js';
import { trainerStartEvent } from '../fakes/trainer-events.js';

const plain = styleFor({ write: () => true } as unknown as NodeJS.WritableStream);

const start: TrainerEvent = trainerStartEvent({
  run_dir: '/r',
  steps_per_epoch: 5,
  torch: '1.13.0',
  model: { family: 'tiny', parameters: 133_824, trainable: 133_824, lora: null },
  data: { train_pairs: 40, eval_pairs: 4, truncated: 0, tokenizer: 'byte' },
});

const metric = (step: number, loss: number): TrainerEvent => ({
  v: 1,
  type: 'metric',
  seq: step + 1,
  time: step,
  step,
  epoch: step / 5,
  loss,
  lr: 0.003,
  grad_norm: 1,
  tokens_per_s: 5300,
  tokens: step * 400,
  metrics: { 'rewards/accuracies': 0.875, 'rewards/margins': 0.3 },
});

function sink(isTTY: boolean) {
  let text = '';
  return { stream: { isTTY, columns: 200, write: (chunk: string) => (text += chunk) }, text: () => text };
}

describe('TrainProgress', () => {
  it('off a terminal, prints the first metric, then a line per interval, and the last one', () => {
    let now = 0;
    const out = sink(false);
    const progress = new TrainProgress({ stream: out.stream, style: plain, lineMs: 10_000, now: () => now });
    progress.handle(start);
    for (let step = 1; step <= 10; step++) {
      now = step * 3000; // 3 s a step: a line at least 10 s after the last one
      progress.handle(metric(step, 0.7 - step * 0.01));
    }
    progress.handle({ v: 1, type: 'done', seq: 20, time: 30, status: 'completed', step: 10, checkpoint: null });
    const lines = out.text().trim().split('\n');
    expect(lines[0]).toBe('training dpo · 40 training pairs (4 held out) · tiny model, 133.8k parameters · cpu');
    expect(lines[1]).toBe('train dpo: step 1/10 (10%) · loss 0.6900 · accuracy 87.5% · lr 3.0e-3 · 5.3k tokens/s · ETA 0:27');
    expect(lines.map((line) => line.match(/step (\d+)\/10/)?.[1]).filter(Boolean)).toEqual(['1', '5', '9', '10']);
    expect(lines.at(-1)).toContain('step 10/10 (100%) · loss 0.6000');
    expect(lines.at(-1)).toContain('ETA 0:00');
  });

  it('on a terminal, redraws one line and prints evaluations above it', () => {
    let now = 0;
    const out = sink(true);
    const progress = new TrainProgress({ stream: out.stream, style: plain, now: () => now });
    progress.handle(start);
    now = 1000;
    progress.handle(metric(5, 0.5));
    progress.handle({
      v: 1,
      type: 'eval',
      seq: 7,
      time: 1,
      step: 5,
      epoch: 1,
      split: 'eval',
      metrics: { pairs: 4, loss: 0.41, accuracy: 0.75, ece: 0.031, brier: 0.12 },
    });
    progress.stopping();
    const text = out.text();
    expect(text).toContain(
      '\r\u001b[2K[██████████░░░░░░░░░░] 5/10 50% · loss 0.5000 · acc 87.5% · lr 3.0e-3 · 5.3k tok/s · ETA 0:01',
    );
    expect(text).toContain('\r\u001b[2Kheld-out @ step 5: accuracy 75.0% · ECE 0.031 · Brier 0.120 · loss 0.410 (4 pairs)\n');
    expect(text.endsWith('stopping: finishing the step, then checkpointing')).toBe(true);
  });

  it("shows a bar while DPO's reference log-probs are computed, then the training bar", () => {
    let now = 0;
    const out = sink(true);
    const progress = new TrainProgress({ stream: out.stream, style: plain, redrawMs: 0, now: () => now });
    const event = (done: number): TrainerEvent => ({
      v: 1,
      type: 'progress',
      seq: done + 1,
      time: done,
      phase: 'reference',
      split: 'train',
      done,
      total: 40,
      unit: 'batches',
    });
    progress.handle(event(0));
    now = 10_000;
    progress.handle(event(10));
    expect(out.text()).toContain('\r\u001b[2K[░░░░░░░░░░░░░░░░░░░░] reference log-probs 0/40 batches 0% · ETA --:--');
    expect(out.text()).toContain('\r\u001b[2K[█████░░░░░░░░░░░░░░░] reference log-probs 10/40 batches 25% · ETA 0:30');
    progress.handle(start);
    expect(out.text().endsWith('[░░░░░░░░░░░░░░░░░░░░] 0/10 0% · loss -- · acc -- · lr -- · -- tok/s · ETA --:--')).toBe(true);

    const plainOut = sink(false);
    const lines = new TrainProgress({ stream: plainOut.stream, style: plain, now: () => 0 });
    lines.handle(event(0));
    lines.handle(event(20));
    lines.handle(event(40));
    expect(plainOut.text().trim().split('\n')).toEqual([
      'reference log-probs 0/40 batches 0% · ETA --:--',
      'reference log-probs 40/40 batches 100% · ETA --:--',
    ]);
  });

  it('says when a resumed run continues on a schedule rebuilt for a new total', () => {
    const out = sink(false);
    const progress = new TrainProgress({ stream: out.stream, style: plain, now: () => 0 });
    progress.handle({
      ...start,
      step: 40,
      total_steps: 60,
      resumed_from: '/r/checkpoints/step-00000040',
      schedule: {
        kind: 'cosine',
        warmup_steps: 0,
        total_steps: 60,
        changed_on_resume: { from: { total_steps: 40 }, to: { total_steps: 60 } },
      },
    } as TrainerEvent);
    expect(out.text()).toContain("the learning-rate schedule is rebuilt for 60 steps (the checkpoint's run had 40)");
  });

  it('drops the learning rate, then throughput, when the terminal is narrow', () => {
    const snapshot: TrainSnapshot = {
      task: 'rm',
      step: 3,
      totalSteps: 12,
      loss: 0.25,
      accuracy: 1,
      lr: 1e-5,
      tokensPerSecond: 12_345,
      etaSeconds: 65,
      stopping: false,
    };
    expect(renderTrainBar(snapshot, plain, 200)).toBe(
      '[█████░░░░░░░░░░░░░░░] 3/12 25% · loss 0.2500 · acc 100.0% · lr 1.0e-5 · 12.3k tok/s · ETA 1:05',
    );
    expect(renderTrainBar(snapshot, plain, 80)).toBe('[█████░░░░░░░░░░░░░░░] 3/12 25% · loss 0.2500 · acc 100.0% · ETA 1:05');
  });
});
