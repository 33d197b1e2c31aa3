import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { costOf } from '../../src/models/pricing.js';
import { createCriticModel, type ReliabilityOptions } from '../../src/models/reliable-model.js';
import type { CriticModel } from '../../src/models/types.js';
import { PROVIDER_HARNESSES, type ProviderFixture, recordingSleep } from './provider-harness.js';

const schema = z
  .object({
    rationale: z.string().min(1),
    score: z.number().min(1).max(10),
    confidence: z.number().min(0).max(1),
  })
  .strict();
const valid = JSON.stringify({ rationale: 'Clear and correct.', score: 8, confidence: 0.75 });
const messages = [new SystemMessage('You are a careful critic.'), new HumanMessage('Assess candidate A.')];

describe.each(PROVIDER_HARNESSES)('provider contract: $name', (harness) => {
  let fixture: ProviderFixture | undefined;
  afterEach(async () => {
    await fixture?.close();
    fixture = undefined;
  });

  async function setup(options: ReliabilityOptions = {}) {
    fixture = await harness.start({ pricing: { inputPerMillion: 2, outputPerMillion: 8 } });
    const recorder = recordingSleep();
    const model: CriticModel = createCriticModel({
      id: fixture.id,
      adapter: fixture.adapter,
      maxRetries: 2,
      baseBackoffMs: 100,
      sleep: recorder.sleep,
      ...options,
    });
    return { fixture, model, delays: recorder.delays };
  }

  it('parses structured output, streams tokens and counts usage and cost', async () => {
    const { fixture, model } = await setup();
    fixture.reply(valid, { inputTokens: 120, outputTokens: 30 });
    const tokens: string[] = [];
    const outcome = await model.structured({
      messages,
      schema,
      schemaName: 'assessment',
      temperature: 0.2,
      maxTokens: 300,
      onToken: (token) => tokens.push(token),
    });
    expect(outcome.success).toBe(true);
    if (!outcome.success) return;
    expect(outcome.value).toEqual({ rationale: 'Clear and correct.', score: 8, confidence: 0.75 });
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.join('')).toBe(valid);
    expect(outcome.text).toBe(valid);
    expect(outcome.attempts).toBe(1);
    expect(outcome.usage).toMatchObject({ inputTokens: 120, outputTokens: 30, calls: 1 });
    expect(outcome.usage.costUsd).toBeCloseTo(costOf(model.pricing, { inputTokens: 120, outputTokens: 30 }), 12);
    expect(fixture.requestCount()).toBe(1);
  });

  it('repairs invalid JSON once, feeding the problem back', async () => {
    const { fixture, model } = await setup();
    fixture.reply('Sure! Here is my assessment: score eight.', { inputTokens: 10, outputTokens: 5 });
    fixture.reply(valid, { inputTokens: 20, outputTokens: 6 });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(outcome.attempts).toBe(2);
    expect(outcome.usage).toMatchObject({ inputTokens: 30, outputTokens: 11, calls: 2 });
    expect(fixture.requestText(1)).toContain('Your reply was not valid');
    expect(fixture.requestText(1)).toContain('score eight');
  });

  it('fails with OUTPUT_INVALID when the repair is invalid too', async () => {
    const { fixture, model } = await setup();
    fixture.reply('{"rationale": "", "score": 42}');
    fixture.reply('{"rationale": "still bad", "score": 42, "confidence": 2}');
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('OUTPUT_INVALID');
    expect(outcome.error.message).toMatch(/score/);
    expect(outcome.attempts).toBe(2);
    expect(fixture.requestCount()).toBe(2);
  });

  it('honours retry-after on 429', async () => {
    const { fixture, model, delays } = await setup();
    fixture.fail(429, { retryAfter: '3' });
    fixture.reply(valid);
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(delays).toEqual([3000]);
    expect(outcome.attempts).toBe(2);
    expect(fixture.requestCount()).toBe(2);
  });

  it('retries 5xx with exponential backoff', async () => {
    const { fixture, model, delays } = await setup();
    fixture.fail(500);
    fixture.fail(503);
    fixture.reply(valid);
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(delays).toEqual([100, 200]);
    expect(outcome.attempts).toBe(3);
  });

  it('gives up with PROVIDER_FAILED after the last retry', async () => {
    const { fixture, model, delays } = await setup();
    fixture.fail(500);
    fixture.fail(502);
    fixture.fail(500);
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('PROVIDER_FAILED');
    expect(outcome.error.message).toMatch(/after 3 attempts/);
    expect(outcome.attempts).toBe(3);
    expect(outcome.usage.calls).toBe(3);
    expect(delays).toEqual([100, 200]);
    expect(fixture.requestCount()).toBe(3);
  });

  it('does not retry 401 and never shows the key', async () => {
    const { fixture, model, delays } = await setup();
    fixture.fail(401);
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('MODEL_CREDENTIALS_MISSING');
    expect(delays).toEqual([]);
    expect(fixture.requestCount()).toBe(1);
    if (fixture.apiKey) {
      expect(outcome.error.message).not.toContain(fixture.apiKey);
      expect(String((outcome.error.cause as Error | undefined)?.message)).not.toContain(fixture.apiKey);
      expect(String((outcome.error.cause as Error | undefined)?.stack)).not.toContain(fixture.apiKey);
    }
  });

  it('times out a call that never answers', async () => {
    const { fixture, model } = await setup({ timeoutMs: 150, maxRetries: 0 });
    fixture.hang();
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('TIMEOUT');
    expect(outcome.error.message).toContain('sent nothing within 150 ms (total timeout, TRIBUNAL_TIMEOUT_MS)');
  });

  it('cancels through the AbortSignal', async () => {
    const { fixture, model } = await setup();
    const controller = new AbortController();
    fixture.hang(() => controller.abort(new Error('user pressed Ctrl-C')));
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment', signal: controller.signal });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('ABORTED');
    expect(fixture.requestCount()).toBe(1);
  });
});
