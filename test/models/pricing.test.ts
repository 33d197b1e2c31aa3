import { describe, expect, it } from 'vitest';
import { costOf, DEFAULT_PRICING, lookupPricing } from '../../src/models/pricing.js';

describe('pricing', () => {
  it('finds exact names and dated snapshots, never a longer sibling', () => {
    expect(lookupPricing('openai:gpt-4.1')).toEqual({ inputPerMillion: 2, outputPerMillion: 8 });
    expect(lookupPricing('openai:gpt-4.1-mini')).toEqual({ inputPerMillion: 0.4, outputPerMillion: 1.6 });
    expect(lookupPricing('openai:gpt-4o-mini-2024-07-18')).toEqual(DEFAULT_PRICING['openai:gpt-4o-mini']);
    expect(lookupPricing('anthropic:claude-sonnet-4-5-20250929')).toEqual({ inputPerMillion: 3, outputPerMillion: 15 });
    expect(lookupPricing('anthropic:claude-3-7-sonnet-latest')).toEqual({ inputPerMillion: 3, outputPerMillion: 15 });
    expect(lookupPricing('openai:gpt-4.1-turbo')).toBeUndefined();
  });

  it('reports unknown models as undefined, costing 0', () => {
    expect(lookupPricing('openai:my-finetune')).toBeUndefined();
    expect(lookupPricing('local:/m/tiny.gguf')).toBeUndefined();
    expect(costOf(undefined, { inputTokens: 1e6, outputTokens: 1e6 })).toBe(0);
  });

  it('consults overrides first and can skip the built-in table', () => {
    const overrides = { 'openai:gpt-4.1': { inputPerMillion: 1, outputPerMillion: 1 } };
    expect(lookupPricing('openai:gpt-4.1-2025-04-14', { overrides })).toEqual({ inputPerMillion: 1, outputPerMillion: 1 });
    expect(lookupPricing('openai:gpt-4.1-mini', { builtIn: false })).toBeUndefined();
  });

  it('computes USD from tokens', () => {
    expect(costOf({ inputPerMillion: 3, outputPerMillion: 15 }, { inputTokens: 2_000, outputTokens: 1_000 })).toBeCloseTo(
      0.021,
      12,
    );
  });
});
