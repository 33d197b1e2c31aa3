import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import { type RunLoopOptions, runLoop } from '../../src/loop/index.js';
import { createModelRegistry, loadSettings } from '../../src/models/index.js';
import { HH, tempDir } from '../runner/fixtures.js';
import { MARKER, writePrompts } from './planted.js';

/*
 * The loop's other paths, small and on CPU: policy_0 is a trained checkpoint (the trainer then starts from it and takes
 * the reference from it), the reference moves with the policy (--reference previous), agreement with human pairs
 * (--gold, real HH-RLHF pairs), and the refusals: an API model as the policy, a changed setting on resume.
 */

async function small(overrides: Partial<RunLoopOptions> & Pick<RunLoopOptions, 'prompts' | 'outDir' | 'policy'>) {
  const models = createModelRegistry({ settings: loadSettings() });
  try {
    return await runLoop({
      iterations: 1,
      n: 3,
      heldOut: 3,
      evalSamples: 2,
      maxTokens: 12,
      seed: 5,
      panel: await loadPanel({}),
      models,
      defaultModel: `fake:judge?prefer=${MARKER}`,
      modelOverride: `fake:judge?prefer=${MARKER}`,
      train: { epochs: 1, gpus: 0, batchSize: 4 },
      worker: { device: 'cpu' },
      ...overrides,
    });
  } finally {
    await models.close();
  }
}

describe('tribunal loop options', () => {
  it('starts from a trained checkpoint, with the reference moving along (--reference previous) and --gold', async () => {
    const dir = tempDir('tribunal-loop-options-');
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), 12);
    const first = await small({ prompts, outDir: path.join(dir, 'first'), policy: 'tiny?seed=5' });
    expect(first.status).toBe('done');
    const trained = path.join(dir, 'first', 'iter-0', 'train');

    const second = await small({
      prompts,
      outDir: path.join(dir, 'second'),
      policy: `checkpoint:${trained}`,
      iterations: 2,
      reference: 'previous',
      gold: HH,
      goldMaxPairs: 16,
    });
    expect(second.status).toBe('done');
    const config = (iteration: number) =>
      JSON.parse(readFileSync(path.join(dir, 'second', `iter-${iteration}`, 'train', 'config.json'), 'utf8')) as {
        init_checkpoint?: string;
        ref_checkpoint?: string;
      };
    // iteration 0 starts from the given checkpoint and (reference previous) takes its reference from it too
    expect(config(0).init_checkpoint).toMatch(new RegExp(`^${trained.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/checkpoints/step-`));
    expect(config(0).ref_checkpoint).toBe(config(0).init_checkpoint);
    // iteration 1 starts from iteration 0's checkpoint, and so does its reference
    expect(config(1).init_checkpoint).toMatch(/second\/iter-0\/train\/checkpoints\/step-/);
    expect(config(1).ref_checkpoint).toBe(config(1).init_checkpoint);
    for (const row of second.report.iterations) {
      expect(row.goldAgreement).not.toBeNull();
      expect(row.goldAgreement as number).toBeGreaterThanOrEqual(0);
      expect(row.goldAgreement as number).toBeLessThanOrEqual(1);
      expect(row.kl).not.toBeNull();
    }
    expect(existsSync(path.join(dir, 'second', 'iter-1', 'gold', 'events.jsonl'))).toBe(true);
    expect(second.report.reference).toBe('previous');
  }, 300_000);

  it("halts at --max-calls with the label stage unfinished; stop rules are the rerun's: a rule stops, a rerun without it goes on", async () => {
    const dir = tempDir('tribunal-loop-budget-');
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), 8);
    const outDir = path.join(dir, 'loop');
    const capped = await small({ prompts, outDir, policy: 'tiny?seed=2', maxCalls: 20 });
    expect(capped.status).toBe('halted');
    expect(capped.halted).toMatchObject({ iteration: 0, stage: 'label', reason: 'max-calls' });
    const state = JSON.parse(readFileSync(path.join(outDir, 'loop.json'), 'utf8')) as { completed: string[] };
    expect(state.completed).toEqual(['split', 'initial', 'iter-0/generate']);
    // a stop rule fires after iteration 0 (any KL above 0)...
    const stopped = await small({ prompts, outDir, policy: 'tiny?seed=2', iterations: 2, stopRules: { maxKl: 0 } });
    expect(stopped.status).toBe('stopped');
    expect(stopped.report.iterations).toHaveLength(1);
    expect(stopped.report.stoppedBy?.rule).toBe('max-kl');
    // ...and the same rule stops a rerun at once, while a rerun without it goes on to iteration 1
    const again = await small({ prompts, outDir, policy: 'tiny?seed=2', iterations: 2, stopRules: { maxKl: 0 } });
    expect(again.status).toBe('stopped');
    const rest = await small({ prompts, outDir, policy: 'tiny?seed=2', iterations: 2 });
    expect(rest.status).toBe('done');
    expect(rest.report.iterations).toHaveLength(2);
    expect(rest.report.iterations[0]?.stopRule).toBeNull();
  }, 180_000);

  it('refuses an API model as the policy and a resumed loop whose settings changed', async () => {
    const dir = tempDir('tribunal-loop-refusals-');
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), 6);
    await expect(small({ prompts, outDir: path.join(dir, 'api'), policy: 'openai:gpt-4o-mini' })).rejects.toThrow(
      /the loop trains its policy, so it must be tiny, tiny\?seed=N or checkpoint:DIR/,
    );
    const outDir = path.join(dir, 'loop');
    // the settings are checked before any stage runs: a first call that is interrupted at once still records them
    const controller = new AbortController();
    controller.abort();
    const interrupted = await small({ prompts, outDir, policy: 'tiny', signal: controller.signal });
    expect(interrupted.status).toBe('interrupted');
    await expect(small({ prompts, outDir, policy: 'tiny', n: 4, maxTokens: 10 })).rejects.toThrow(
      /holds a loop started with other settings \(maxTokens, n changed\)/,
    );
  }, 120_000);
});
