import { createAnthropicAdapter } from '../../src/models/anthropic-provider.js';
import { createFakeAdapter } from '../../src/models/fake-provider.js';
import { createOpenAIAdapter } from '../../src/models/openai-provider.js';
import type { ModelPricing, ProviderAdapter } from '../../src/models/types.js';
import { startAnthropicWireServer } from '../fakes/anthropic-wire-server.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest, WireReply, WireServer } from '../fakes/scripted-wire-server.js';

/** A provider under test plus the means to script it; the same for the fake and for real SDKs on loopback. */
export interface ProviderFixture {
  id: string;
  adapter: ProviderAdapter;
  /** The API key the adapter was given ('' for the fake). */
  apiKey: string;
  /** Queues a successful reply. */
  reply(text: string, usage?: { inputTokens?: number; outputTokens?: number }): void;
  /** Queues an HTTP error; a 401 echoes the presented key in its message, as real providers partly do. */
  fail(status: number, options?: { retryAfter?: string; message?: string }): void;
  /** Queues a reply that never comes; `onArrive` runs when the request reaches the provider. */
  hang(onArrive?: () => void): void;
  /** How many requests reached the provider. */
  requestCount(): number;
  /** Everything the model was sent in request `index` (to look for the repair prompt). */
  requestText(index: number): string;
  close(): Promise<void>;
}

export interface ProviderHarness {
  name: string;
  start(options?: { pricing?: ModelPricing }): Promise<ProviderFixture>;
}

/** The scripted fake provider: errors are Errors carrying `status` and `headers`, like SDK errors. */
const fakeHarness: ProviderHarness = {
  name: 'fake',
  async start() {
    type Step =
      | { kind: 'reply'; text: string; inputTokens: number; outputTokens: number }
      | { kind: 'error'; error: Error }
      | {
          kind: 'hang';
          onArrive?: (() => void) | undefined;
        };
    const queue: Step[] = [];
    const adapter = createFakeAdapter({
      script: () => {
        const step = queue.shift();
        if (!step) return undefined;
        if (step.kind === 'error') return step.error;
        if (step.kind === 'hang') {
          step.onArrive?.();
          return { text: '', latencyMs: 3_600_000 };
        }
        return { text: step.text, inputTokens: step.inputTokens, outputTokens: step.outputTokens };
      },
    });
    return {
      id: 'fake:contract',
      adapter,
      apiKey: '',
      reply(text, usage = {}) {
        queue.push({ kind: 'reply', text, inputTokens: usage.inputTokens ?? 11, outputTokens: usage.outputTokens ?? 7 });
      },
      fail(status, options = {}) {
        const headers = new Headers(options.retryAfter === undefined ? {} : { 'retry-after': options.retryAfter });
        queue.push({
          kind: 'error',
          error: Object.assign(new Error(options.message ?? `${status} scripted failure`), { status, headers }),
        });
      },
      hang(onArrive) {
        queue.push({ kind: 'hang', onArrive });
      },
      requestCount: () => adapter.chat.calls.length,
      requestText: (index) => adapter.chat.calls[index]?.user ?? '',
      async close() {},
    };
  },
};

function wireFixture(
  server: WireServer,
  base: { id: string; adapter: ProviderAdapter; apiKey: string },
  keyOf: (request: RecordedRequest) => string,
): ProviderFixture {
  const queue: Array<WireReply & { onArrive?: () => void }> = [];
  server.setScript((request) => {
    const step = queue.shift();
    if (!step) return undefined;
    if ('hang' in step) step.onArrive?.();
    if ('status' in step && step.status === 401 && step.message === undefined) {
      return { ...step, message: `Incorrect API key provided: ${keyOf(request)}. You can find your API key in your account.` };
    }
    return step;
  });
  return {
    ...base,
    reply(text, usage = {}) {
      queue.push({ text, ...usage });
    },
    fail(status, options = {}) {
      queue.push({
        status,
        ...(options.message === undefined ? {} : { message: options.message }),
        ...(options.retryAfter === undefined ? {} : { headers: { 'retry-after': options.retryAfter } }),
      });
    },
    hang(onArrive) {
      queue.push({ hang: true, ...(onArrive ? { onArrive } : {}) });
    },
    requestCount: () => server.requests.length,
    requestText: (index) => JSON.stringify(server.requests[index]?.body?.messages ?? ''),
    close: () => server.close(),
  };
}

/** OpenAI's real SDK (through LangChain) against a loopback chat completions server. */
const openAIHarness: ProviderHarness = {
  name: 'openai',
  async start(options = {}) {
    const server = await startOpenAIWireServer();
    const apiKey = 'sk-test-openai-0123456789abcdef';
    const adapter = await createOpenAIAdapter({
      model: 'gpt-4.1-mini',
      apiKey,
      baseURL: server.baseURL,
      ...(options.pricing ? { pricing: { 'openai:gpt-4.1-mini': options.pricing } } : {}),
    });
    return wireFixture(server, { id: 'openai:gpt-4.1-mini', adapter, apiKey }, (request) =>
      String(request.headers.authorization ?? '').replace(/^Bearer /, ''),
    );
  },
};

/** Anthropic's real SDK (through LangChain) against a loopback Messages server. */
const anthropicHarness: ProviderHarness = {
  name: 'anthropic',
  async start(options = {}) {
    const server = await startAnthropicWireServer();
    const apiKey = 'sk-ant-test-0123456789abcdef';
    const adapter = await createAnthropicAdapter({
      model: 'claude-sonnet-4-5',
      apiKey,
      baseURL: server.baseURL,
      ...(options.pricing ? { pricing: { 'anthropic:claude-sonnet-4-5': options.pricing } } : {}),
    });
    return wireFixture(server, { id: 'anthropic:claude-sonnet-4-5', adapter, apiKey }, (request) =>
      String(request.headers['x-api-key'] ?? ''),
    );
  },
};

export const PROVIDER_HARNESSES: ProviderHarness[] = [fakeHarness, openAIHarness, anthropicHarness];

/** A sleep that records the delays the wrapper asks for and returns at once. */
export function recordingSleep(): { sleep: (ms: number, signal?: AbortSignal) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      delays.push(ms);
    },
  };
}
