import { describe, expect, it } from 'vitest';
import { costOf, DEFAULT_PRICING, lookupPricing, priceOf, pricingTable } from '../../src/models/pricing.js';

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

  it('matches prefix keys ending in *, the longest first, after exact names and snapshots', () => {
    const overrides = {
      'local:*': { inputPerMillion: 0, outputPerMillion: 0 },
      'openai:*': { inputPerMillion: 1, outputPerMillion: 2 },
      'openai:qwen-*': { inputPerMillion: 3, outputPerMillion: 4 },
      'openai:qwen-7b': { inputPerMillion: 5, outputPerMillion: 6 },
    };
    expect(lookupPricing('local:/m/tiny.gguf', { overrides })).toEqual({ inputPerMillion: 0, outputPerMillion: 0 });
    expect(lookupPricing('openai:qwen-7b', { overrides })).toEqual({ inputPerMillion: 5, outputPerMillion: 6 });
    expect(lookupPricing('openai:qwen-72b', { overrides })).toEqual({ inputPerMillion: 3, outputPerMillion: 4 });
    expect(lookupPricing('openai:llama', { overrides })).toEqual({ inputPerMillion: 1, outputPerMillion: 2 });
    // An override prefix beats a built-in exact price: the user priced the whole server.
    expect(lookupPricing('openai:gpt-4.1', { overrides })).toEqual({ inputPerMillion: 1, outputPerMillion: 2 });
    expect(lookupPricing('anthropic:claude-x', { overrides })).toBeUndefined();
    // Fake models call nothing.
    expect(lookupPricing('fake:judge?latencyMs=5')).toEqual({ inputPerMillion: 0, outputPerMillion: 0 });
  });

  it('gives OpenAI list prices only at the official endpoint; overrides everywhere', () => {
    expect(priceOf('openai:gpt-4.1-mini')).toEqual({ inputPerMillion: 0.4, outputPerMillion: 1.6 });
    expect(priceOf('openai:gpt-4.1-mini', { openaiBaseUrl: 'https://api.openai.com/v1' })).toBeDefined();
    expect(priceOf('openai:gpt-4.1-mini', { openaiBaseUrl: 'http://localhost:8000/v1' })).toBeUndefined();
    const overrides = pricingTable({ 'openai:gpt-4.1-mini': { input: 0.1, output: 0.2 } });
    expect(priceOf('openai:gpt-4.1-mini', { overrides, openaiBaseUrl: 'http://localhost:8000/v1' })).toEqual({
      inputPerMillion: 0.1,
      outputPerMillion: 0.2,
    });
    expect(priceOf('anthropic:claude-haiku-4-5', { openaiBaseUrl: 'http://localhost:8000/v1' })).toEqual({
      inputPerMillion: 1,
      outputPerMillion: 5,
    });
    expect(priceOf('local:/m/tiny.gguf')).toBeUndefined();
  });
});
