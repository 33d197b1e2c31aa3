import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import { estimateLabeling, perItemUsage } from '../../src/runner/index.js';
import { ARENA, nativeItem, tempDir, writeInput } from './fixtures.js';

describe('estimateLabeling', () => {
  it('counts items x critics x candidates x (1 + rounds) calls and prices them from the pricing table', async () => {
    const panel = await loadPanel();
    const estimate = await estimateLabeling({ input: ARENA, panel, defaultModel: 'openai:gpt-4.1-mini', limit: 5 });
    expect(estimate).toMatchObject({ items: 5, rejectedLines: 0, rejectedItems: 0, roundsPerDebate: 3, format: 'native' });
    expect(estimate.total.calls).toBe(5 * 3 * 4 * 3);
    expect(estimate.models).toHaveLength(1);
    expect(estimate.models[0]).toMatchObject({ model: 'openai:gpt-4.1-mini', priced: true });
    const { inputTokens, outputTokens, costUsd } = estimate.total;
    expect(costUsd).toBeCloseTo((inputTokens * 0.4 + outputTokens * 1.6) / 1e6, 12);
    // Arena candidates run to a few thousand characters: each turn reads several hundred tokens.
    expect(inputTokens / estimate.total.calls).toBeGreaterThan(400);
    expect(perItemUsage(estimate).calls).toBe(36);
  });

  it('knows the jury (one round), the blind vote, the chair and unpriced models; counts rejected lines', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1, 2), 'bad', nativeItem(2, 2)]);
    const jury = await loadPanel({ file: path.resolve('panels/jury.yaml') });
    const juryEstimate = await estimateLabeling({ input, panel: jury, defaultModel: 'fake:judge' });
    expect(juryEstimate).toMatchObject({ items: 2, rejectedLines: 1, roundsPerDebate: 1 });
    expect(juryEstimate.total.calls).toBe(2 * jury.critics.length * 2);
    // Fake models are priced at $0.
    expect(juryEstimate.models[0]).toMatchObject({ priced: true });
    expect(juryEstimate.total.costUsd).toBe(0);
    const unpriced = await estimateLabeling({ input, panel: jury, defaultModel: 'local:/m/tiny.gguf' });
    expect(unpriced.models[0]).toMatchObject({ model: 'local:/m/tiny.gguf', priced: false });
    expect(unpriced.total.costUsd).toBe(0);
    // The prices the run will use (here 1 and 2 USD per million tokens) price the estimate.
    const priced = await estimateLabeling({
      input,
      panel: jury,
      defaultModel: 'local:/m/tiny.gguf',
      priceOf: (id) => (id === 'local:/m/tiny.gguf' ? { inputPerMillion: 1, outputPerMillion: 2 } : undefined),
    });
    expect(priced.models[0]).toMatchObject({ priced: true });
    expect(priced.total.costUsd).toBeCloseTo((priced.total.inputTokens + 2 * priced.total.outputTokens) / 1e6, 12);

    const full = await loadPanel({ file: path.resolve('panels/full.yaml') });
    full.panel.blindFinalVote = true;
    const fullEstimate = await estimateLabeling({ input, panel: full, defaultModel: 'fake:judge' });
    expect(fullEstimate.roundsPerDebate).toBe(1 + full.panel.maxRounds + 1);
    expect(fullEstimate.total.calls).toBe(2 * (full.critics.length * 2 * fullEstimate.roundsPerDebate + 1));
  });
});
