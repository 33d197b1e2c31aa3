import { AIMessageChunk, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAnthropicAdapter, readAnthropicEvent } from '../../src/models/anthropic-provider.js';
import { createOpenAIAdapter } from '../../src/models/openai-provider.js';
import { createCriticModel, type ReliabilityOptions } from '../../src/models/reliable-model.js';
import { collectStream, emptyStreamFacts } from '../../src/models/stream-completion.js';
import { startAnthropicWireServer } from '../fakes/anthropic-wire-server.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest, WireServer } from '../fakes/scripted-wire-server.js';
import { recordingSleep } from './provider-harness.js';

/**
 * How each provider ends a stream, through the real SDKs against local servers that speak the wire formats: errors
 * inside the stream, stop reasons (truncation, refusal, content filter), empty replies, streams cut before their end
 * event, idle versus total timeouts, and 400s that name the rejected feature.
 */

const schema = z.object({ rationale: z.string().min(1), score: z.number().min(1).max(5) }).strict();
const valid = '{"rationale":"Fine.","score":4}';
const messages = [new SystemMessage('Be strict.'), new HumanMessage('Assess this.')];

interface Provider {
  name: string;
  id: string;
  start: () => Promise<WireServer & { baseURL: string }>;
  adapter: (baseURL: string) => ReturnType<typeof createOpenAIAdapter>;
  /** The provider's stop reason for a reply cut at the token limit. */
  truncated: string;
  /** The provider's error types for a transient overload and an invalid request sent inside a stream. */
  overloaded: string;
  invalidRequest: string;
  /** The token limit the request carried. */
  maxTokensOf: (request: RecordedRequest | undefined) => unknown;
}

const PROVIDERS: Provider[] = [
  {
    name: 'openai',
    id: 'openai:gpt-4.1-mini',
    start: startOpenAIWireServer,
    adapter: (baseURL) => createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: 'sk-test-openai-0123456789', baseURL }),
    truncated: 'length',
    overloaded: 'server_error',
    invalidRequest: 'invalid_request_error',
    maxTokensOf: (request) => request?.body?.max_tokens ?? request?.body?.max_completion_tokens,
  },
  {
    name: 'anthropic',
    id: 'anthropic:claude-sonnet-4-5',
    start: startAnthropicWireServer,
    adapter: (baseURL) => createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: 'sk-ant-test-0123456789', baseURL }),
    truncated: 'max_tokens',
    overloaded: 'overloaded_error',
    invalidRequest: 'invalid_request_error',
    maxTokensOf: (request) => request?.body?.max_tokens,
  },
];

