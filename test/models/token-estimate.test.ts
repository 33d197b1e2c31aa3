import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { addUsage, ZERO_USAGE } from '../../src/contracts/index.js';
import {
  completionUsage,
  createModelRegistry,
  estimateMessageTokens,
  estimateTokens,
  TOKENS_PER_MESSAGE,
} from '../../src/models/index.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';

const PRICE = { inputPerMillion: 2, outputPerMillion: 8 };

describe('estimateTokens', () => {
  it('counts 4 ASCII characters a token and one token per other character', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('x'.repeat(4000))).toBe(1000);
    expect(estimateTokens('日本語')).toBe(3);
    // An emoji is one character of two UTF-16 units.
    expect(estimateTokens('🙂🙂')).toBe(2);
    expect(estimateTokens('café au lait')).toBe(Math.ceil(11 / 4) + 1);
  });

  it('adds the chat template overhead per message', () => {
    const messages = [new SystemMessage('x'.repeat(40)), new HumanMessage('y'.repeat(8))];
    expect(estimateMessageTokens(messages)).toBe(10 + 2 + 2 * TOKENS_PER_MESSAGE);
  });
});

describe('completionUsage', () => {
  const messages = [new HumanMessage('z'.repeat(400))];

  it('keeps reported counts and prices them', () => {
    const usage = completionUsage({
      completion: { text: '{"a":1}', inputTokens: 1000, outputTokens: 10 },
      messages,
      pricing: PRICE,
      calls: 2,
    });
    expect(usage).toEqual({ inputTokens: 1000, outputTokens: 10, calls: 2, costUsd: (1000 * 2 + 10 * 8) / 1e6 });
  });

  it('estimates the sides the server did not report and marks the call as estimated', () => {
    const none = completionUsage({
      completion: { text: 'w'.repeat(40), inputTokens: 0, outputTokens: 0 },
      messages,
      pricing: PRICE,
      calls: 1,
    });
    expect(none).toEqual({
      inputTokens: 100 + TOKENS_PER_MESSAGE,
      outputTokens: 10,
      calls: 1,
      costUsd: ((100 + TOKENS_PER_MESSAGE) * 2 + 10 * 8) / 1e6,
      estimatedCalls: 1,
    });
    const outputOnly = completionUsage({
      completion: { text: 'w'.repeat(40), inputTokens: 7, outputTokens: 0 },
      messages,
      pricing: PRICE,
      calls: 1,
    });
    expect(outputOnly).toMatchObject({ inputTokens: 7, outputTokens: 10, estimatedCalls: 1 });
    // An empty reply with a reported input really produced no output.
    const empty = completionUsage({
      completion: { text: '', inputTokens: 7, outputTokens: 0 },
      messages,
      pricing: undefined,
      calls: 1,
    });
    expect(empty).toEqual({ inputTokens: 7, outputTokens: 0, calls: 1, costUsd: 0 });
  });

  it('sums estimated calls and leaves the field out when there are none', () => {
    const reported = { inputTokens: 1, outputTokens: 1, calls: 1, costUsd: 0 };
    expect(addUsage(ZERO_USAGE, reported)).not.toHaveProperty('estimatedCalls');
    const estimated = { ...reported, estimatedCalls: 1 };
    expect(addUsage(addUsage(estimated, reported), estimated)).toMatchObject({ calls: 3, estimatedCalls: 2 });
  });
});

describe('a call to a server that reports no usage (real OpenAI SDK, local wire server)', () => {
  it('counts estimated tokens at the given price, and the reported ones when the server sends them', async () => {
    const server = await startOpenAIWireServer();
    const text = JSON.stringify({ verdict: 'fine', score: 7 });
    server.enqueue({ text, omitUsage: true }, { text, inputTokens: 321, outputTokens: 12 });
    const registry = createModelRegistry({
      settings: { openaiBaseUrl: server.baseURL },
      pricing: { 'openai:served-model': PRICE },
    });
    try {
      const model = await registry.resolve('openai:served-model');
      const messages = [new SystemMessage('You judge answers.'), new HumanMessage('Judge this answer: 42. Reply in JSON.')];
      const request = { messages, schema: z.object({ verdict: z.string(), score: z.number() }), schemaName: 'verdict' };
      const estimated = await model.structured(request);
      expect(estimated.success).toBe(true);
      const input =
        estimateTokens('You judge answers.') + estimateTokens('Judge this answer: 42. Reply in JSON.') + 2 * TOKENS_PER_MESSAGE;
      expect(estimated.usage).toEqual({
        inputTokens: input,
        outputTokens: estimateTokens(text),
        calls: 1,
        costUsd: (input * 2 + estimateTokens(text) * 8) / 1e6,
        estimatedCalls: 1,
      });
      const reported = await model.structured(request);
      expect(reported.usage).toEqual({ inputTokens: 321, outputTokens: 12, calls: 1, costUsd: (321 * 2 + 12 * 8) / 1e6 });
    } finally {
      await registry.close();
      await server.close();
    }
  });
});
