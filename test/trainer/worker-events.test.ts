import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PreferencePairSchema, type TrainerEvent } from '../../src/contracts/index.js';
import { runTrainer, SYSTEM_PYTHON } from '../../src/trainer/index.js';
import { checkEventsFile, requireTorch, syntheticPairs, temporaryDirectory, tinyConfig, writeJsonl } from './trainer-fixtures.js';

beforeAll(requireTorch);

const HELD_OUT_KEYS = [
  'accuracy',
  'accuracy/chosen_longer',
  'accuracy/chosen_shorter',
  'accuracy/same_length',
  'brier',
  'count/chosen_longer',
  'count/chosen_shorter',
  'count/same_length',
  'ece',
  'identical_answers',
  'loss',
  'mean_margin',
  'pairs',
  'ties',
];

describe('the trainer event contract against the real worker', () => {
  it('accepts every event of a DPO run, a reward-model run and the eval command', async () => {
    const dir = temporaryDirectory();
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(64));

    const dpoDir = path.join(dir, 'dpo');
    const seen: TrainerEvent[] = [];
    const dpo = await runTrainer({
      task: 'dpo',
      config: tinyConfig({ train, steps: 4, training: { eval_steps: 2 } }),
      runDir: dpoDir,
      python: SYSTEM_PYTHON,
      onEvent: (event) => seen.push(event),
    });
    expect(dpo.status).toBe('completed');
    expect(seen.map((event) => event.type)).toEqual([
      'progress', // reference log-probs: before the first batch, then after each of 3 (2 train, 1 eval)
      'progress',
      'progress',
      'progress',
      'start',
      'metric',
      'metric',
      'eval', // training.eval_steps
      'metric',
      'metric',
      'checkpoint',
      'eval', // at the end
      'done',
    ]);
    expect(checkEventsFile(dpoDir)).toEqual(seen);
    const metric = seen.find((event) => event.type === 'metric');
    expect(Object.keys(metric?.type === 'metric' ? metric.metrics : {}).sort()).toEqual([
      'logits/chosen',
      'logits/rejected',
      'logps/chosen',
      'logps/rejected',
      'num_tokens',
      'rewards/accuracies',
      'rewards/chosen',
      'rewards/margins',
      'rewards/rejected',
    ]);
    expect(Object.keys(dpo.eval ?? {}).sort()).toEqual(HELD_OUT_KEYS);
    expect(dpo.eval?.pairs).toBe(16);
    expect(dpo.start?.command === 'dpo' && dpo.start.data).toMatchObject({ train_pairs: 48, eval_pairs: 16 });
    expect(dpo.done.checkpoint).toBe(path.join(dpoDir, 'checkpoints', 'step-00000004'));

    const rmDir = path.join(dir, 'rm');
    const rm = await runTrainer({
      task: 'rm',
      config: tinyConfig({ train, steps: 2 }),
      runDir: rmDir,
      python: SYSTEM_PYTHON,
    });
    expect(rm.status).toBe('completed');
    const rmEvents = checkEventsFile(rmDir);
    const rmMetric = rmEvents.find((event) => event.type === 'metric');
    expect(Object.keys(rmMetric?.type === 'metric' ? rmMetric.metrics : {}).sort()).toEqual([
      'accuracy',
      'margin',
      'max_reward',
      'mean_reward',
      'min_reward',
      'num_tokens',
    ]);
    expect(rmMetric?.type === 'metric' && rmMetric.metrics.num_tokens).toBe(rmMetric?.type === 'metric' && rmMetric.tokens);

    const evaluated = await runTrainer({
      task: 'eval',
      config: { ...tinyConfig({ train, steps: 2 }), task: 'rm' },
      runDir: rmDir,
      python: SYSTEM_PYTHON,
    });
    expect(evaluated.start?.command).toBe('eval');
    expect(evaluated.done.step).toBe(2);
    expect(evaluated.eval?.pairs).toBe(16);
    const all = checkEventsFile(rmDir);
    expect(all.slice(-3).map((event) => event.type)).toEqual(['start', 'eval', 'done']);
  });

  it('trains on pairs in our own export format: TRL standard and conversational rows with provenance', async () => {
    const dir = temporaryDirectory();
    const provenance = (id: string, margin: number) => ({
      id,
      chosen_id: 'c1',
      rejected_id: 'c2',
      score_chosen: 3 + margin,
      score_rejected: 3,
      margin,
      confidence: 0.8,
      panel_hash: 'sha256:0123abcd',
    });
    const rows = [
      { prompt: 'Is the sky blue?', chosen: ' Yes, on a clear day.', rejected: ' No.', ...provenance('sky', 4) },
      {
        prompt: [
          { role: 'system', content: 'Answer briefly.' },
          { role: 'user', content: 'Name a prime number.' },
        ],
        chosen: [{ role: 'assistant', content: '7 is prime.' }],
        rejected: [{ role: 'assistant', content: '8.' }],
        ...provenance('prime', 2.5),
      },
      {
        prompt: [{ role: 'user', content: 'Say hello in French.' }],
        chosen: [{ role: 'assistant', content: 'Bonjour !' }],
        rejected: [{ role: 'assistant', content: 'Hello.' }],
        ...provenance('hello', 1),
      },
    ];
    for (const row of rows) PreferencePairSchema.parse(row);
    const pairs = writeJsonl(path.join(dir, 'pairs.jsonl'), rows);

    for (const task of ['rm', 'dpo'] as const) {
      const result = await runTrainer({
        task,
        config: tinyConfig({ train: pairs, eval: pairs, steps: 2, training: { batch_size: 2 } }),
        runDir: path.join(dir, task),
        python: SYSTEM_PYTHON,
      });
      expect(result.status).toBe('completed');
      expect(result.start?.command !== 'eval' && result.start?.data).toMatchObject({ train_pairs: 3, eval_pairs: 3 });
      expect(result.eval?.pairs).toBe(3);
    }
  });
});
