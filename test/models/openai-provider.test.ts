import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TribunalError } from '../../src/contracts/index.js';
import { createOpenAIAdapter, OPENAI_PLACEHOLDER_KEY } from '../../src/models/openai-provider.js';
import { createCriticModel } from '../../src/models/reliable-model.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { WireServer } from '../fakes/scripted-wire-server.js';
import { recordingSleep } from './provider-harness.js';

const KEY = 'sk-proj-secret-key-do-not-leak-42';
const schema = z.object({ rationale: z.string().min(1), score: z.number().min(1).max(5) }).strict();
const valid = '{"rationale":"Fine.","score":4}';
const messages = [new SystemMessage('Be strict.'), new HumanMessage('Assess this.')];

describe('openai provider (real SDK on loopback)', () => {
  let server: WireServer & { baseURL: string };
  beforeEach(async () => {
    server = await startOpenAIWireServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('sends a streamed chat completion with a strict json_schema response_format and usage requested', async () => {
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
    server.enqueue({ text: valid });
    const outcome = await model.structured({
      messages,
      schema,
      schemaName: 'critic assessment',
      temperature: 0.4,
      maxTokens: 256,
    });
    expect(outcome.success).toBe(true);
    const [request] = server.requests;
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.body).toMatchObject({
      model: 'gpt-4.1-mini',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.4,
      max_tokens: 256,
      messages: [
        { role: 'system', content: 'Be strict.' },
        { role: 'user', content: 'Assess this.' },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'critic_assessment',
          strict: true,
          schema: {
            type: 'object',
            required: ['rationale', 'score'],
            additionalProperties: false,
            properties: {
              score: { type: 'number', minimum: 1, maximum: 5 },
              rationale: { type: 'string', description: '{minLength: 1}' },
            },
          },
        },
      },
    });
    expect(JSON.stringify(request?.body)).not.toContain('$schema');
    expect(request?.body).not.toHaveProperty('tools');
  });

  it('falls back to strict: false for schemas OpenAI cannot enforce strictly (optional fields)', async () => {
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
    server.enqueue({ text: '{"score":3}' });
    const optional = z.object({ score: z.number(), note: z.string().optional() });
    const outcome = await model.structured({ messages, schema: optional, schemaName: 'loose' });
    expect(outcome.success).toBe(true);
    const format = server.requests[0]?.body?.response_format as {
      json_schema: { strict: boolean; schema: { required: string[] } };
    };
    expect(format.json_schema.strict).toBe(false);
    expect(format.json_schema.schema.required).toEqual(['score']);
  });

  it('omits temperature for reasoning models', async () => {
    const adapter = await createOpenAIAdapter({ model: 'o4-mini', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'openai:o4-mini', adapter });
    server.enqueue({ text: valid });
    await model.structured({ messages, schema, schemaName: 'assessment', temperature: 0.7 });
    expect(server.requests[0]?.body).not.toHaveProperty('temperature');
  });

  it('talks to a keyless OpenAI-compatible server through the base URL alone, at unknown cost', async () => {
    const adapter = await createOpenAIAdapter({ model: 'qwen2.5-7b-instruct', baseURL: server.baseURL });
    expect(adapter.pricing).toBeUndefined();
    const model = createCriticModel({ id: 'openai:qwen2.5-7b-instruct', adapter });
    server.enqueue({ text: valid, inputTokens: 1000, outputTokens: 100 });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(true);
    expect(outcome.usage).toMatchObject({ inputTokens: 1000, outputTokens: 100, costUsd: 0 });
    expect(model.pricing).toBeUndefined();
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${OPENAI_PLACEHOLDER_KEY}`);
  });

  it('prices official models from the table and compatible servers only from overrides', async () => {
    const official = await createOpenAIAdapter({ model: 'gpt-4.1-mini-2025-04-14', apiKey: KEY });
    expect(official.pricing).toEqual({ inputPerMillion: 0.4, outputPerMillion: 1.6 });
    const compatible = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    expect(compatible.pricing).toBeUndefined();
    const overridden = await createOpenAIAdapter({
      model: 'llama3',
      baseURL: server.baseURL,
      pricing: { 'openai:llama3': { inputPerMillion: 0.01, outputPerMillion: 0.02 } },
    });
    expect(overridden.pricing).toEqual({ inputPerMillion: 0.01, outputPerMillion: 0.02 });
  });

  it('names OPENAI_API_KEY and OPENAI_BASE_URL when neither is set', async () => {
    const error = await createOpenAIAdapter({ model: 'gpt-4.1-mini' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect((error as TribunalError).code).toBe('MODEL_CREDENTIALS_MISSING');
    expect((error as TribunalError).message).toMatch(/OPENAI_API_KEY/);
    expect((error as TribunalError).message).toMatch(/OPENAI_BASE_URL/);
  });

  it('streams tokens as they arrive and stops on abort mid-stream', async () => {
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
    server.enqueue({ text: valid, chunks: 6, stallAfterChunks: 2 });
    const controller = new AbortController();
    const tokens: string[] = [];
    const outcome = await model.structured({
      messages,
      schema,
      schemaName: 'assessment',
      signal: controller.signal,
      onToken: (token) => {
        tokens.push(token);
        if (tokens.length === 2) controller.abort();
      },
    });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.code).toBe('ABORTED');
    expect(tokens).toHaveLength(2);
  });

  it('keeps the key out of a 401 error even when the server echoes it', async () => {
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    const model = createCriticModel({ id: 'openai:gpt-4.1-mini', adapter });
    server.enqueue({ status: 401, message: `Incorrect API key provided: ${KEY}.` });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.error.code).toBe('MODEL_CREDENTIALS_MISSING');
    const cause = outcome.error.cause as Error & { error?: unknown; status?: number };
    expect(cause.status).toBe(401);
    for (const text of [outcome.error.message, outcome.error.stack, cause.message, cause.stack, JSON.stringify(cause.error)]) {
      expect(String(text)).not.toContain(KEY);
    }
    expect(cause.message).toContain('[redacted]');
  });

  it('retries a refused connection as MODEL_UNREACHABLE', async () => {
    const closed = await startOpenAIWireServer();
    await closed.close();
    const recorder = recordingSleep();
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: closed.baseURL });
    const model = createCriticModel({
      id: 'openai:gpt-4.1-mini',
      adapter,
      maxRetries: 2,
      baseBackoffMs: 10,
      sleep: recorder.sleep,
    });
    const outcome = await model.structured({ messages, schema, schemaName: 'assessment' });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.code).toBe('MODEL_UNREACHABLE');
    expect(recorder.delays).toEqual([10, 20]);
  });

  it('exposes the initChatModel LangChain model as chat, with its own retries off', async () => {
    const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: KEY, baseURL: server.baseURL });
    expect(adapter.chat).toBeInstanceOf(BaseChatModel);
    expect(adapter.chat._llmType()).toBe('openai');
    server.enqueue({ text: 'Hello there.' });
    const message = await adapter.chat.invoke([new HumanMessage('Hi')]);
    expect(message.text).toBe('Hello there.');
    server.enqueue({ status: 500 });
    await expect(adapter.chat.invoke([new HumanMessage('Hi')])).rejects.toMatchObject({ status: 500 });
    expect(server.requests).toHaveLength(2);
  });
});
