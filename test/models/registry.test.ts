import { HumanMessage } from '@langchain/core/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TribunalError } from '../../src/contracts/index.js';
import { createFakeAdapter } from '../../src/models/fake-provider.js';
import { loadLocalAdapter } from '../../src/models/local-loader.js';
import { createModelRegistry } from '../../src/models/registry.js';
import type { Settings } from '../../src/models/settings.js';
import type { ProviderAdapter, RawCompletion } from '../../src/models/types.js';
import { startAnthropicWireServer } from '../fakes/anthropic-wire-server.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { WireServer } from '../fakes/scripted-wire-server.js';
import { recordingSleep } from './provider-harness.js';

const schema = z.object({ score: z.number() });
const messages = [new HumanMessage('Score it.')];
const reply = '{"score":3}';

/** An adapter whose calls wait until the test releases them, to observe concurrency without timers. */
function gatedAdapter(log: { active: number; peak: number; started: number }): ProviderAdapter & { release(): void } {
  const waiting: Array<() => void> = [];
  const fake = createFakeAdapter({ script: () => reply });
  return {
    provider: 'gated',
    chat: fake.chat,
    release: () => {
      for (const next of waiting.splice(0)) next();
    },
    async complete(): Promise<RawCompletion> {
      log.active++;
      log.started++;
      log.peak = Math.max(log.peak, log.active);
      await new Promise<void>((resolve) => waiting.push(resolve));
      log.active--;
      return { text: reply, inputTokens: 1, outputTokens: 1 };
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe('model registry', () => {
  const servers: WireServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('resolves openai: and anthropic: ids with credentials from settings, one model per id', async () => {
    const openai = await startOpenAIWireServer();
    const anthropic = await startAnthropicWireServer();
    servers.push(openai, anthropic);
    const settings: Settings = {
      openaiApiKey: 'sk-test-registry-openai',
      openaiBaseUrl: openai.baseURL,
      anthropicApiKey: 'sk-ant-test-registry',
      anthropicBaseUrl: anthropic.baseURL,
    };
    const registry = createModelRegistry({ settings });
    const first = await registry.resolve('openai:gpt-4.1-mini');
    expect(await registry.resolve('openai:gpt-4.1-mini')).toBe(first);
    openai.enqueue({ text: reply });
    expect((await first.structured({ messages, schema, schemaName: 's' })).success).toBe(true);
    const claude = await registry.resolve('anthropic:claude-sonnet-4-5');
    expect(claude.provider).toBe('anthropic');
    anthropic.enqueue({ text: reply });
    expect((await claude.structured({ messages, schema, schemaName: 's' })).success).toBe(true);
    expect(openai.requests[0]?.headers.authorization).toBe('Bearer sk-test-registry-openai');
    expect(anthropic.requests[0]?.headers['x-api-key']).toBe('sk-ant-test-registry');
    await registry.close();
  });

  it('reports missing credentials naming the variables, and does not cache the failure', async () => {
    const settings: Settings = {};
    const registry = createModelRegistry({ settings });
    const openai = await registry.resolve('openai:gpt-4.1-mini').catch((error: unknown) => error);
    expect(openai).toMatchObject({ code: 'MODEL_CREDENTIALS_MISSING' });
    expect((openai as Error).message).toMatch(/OPENAI_API_KEY/);
    const anthropic = await registry.resolve('anthropic:claude-sonnet-4-5').catch((error: unknown) => error);
    expect(anthropic).toMatchObject({ code: 'MODEL_CREDENTIALS_MISSING' });
    expect((anthropic as Error).message).toMatch(/ANTHROPIC_API_KEY/);
    settings.openaiApiKey = 'sk-test-now-set';
    await expect(registry.resolve('openai:gpt-4.1-mini')).resolves.toMatchObject({ id: 'openai:gpt-4.1-mini' });
  });

  it('rejects unknown providers and empty model names', async () => {
    const registry = createModelRegistry({ settings: {} });
    const error = await registry.resolve('mystery:model').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect((error as TribunalError).code).toBe('MODEL_NOT_FOUND');
    for (const provider of ['openai', 'anthropic', 'local', 'fake'])
      expect((error as Error).message).toContain(`"${provider}:..."`);
    await expect(registry.resolve('openai:')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('shares one limiter per provider across its models', async () => {
    const log = { active: 0, peak: 0, started: 0 };
    const adapters: Array<ReturnType<typeof gatedAdapter>> = [];
    const registry = createModelRegistry({
      settings: {},
      adapters: {
        gated: () => {
          const adapter = gatedAdapter(log);
          adapters.push(adapter);
          return adapter;
        },
      },
      providers: { gated: { concurrency: 1 } },
    });
    const [a, b] = await Promise.all([registry.resolve('gated:a'), registry.resolve('gated:b')]);
    const calls = [a, b, a].map((model) => model?.structured({ messages, schema, schemaName: 's' }));
    for (let round = 1; round <= 3; round++) {
      await until(() => log.started === round);
      for (const adapter of adapters) adapter.release();
    }
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((outcome) => outcome?.success)).toBe(true);
    expect(log.peak).toBe(1);
  });

  it('takes retries from the environment settings unless the provider overrides them', async () => {
    const failing = () => createFakeAdapter({ script: () => Object.assign(new Error('boom'), { status: 500 }) });
    const recorder = recordingSleep();
    const registry = createModelRegistry({
      settings: { maxRetries: 1 },
      reliability: { sleep: recorder.sleep, baseBackoffMs: 5 },
      adapters: { env: failing, own: failing },
      providers: { own: { maxRetries: 3 } },
    });
    const fromEnv = await (await registry.resolve('env:x')).structured({ messages, schema, schemaName: 's' });
    expect(fromEnv.attempts).toBe(2);
    const own = await (await registry.resolve('own:x')).structured({ messages, schema, schemaName: 's' });
    expect(own.attempts).toBe(4);
    expect(recorder.delays).toEqual([5, 5, 10, 20]);
  });

  it('applies price overrides', async () => {
    const openai = await startOpenAIWireServer();
    servers.push(openai);
    const registry = createModelRegistry({
      settings: { openaiBaseUrl: openai.baseURL },
      pricing: { 'openai:served-model': { inputPerMillion: 1, outputPerMillion: 2 } },
    });
    const model = await registry.resolve('openai:served-model');
    expect(model.pricing).toEqual({ inputPerMillion: 1, outputPerMillion: 2 });
    openai.enqueue({ text: reply, inputTokens: 1_000_000, outputTokens: 500_000 });
    const outcome = await model.structured({ messages, schema, schemaName: 's' });
    expect(outcome.usage.costUsd).toBeCloseTo(2, 9);
  });

  it('prices every provider from overrides and prefixes, then the adapter, then the built-in table', async () => {
    const registry = createModelRegistry({
      settings: {},
      adapters: {
        own: () => ({ ...createFakeAdapter({ script: () => reply }), pricing: { inputPerMillion: 7, outputPerMillion: 7 } }),
        bare: () => createFakeAdapter({ script: () => reply }),
      },
      pricing: {
        'bare:*': { inputPerMillion: 3, outputPerMillion: 4 },
        'own:special': { inputPerMillion: 1, outputPerMillion: 1 },
      },
    });
    expect((await registry.resolve('bare:/models/any.gguf')).pricing).toEqual({ inputPerMillion: 3, outputPerMillion: 4 });
    expect((await registry.resolve('own:special')).pricing).toEqual({ inputPerMillion: 1, outputPerMillion: 1 });
    expect((await registry.resolve('own:other')).pricing).toEqual({ inputPerMillion: 7, outputPerMillion: 7 });
    expect((await registry.resolve('fake:judge')).pricing).toEqual({ inputPerMillion: 0, outputPerMillion: 0 });
    await registry.close();
  });

  it('still resolves fake:judge', async () => {
    const registry = createModelRegistry({ settings: {} });
    const model = await registry.resolve('fake:judge');
    const outcome = await model.structured({
      messages,
      schema: z.object({ rationale: z.string(), principles: z.array(z.string()), score: z.number(), confidence: z.number() }),
      schemaName: 's',
    });
    expect(outcome.success).toBe(true);
  });
});

describe('local adapter loading', () => {
  it('names the problem when the local module cannot be loaded', async () => {
    const error = await loadLocalAdapter({
      spec: 'hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M',
      importModule: () => Promise.reject(new Error("Cannot find module './local/index.js'")),
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'PROVIDER_FAILED' });
    expect((error as Error).message).toMatch(/src\/models\/local/);
    expect((error as Error).message).toMatch(/node-llama-cpp/);
    expect((error as Error).message).toMatch(/Cannot find module/);
  });

  it('rejects a module without createLocalAdapter', async () => {
    await expect(loadLocalAdapter({ spec: 'x.gguf', importModule: async () => ({}) })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });

  it('passes the spec to createLocalAdapter', async () => {
    const specs: string[] = [];
    const adapter = await loadLocalAdapter({
      spec: '/models/tiny.gguf',
      importModule: async () => ({
        createLocalAdapter: async (spec: string) => {
          specs.push(spec);
          return createFakeAdapter({ script: () => reply });
        },
      }),
    });
    expect(specs).toEqual(['/models/tiny.gguf']);
    expect(adapter.provider).toBe('fake');
  });

  it('passes TRIBUNAL_IDLE_TIMEOUT_MS from the settings to the wrapper', async () => {
    const registry = createModelRegistry({
      settings: { idleTimeoutMs: 100, timeoutMs: 60_000, maxRetries: 0 } as Settings,
      adapters: { slow: () => createFakeAdapter({ script: () => ({ text: reply, latencyMs: 60_000 }) }) },
    });
    const model = await registry.resolve('slow:x');
    const outcome = await model.structured({ messages, schema, schemaName: 's' });
    expect(outcome.success).toBe(false);
    if (!outcome.success) expect(outcome.error.message).toContain('sent nothing within 100 ms (time to first token');
    await registry.close();
  });
});
