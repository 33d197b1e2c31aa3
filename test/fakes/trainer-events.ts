import { type TrainerEvent, TrainerEventSchema } from '../../src/contracts/index.js';

/**
 * A training run's `start` event as the worker writes it (a tiny DPO run on CPU), with `fields` replacing top-level
 * fields; checked against the trainer contract, so fixtures cannot drift from what the worker really sends.
 * @example trainerStartEvent({ task: 'rm', command: 'rm', total_steps: 4 })
 */
export function trainerStartEvent(fields: Record<string, unknown> = {}): Extract<TrainerEvent, { type: 'start' }> {
  const event = TrainerEventSchema.parse({
    v: 1,
    type: 'start',
    seq: 1,
    time: 0,
    command: 'dpo',
    task: 'dpo',
    run_dir: '/runs/dpo',
    step: 0,
    total_steps: 10,
    steps_per_epoch: 10,
    resumed_from: null,
    world_size: 1,
    device: 'cpu',
    torch: '2.5.1',
    model: { family: 'tiny', parameters: 1000, trainable: 1000, lora: null },
    data: { train_pairs: 32, eval_pairs: 4, truncated: 0, tokenizer: 'byte' },
    efficiency: { bf16: false, compile: false, warmup_steps: 0, strategy: 'single' },
    config: {},
    ...fields,
  });
  if (event.type !== 'start') throw new Error('not a start event');
  return event;
}
