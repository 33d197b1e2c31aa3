import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TribunalError } from '../../src/contracts/index.js';
import { createAnthropicAdapter } from '../../src/models/anthropic-provider.js';
import { createCriticModel } from '../../src/models/reliable-model.js';
import { startAnthropicWireServer } from '../fakes/anthropic-wire-server.js';
import type { WireServer } from '../fakes/scripted-wire-server.js';
import { recordingSleep } from './provider-harness.js';

const KEY = 'sk-ant-api03-secret-do-not-leak-42';
const schema = z.object({ rationale: z.string().min(1), score: z.number().min(1).max(5) }).strict();
const valid = '{"rationale":"Fine.","score":4}';
const messages = [new SystemMessage('Be strict.'), new HumanMessage('Assess this.')];

describe('anthropic provider (real SDK on loopback)', () => {
  let server: WireServer & { baseURL: string };
  beforeEach(async () => {
    server = await startAnthropicWireServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('asks for native JSON outputs (output_config.format), not a forced tool', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter });
    server.enqueue({ text: valid });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment', temperature: 1.6, maxTokens: 512 });
    expect(outcome.success).toBe(true);
    const [request] = server.requests;
    expect(request?.path).toBe('/v1/messages');
    expect(request?.headers['x-api-key']).toBe(KEY);
    expect(request?.headers['anthropic-version']).toBeDefined();
    expect(request?.body).toMatchObject({
      model: 'claude-sonnet-4-5',
      stream: true,
      max_tokens: 512,
      temperature: 1,
      system: 'Be strict.',
      messages: [{ role: 'user', content: 'Assess this.' }],
      output_config: {
        format: {
          type: 'json_schema',
          schema: {
            type: 'object',
            required: ['rationale', 'score'],
            additionalProperties: false,
            properties: {
              score: { type: 'number', description: '{minimum: 1, maximum: 5}' },
              rationale: { type: 'string', description: '{minLength: 1}' },
            },
          },
        },
      },
    });
    expect(request?.body).not.toHaveProperty('tools');
    expect(request?.body).not.toHaveProperty('tool_choice');
  });

  it('counts input from message_start and the final output total from message_delta', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-haiku-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-haiku-4-5', adapter });
    server.enqueue({ text: valid, inputTokens: 2000, outputTokens: 400 });
    const tokens: string[] = [];
    const outcome = await model.structured({
      messages,
      schema,
      schemaName: 'assessment',
      onToken: (token) => tokens.push(token),
    });
    expect(outcome.usage).toMatchObject({ inputTokens: 2000, outputTokens: 400, calls: 1 });
    expect(outcome.usage.costUsd).toBeCloseTo((2000 * 1 + 400 * 5) / 1e6, 12);
    expect(model.pricing).toEqual({ inputPerMillion: 1, outputPerMillion: 5 });
    expect(tokens.join('')).toBe(valid);
  });

  it('asks in words when JSON outputs cannot express the schema (records)', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter });
    server.enqueue({ text: '{"scores":{"a":1}}' });
    const open = z.object({ scores: z.record(z.string(), z.number()) });
    const outcome = await model.structured({ messages, schema: open, schemaName: 'scores' });
    expect(outcome.success).toBe(true);
    const body = server.requests[0]?.body;
    expect(body).not.toHaveProperty('output_config');
    expect(JSON.stringify(body?.messages)).toContain('JSON Schema');
  });

  it('names ANTHROPIC_API_KEY when it is missing', async () => {
    const error = await createAnthropicAdapter({ model: 'claude-sonnet-4-5' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect((error as TribunalError).code).toBe('MODEL_CREDENTIALS_MISSING');
    expect((error as TribunalError).message).toMatch(/ANTHROPIC_API_KEY/);
  });

  it('retries 529 overloaded with backoff', async () => {
    const recorder = recordingSleep();
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter, baseBackoffMs: 250, sleep: recorder.sleep });
    server.enqueue({ status: 529, message: 'Overloaded' }, { text: valid });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(recorder.delays).toEqual([250]);
  });

  it('stops on abort mid-stream', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter });
    server.enqueue({ text: valid, chunks: 6, stallAfterChunks: 1 });
    const controller = new AbortController();
    const tokens: string[] = [];
    const outcome = await model.structured({
      messages,
      schema,
      schemaName: 'assessment',
      signal: controller.signal,
      onToken: (token) => {
        tokens.push(token);
        controller.abort();
      },
    });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.code).toBe('ABORTED');
    expect(tokens).toHaveLength(1);
  });

  it('keeps the key out of a 401 error even when the server echoes it', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'anthropic:claude-sonnet-4-5', adapter });
    server.enqueue({ status: 401, message: `invalid x-api-key ${KEY}` });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('MODEL_CREDENTIALS_MISSING');
    const cause = outcome.error.cause as Error & { error?: unknown; status?: number };
    expect(cause.status).toBe(401);
    for (const text of [outcome.error.message, outcome.error.stack, cause.message, cause.stack, JSON.stringify(cause.error)]) {
      expect(String(text)).not.toContain(KEY);
    }
  });

  it('exposes the initChatModel LangChain model as chat, with its own retries off', async () => {
    const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: KEY, baseURL: server.baseURL });
    expect(adapter.chat).toBeInstanceOf(BaseChatModel);
    expect(adapter.chat._llmType()).toBe('anthropic');
    server.enqueue({ text: 'Hello there.' });
    const message = await adapter.chat.invoke([new HumanMessage('Hi')]);
    expect(message.text).toBe('Hello there.');
    server.enqueue({ status: 500 });
    await expect(adapter.chat.invoke([new HumanMessage('Hi')])).rejects.toMatchObject({ status: 500 });
    expect(server.requests).toHaveLength(2);
  });
});
