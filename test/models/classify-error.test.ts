import { HumanMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createFakeAdapter } from '../../src/models/fake-provider.js';
import { classifyError, createCriticModel, parseStructured } from '../../src/models/reliable-model.js';

const httpError = (status: number, headers: Record<string, string> = {}, message = `HTTP ${status}`) =>
  Object.assign(new Error(message), { status, headers: new Headers(headers) });

describe('classifyError', () => {
  it('retries 429 and reads retry-after in seconds, as a date, or retry-after-ms', () => {
    expect(classifyError(httpError(429, { 'retry-after': '7' }), 'm')).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
      retryAfterMs: 7000,
    });
    expect(classifyError(httpError(429, { 'retry-after-ms': '250', 'retry-after': '9' }), 'm').retryAfterMs).toBe(250);
    const later = new Date(Date.now() + 60_000).toUTCString();
    const fromDate = classifyError(httpError(429, { 'retry-after': later }), 'm').retryAfterMs ?? 0;
    expect(fromDate).toBeGreaterThan(0);
    expect(fromDate).toBeLessThanOrEqual(60_000);
    expect(classifyError(httpError(429), 'm').retryAfterMs).toBeUndefined();
    expect(classifyError({ status: 429, headers: { 'retry-after': '2' } }, 'm').retryAfterMs).toBe(2000);
  });

  it('retries server errors, 408 and 409, but not client errors', () => {
    for (const status of [500, 502, 503, 529, 408, 409]) expect(classifyError(httpError(status), 'm').retryable).toBe(true);
    expect(classifyError(httpError(400), 'm')).toMatchObject({ code: 'PROVIDER_FAILED', retryable: false });
    expect(classifyError(httpError(422), 'm').retryable).toBe(false);
  });

  it('maps 401/403 to credentials and 404 to not found, without retrying', () => {
    expect(classifyError(httpError(401), 'm')).toMatchObject({ code: 'MODEL_CREDENTIALS_MISSING', retryable: false });
    expect(classifyError(httpError(403), 'm')).toMatchObject({ code: 'MODEL_CREDENTIALS_MISSING', retryable: false });
    expect(classifyError(httpError(404), 'm')).toMatchObject({ code: 'MODEL_NOT_FOUND', retryable: false });
  });

  it('treats connection failures as unreachable and timeouts as retryable', () => {
    expect(classifyError(new Error('connect ECONNREFUSED 127.0.0.1:1'), 'm')).toMatchObject({
      code: 'MODEL_UNREACHABLE',
      retryable: true,
    });
    expect(classifyError(Object.assign(new Error('Connection error.'), { name: 'APIConnectionError' }), 'm').code).toBe(
      'MODEL_UNREACHABLE',
    );
    expect(classifyError(new Error('Request timed out.'), 'm')).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(classifyError(new Error('whatever'), 'm', 5000)).toMatchObject({
      code: 'TIMEOUT',
      message: 'm did not answer within 5000 ms',
    });
  });

  it('does not retry unknown errors', () => {
    expect(classifyError(new Error('bug'), 'm')).toMatchObject({ code: 'PROVIDER_FAILED', retryable: false });
    expect(classifyError('a string', 'm').retryable).toBe(false);
  });

  it('redacts key-shaped strings from the messages it builds', () => {
    const failure = classifyError(httpError(500, {}, 'upstream said: bad key sk-proj-abcdefghijklmnop'), 'm');
    expect(failure.message).not.toContain('sk-proj-abcdefghijklmnop');
    expect(failure.message).toContain('[redacted]');
  });
});