describe.each(PROVIDERS)('$name: how a stream ends', (provider) => {
  let server: WireServer & { baseURL: string };
  beforeEach(async () => {
    server = await provider.start();
  });
  afterEach(async () => {
    await server.close();
  });

  const model = async (options: ReliabilityOptions = {}) =>
    createCriticModel({ id: provider.id, adapter: await provider.adapter(server.baseURL), ...options });
  const requestText = (index: number) => JSON.stringify(server.requests[index]?.body?.messages ?? '');

  it('retries a transient error sent inside the stream, with backoff, and succeeds', async () => {
    const recorder = recordingSleep();
    const critic = await model({ baseBackoffMs: 250, sleep: recorder.sleep });
    server.enqueue(
      { text: valid, chunks: 2, streamError: { type: provider.overloaded, message: 'Overloaded' } },
      { text: valid },
    );
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(outcome.attempts).toBe(2);
    expect(recorder.delays).toEqual([250]);
    expect(server.requests).toHaveLength(2);
    // The same request again, not a repair.
    expect(requestText(1)).toBe(requestText(0));
  });

  it('retries an in-stream rate limit and fails an in-stream invalid request at once, with a clean message', async () => {
    const recorder = recordingSleep();
    const critic = await model({ sleep: recorder.sleep });
    server.enqueue(
      { text: '', streamError: { type: 'rate_limit_error', message: 'Slow down' } },
      { text: '', streamError: { type: provider.invalidRequest, message: 'messages: text content blocks must be non-empty' } },
    );
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(server.requests).toHaveLength(2);
    expect(outcome.error.code).toBe('PROVIDER_FAILED');
    expect(outcome.error.message).toContain(`${provider.invalidRequest} in the stream`);
    expect(outcome.error.message).toContain('text content blocks must be non-empty');
    expect(outcome.error.message).not.toMatch(/\{"/);
  });

  it('asks again with twice the token limit when the reply was cut at the limit, without a repair prompt', async () => {
    const critic = await model();
    server.enqueue({ text: '{"rationale":"Fine, becau', stopReason: provider.truncated }, { text: valid });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment', maxTokens: 300 });
    expect(outcome.success).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(provider.maxTokensOf(server.requests[0])).toBe(300);
    expect(provider.maxTokensOf(server.requests[1])).toBe(600);
    expect(requestText(1)).toBe(requestText(0));
    expect(outcome.usage.calls).toBe(2);
  });

  it('fails with "raise maxTokens" when the larger limit is cut too, naming the stop reason', async () => {
    const critic = await model({ maxTokensCap: 500 });
    // A reasoning model can spend the whole budget thinking: no text at all.
    server.enqueue({ text: '', stopReason: provider.truncated }, { text: '{"rationale":"Fi', stopReason: provider.truncated });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment', maxTokens: 300 });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(server.requests).toHaveLength(2);
    expect(provider.maxTokensOf(server.requests[1])).toBe(500);
    expect(outcome.error.code).toBe('OUTPUT_INVALID');
    expect(outcome.error.message).toContain(`stop reason ${provider.truncated}`);
    expect(outcome.error.message).toContain('maxTokens 500 (raised from 300');
    expect(outcome.error.message).toContain('raise maxTokens');
    expect(outcome.stopReason).toBe(provider.truncated);
    expect(requestText(1)).not.toContain('not valid');
  });

  it('does not raise a limit already at the cap', async () => {
    const critic = await model({ maxTokensCap: 300 });
    server.enqueue({ text: '{"rationale":"Fi', stopReason: provider.truncated });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment', maxTokens: 300 });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.message).toMatch(/maxTokens 300 .*raise maxTokens/);
    expect(server.requests).toHaveLength(1);
  });

  it('sends an empty reply again as a new request, never an empty assistant message', async () => {
    const recorder = recordingSleep();
    const critic = await model({ sleep: recorder.sleep });
    server.enqueue({ text: '' }, { text: valid });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(requestText(1)).toBe(requestText(0));
    expect(outcome.usage.calls).toBe(2);
  });

  it('fails an always-empty model after its retries, saying the reply was empty', async () => {
    const critic = await model({ maxRetries: 1, sleep: recordingSleep().sleep });
    server.enqueue({ text: '' }, { text: '  ' });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.message).toMatch(/returned an empty reply .*after 2 attempts/);
    expect(server.requests).toHaveLength(2);
  });

  it.each(['close', 'drop'] as const)('retries a stream cut before its end event (%s), not a repair', async (cut) => {
    const recorder = recordingSleep();
    const critic = await model({ sleep: recorder.sleep });
    server.enqueue({ text: valid, chunks: 4, cut }, { text: valid });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(requestText(1)).toBe(requestText(0));
  });

  it('names a cut stream in the failure when every attempt is cut', async () => {
    const critic = await model({ maxRetries: 0 });
    server.enqueue({ text: '{"rationale":"Fine.","score":4}', cut: 'close' });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('MODEL_UNREACHABLE');
    expect(outcome.error.message).toMatch(/stream ended without (a finish_reason|message_stop)/);
  });

  it('keeps a slow stream that is still sending alive (idle timeout reset by every chunk)', async () => {
    const critic = await model({ idleTimeoutMs: 1500, timeoutMs: 60_000, maxRetries: 0 });
    server.enqueue({ text: valid, chunks: 8, frameDelayMs: 40 });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it('stops a stream that went quiet on the idle timeout, and says so', async () => {
    const critic = await model({ idleTimeoutMs: 150, timeoutMs: 60_000, maxRetries: 0 });
    server.enqueue({ text: valid, chunks: 6, stallAfterChunks: 2 });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('TIMEOUT');
    expect(outcome.error.message).toMatch(
      /stopped sending for 150 ms after \d+ chunks \(idle timeout, TRIBUNAL_IDLE_TIMEOUT_MS\)/,
    );
  });

  it('names the time to first token when nothing came at all', async () => {
    const critic = await model({ idleTimeoutMs: 150, timeoutMs: 60_000, maxRetries: 0 });
    server.enqueue({ hang: true });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.message).toMatch(/sent nothing within 150 ms \(time to first token/);
  });

  it('stops a stream still sending at the total deadline, and says which deadline fired', async () => {
    const critic = await model({ idleTimeoutMs: 60_000, timeoutMs: 200, maxRetries: 0 });
    server.enqueue({ text: valid, chunks: 30, frameDelayMs: 25 });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('TIMEOUT');
    expect(outcome.error.message).toMatch(/still answering after 200 ms \(total timeout, TRIBUNAL_TIMEOUT_MS\)/);
  });

  it('says which request feature a 400 rejected and what to change, without retrying', async () => {
    const critic = await model();
    const complaint =
      provider.name === 'openai'
        ? "Invalid schema for response_format 'assessment': In context=(), 'additionalProperties' is required to be supplied and to be false."
        : 'output_config.format: this model does not support structured outputs';
    server.enqueue({ status: 400, message: complaint });
    const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(server.requests).toHaveLength(1);
    expect(outcome.error.code).toBe('PROVIDER_FAILED');
    expect(outcome.error.message).toContain('rejected the request (HTTP 400)');
    expect(outcome.error.message).toContain(provider.name === 'openai' ? 'json_schema' : 'output_config.format');
    expect(outcome.error.message).toMatch(/use a model/);
    expect(outcome.error.message).toContain(complaint);
    expect(outcome.error.message).not.toMatch(/\{"/);
  });
});

describe('refusals are recorded as refusals, never repaired', () => {
  it('anthropic: stop_reason refusal ends the call as REFUSED with what the model said', async () => {
    const server = await startAnthropicWireServer();
    try {
      const adapter = await createAnthropicAdapter({
        model: 'claude-sonnet-4-5',
        apiKey: 'sk-ant-test-0123456789',
        baseURL: server.baseURL,
      });
      const critic = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter });
      server.enqueue({ text: 'I cannot assess this content.', stopReason: 'refusal' });
      const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
      expect(outcome.success).toBe(false);
      if (outcome.success) return;
      expect(server.requests).toHaveLength(1);
      expect(outcome.error.code).toBe('REFUSED');
      expect(outcome.error.message).toContain('stop reason refusal');
      expect(outcome.stopReason).toBe('refusal');
      expect(outcome.refusal).toBe('I cannot assess this content.');
    } finally {
      await server.close();
    }
  });

  it('openai: delta.refusal is read (LangChain drops it) and recorded as REFUSED', async () => {
    const server = await startOpenAIWireServer();
    try {
      const adapter = await createOpenAIAdapter({
        model: 'gpt-4.1-mini',
        apiKey: 'sk-test-openai-0123456789',
        baseURL: server.baseURL,
      });
      const critic = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
      server.enqueue({ text: '', refusal: "I'm sorry, I can't help with that request." });
      const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
      expect(outcome.success).toBe(false);
      if (outcome.success) return;
      expect(server.requests).toHaveLength(1);
      expect(outcome.error.code).toBe('REFUSED');
      expect(outcome.refusal).toBe("I'm sorry, I can't help with that request.");
      expect(outcome.error.message).toContain("I'm sorry, I can't help with that request.");
    } finally {
      await server.close();
    }
  });

  it('openai: finish_reason content_filter is a refusal, not invalid JSON', async () => {
    const server = await startOpenAIWireServer();
    try {
      const adapter = await createOpenAIAdapter({
        model: 'gpt-4.1-mini',
        apiKey: 'sk-test-openai-0123456789',
        baseURL: server.baseURL,
      });
      const critic = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
      server.enqueue({ text: '{"rationale":"The answ', stopReason: 'content_filter' });
      const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
      expect(outcome.success).toBe(false);
      if (outcome.success) return;
      expect(server.requests).toHaveLength(1);
      expect(outcome.error.code).toBe('REFUSED');
      expect(outcome.error.message).toContain('stop reason content_filter');
      expect(outcome.stopReason).toBe('content_filter');
    } finally {
      await server.close();
    }
  });
});

describe('collectStream', () => {
  const chunks = async function* () {
    yield new AIMessageChunk({ content: '{"a":1}' });
  };
  const facts = (value = emptyStreamFacts()) => ({ value, stopKind: () => 'complete' as const, endEvent: 'the end', id: 'x:y' });

  it('fails a stream whose raw events never reached the end event', async () => {
    const value = emptyStreamFacts();
    value.observed = true;
    await expect(collectStream({ start: async () => chunks(), secrets: [], facts: facts(value) })).rejects.toMatchObject({
      code: 'MODEL_UNREACHABLE',
    });
  });

  it('trusts LangChain alone when no raw event was seen (a path the tap does not cover)', async () => {
    await expect(collectStream({ start: async () => chunks(), secrets: [], facts: facts() })).resolves.toEqual({
      text: '{"a":1}',
      inputTokens: 0,
      outputTokens: 0,
    });
  });
});

describe('usage', () => {
  it('anthropic: input tokens count cache writes and reads, each restated value winning', () => {
    const facts = emptyStreamFacts();
    const input = { input: 0, cacheCreation: 0, cacheRead: 0 };
    readAnthropicEvent(
      facts,
      { type: 'message_start', message: { usage: { input_tokens: 10, cache_read_input_tokens: 1000, output_tokens: 1 } } },
      input,
    );
    expect(facts).toMatchObject({ inputTokens: 1010, outputTokens: 1, ended: false });
    readAnthropicEvent(
      facts,
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 50, output_tokens: 9 } },
      input,
    );
    expect(facts).toMatchObject({ inputTokens: 1050, outputTokens: 9, stopReason: 'end_turn' });
    readAnthropicEvent(facts, { type: 'message_stop' }, input);
    expect(facts.ended).toBe(true);
  });

  it("anthropic: the cumulative input_tokens restated in message_delta wins over message_start's", async () => {
    const server = await startAnthropicWireServer();
    try {
      const adapter = await createAnthropicAdapter({
        model: 'claude-haiku-4-5',
        apiKey: 'sk-ant-test-0123456789',
        baseURL: server.baseURL,
      });
      const critic = createCriticModel({ id: 'anthropic:claude-haiku-4-5', adapter });
      server.enqueue({ text: valid, inputTokens: 1234, finalInputTokens: 2000, outputTokens: 300 });
      const outcome = await critic.structured({ messages, schema, schemaName: 'assessment' });
      expect(outcome.usage).toMatchObject({ inputTokens: 2000, outputTokens: 300, calls: 1 });
      expect(outcome.usage.costUsd).toBeCloseTo((2000 * 1 + 300 * 5) / 1e6, 12);
    } finally {
      await server.close();
    }
  });
});