describe('classifyError: errors inside a stream (no HTTP status)', () => {
  /** The SDKs' APIError for an error event after a 200: no status, the provider's body in `error`, its type copied. */
  const openAIStreamError = (type: string, message: string, code: string | null = null) =>
    Object.assign(new Error(message), { status: undefined, error: { message, type, param: null, code }, type, code });
  const anthropicStreamError = (type: string, message: string) =>
    Object.assign(new Error(JSON.stringify({ type: 'error', error: { type, message } })), {
      status: undefined,
      error: { type: 'error', error: { type, message } },
      type,
    });

  it('retries overloads, server errors and rate limits, with the provider message and no raw JSON', () => {
    for (const error of [
      anthropicStreamError('overloaded_error', 'Overloaded'),
      anthropicStreamError('api_error', 'Internal server error'),
      openAIStreamError('server_error', 'The server had an error'),
    ]) {
      const failure = classifyError(error, 'm');
      expect(failure).toMatchObject({ code: 'PROVIDER_FAILED', retryable: true });
      expect(failure.message).toMatch(/in the stream\): (Overloaded|Internal server error|The server had an error)$/);
      expect(failure.message).not.toContain('{');
    }
    expect(classifyError(anthropicStreamError('rate_limit_error', 'slow down'), 'm')).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
    });
    expect(classifyError(openAIStreamError('tokens', 'slow', 'rate_limit_exceeded'), 'm')).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
    });
  });

  it('does not retry invalid requests, credentials, permissions, missing models or an exhausted quota', () => {
    expect(classifyError(anthropicStreamError('invalid_request_error', 'bad'), 'm')).toMatchObject({ retryable: false });
    expect(classifyError(anthropicStreamError('authentication_error', 'no'), 'm')).toMatchObject({
      code: 'MODEL_CREDENTIALS_MISSING',
      retryable: false,
    });
    expect(classifyError(anthropicStreamError('permission_error', 'no'), 'm').retryable).toBe(false);
    expect(classifyError(anthropicStreamError('not_found_error', 'no'), 'm').code).toBe('MODEL_NOT_FOUND');
    const quota = Object.assign(openAIStreamError('insufficient_quota', 'You exceeded your current quota'), { status: 429 });
    expect(classifyError(quota, 'm')).toMatchObject({ retryable: false });
    expect(classifyError(quota, 'm').message).toContain('quota');
  });

  it('names the rejected request feature of a 400 and what to change', () => {
    const rejected = (message: string) => classifyError(Object.assign(httpError(400, {}, message), { error: { message } }), 'm');
    expect(rejected("Invalid schema for response_format 'x': strict").message).toMatch(/json_schema.*local:/);
    expect(rejected('output_config.format is not supported').message).toContain('output_config.format');
    expect(rejected("Unsupported parameter: 'max_tokens'").message).toContain('maxTokens');
    expect(rejected("Unsupported value: 'temperature' does not support 0.2").message).toContain('temperature');
    expect(rejected('prompt is too long: 250000 tokens > 200000 maximum').message).toContain('context window');
    expect(rejected('something else').message).toContain('nothing will change on retry');
  });
});

describe('parseStructured', () => {
  const schema = z.object({ score: z.number() });
  it('accepts code fences and prose around the object', () => {
    expect(parseStructured('```json\n{"score": 2}\n```', schema)).toEqual({ success: true, value: { score: 2 } });
    expect(parseStructured('Here you go: {"score": 3} hope it helps', schema)).toEqual({ success: true, value: { score: 3 } });
  });
  it('says what is wrong', () => {
    expect(parseStructured('nothing here', schema)).toEqual({ success: false, error: 'no JSON object found in the reply' });
    const invalid = parseStructured('{"score": "high"}', schema);
    expect(invalid.success).toBe(false);
    if (!invalid.success) expect(invalid.error).toMatch(/^score: /);
  });
});

describe('reliability wrapper', () => {
  it('reports ABORTED when cancelled while waiting to retry', async () => {
    const controller = new AbortController();
    const adapter = createFakeAdapter({ script: () => httpError(503) });
    const model = createCriticModel({
      id: 'fake:x',
      adapter,
      sleep: async (_ms, signal) => {
        controller.abort();
        signal?.throwIfAborted();
      },
    });
    const outcome = await model.structured({
      messages: [new HumanMessage('hi')],
      schema: z.object({ score: z.number() }),
      schemaName: 's',
      signal: controller.signal,
    });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.code).toBe('ABORTED');
    expect(outcome.attempts).toBe(1);
  });

  it('caps retry-after at maxBackoffMs', async () => {
    const delays: number[] = [];
    let calls = 0;
    const adapter = createFakeAdapter({
      script: () => (calls++ === 0 ? httpError(429, { 'retry-after': '600' }) : '{"score":1}'),
    });
    const model = createCriticModel({
      id: 'fake:x',
      adapter,
      maxBackoffMs: 30_000,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const outcome = await model.structured({
      messages: [new HumanMessage('hi')],
      schema: z.object({ score: z.number() }),
      schemaName: 's',
    });
    expect(outcome.success).toBe(true);
    expect(delays).toEqual([30_000]);
  });
});
