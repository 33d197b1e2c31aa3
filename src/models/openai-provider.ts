import type { BaseMessage } from '@langchain/core/messages';
import type { ChatOpenAI } from '@langchain/openai';
import { TribunalError } from '../contracts/index.js';
import { chatModelVariants } from './chat-variants.js';
import { isOfficialOpenAIEndpoint, lookupPricing, type PricingTable } from './pricing.js';
import { toProviderJsonSchema } from './provider-json-schema.js';
import { RawStreamTap } from './raw-stream-tap.js';
import { appendRefusal, collectStream, emptyStreamFacts, type StreamFacts } from './stream-completion.js';
import type { ModelPricing, ProviderAdapter, RawCallOptions, RawCompletion, StopKind } from './types.js';

/** The official endpoint, used when no base URL is configured (as the OpenAI SDK does). */
export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** Sent as the key to OpenAI-compatible servers that need none (vLLM, Ollama, llama.cpp, LM Studio); the SDK insists on one. */
export const OPENAI_PLACEHOLDER_KEY = 'sk-no-key-required';

/** How to reach an OpenAI or OpenAI-compatible chat completions endpoint. */
export interface OpenAIAdapterOptions {
  /** The model name as the server knows it: `gpt-4.1-mini`, or whatever a vLLM/Ollama server serves. */
  model: string;
  /** OPENAI_API_KEY; optional when `baseURL` points at a server that needs no key. */
  apiKey?: string | undefined;
  /** OPENAI_BASE_URL, e.g. `http://localhost:8000/v1`; defaults to the official endpoint. */
  baseURL?: string | undefined;
  /** Price overrides keyed by `openai:<model>`; models at the official endpoint fall back to the built-in table. */
  pricing?: PricingTable | undefined;
}

/**
 * Creates the adapter for `openai:NAME`: OpenAI itself or any OpenAI-compatible server through `baseURL`.
 *
 * Design choice: `chat` and `complete()` both use the ChatOpenAI instance that `initChatModel("openai:NAME")`
 * builds (taken out of its ConfigurableModel wrapper, which would create and cache a new ChatOpenAI and SDK
 * client for every distinct call config, e.g. every LangGraph thread). `complete()` streams it on the chat
 * completions path with per-call options: `response_format` json_schema, `stream_options.include_usage` and the
 * AbortSignal, through `_streamIterator` (see `collectStream` for why not `.stream()`). We deliberately do not drive the `openai` SDK client ourselves: it is not a declared
 * dependency, and the LangChain model already streams, reports usage as `usage_metadata`, and rethrows the
 * SDK's errors with `status` and `headers` intact (which the wrapper's retry logic reads). Retries are off in
 * LangChain and the SDK (`maxRetries: 0`): the wrapper retries. Temperature and max tokens are constructor
 * fields in LangChain, so each distinct pair gets its own cached variant.
 * @example
 * const adapter = await createOpenAIAdapter({ model: 'gpt-4.1-mini', apiKey: settings.openaiApiKey });
 */
export async function createOpenAIAdapter(options: OpenAIAdapterOptions): Promise<ProviderAdapter> {
  const { model } = options;
  if (!options.apiKey && !options.baseURL) {
    throw new TribunalError(
      'MODEL_CREDENTIALS_MISSING',
      `openai:${model} needs credentials: set OPENAI_API_KEY, or set OPENAI_BASE_URL to an OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio) that needs no key`,
    );
  }
  const apiKey = options.apiKey ?? OPENAI_PLACEHOLDER_KEY;
  const baseURL = options.baseURL ?? OPENAI_DEFAULT_BASE_URL;
  const secrets = options.apiKey ? [options.apiKey] : [];
  // A compatible server may serve a model under an OpenAI name; only the official endpoint gets list prices.
  const pricing: ModelPricing | undefined = lookupPricing(`openai:${model}`, {
    overrides: options.pricing,
    builtIn: isOfficialOpenAIEndpoint(baseURL),
  });

  // LangChain's delta conversion drops `delta.refusal`; the tap reads the SDK's raw chunks (see readOpenAIChunk).
  const tap = new RawStreamTap();
  const { base, variant } = await chatModelVariants<ChatOpenAI>({
    id: `openai:${model}`,
    fields: { apiKey, configuration: { baseURL }, maxRetries: 0, streamUsage: true },
    temperature: (requested) => (requested !== undefined && acceptsTemperature(model) ? requested : undefined),
    // `completions` (the chat completions half of ChatOpenAI, which opens the SDK stream) is protected in its type.
    prepare: (chat) => tap.install((chat as unknown as { completions: object }).completions, 'completionWithRetry'),
  });

  return {
    provider: 'openai',
    chat: base,
    pricing,
    async complete(messages: BaseMessage[], call: RawCallOptions): Promise<RawCompletion> {
      const { schema, strict } = toProviderJsonSchema(call.jsonSchema, 'openai');
      const facts = emptyStreamFacts();
      return tap.observe(
        call.signal,
        (chunk) => readOpenAIChunk(facts, chunk),
        () =>
          collectStream({
            secrets,
            onToken: call.onToken,
            onChunk: call.onChunk,
            facts: { value: facts, stopKind: openAIStopKind, endEvent: 'a finish_reason', id: `openai:${model}` },
            start: async () =>
              (await variant(call))._streamIterator(messages, {
                signal: call.signal,
                response_format: {
                  type: 'json_schema',
                  json_schema: { name: schemaNameFor(call.schemaName), schema, strict },
                },
                stream_options: { include_usage: true },
              }),
          }),
      );
    },
  };
}

/**
 * The health probe of an OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, SGLang, OpenAI itself):
 * `GET {baseURL}/models`, which every one of them serves. Resolves when it answers 2xx; rejects with the status or the
 * connection error otherwise (the key never appears in the error).
 * @example
 * await probeOpenAIEndpoint({ baseURL: 'http://gpu1:8000/v1', signal: AbortSignal.timeout(5000) });
 */
export async function probeOpenAIEndpoint(options: {
  baseURL: string;
  apiKey?: string | undefined;
  signal: AbortSignal;
}): Promise<void> {
  const response = await fetch(`${options.baseURL.replace(/\/+$/, '')}/models`, {
    headers: { authorization: `Bearer ${options.apiKey ?? OPENAI_PLACEHOLDER_KEY}` },
    signal: options.signal,
  });
  // Only the status matters; the body (a model list) is not read.
  await response.body?.cancel().catch(() => undefined);
  if (!response.ok) throw new Error(`GET /models answered HTTP ${response.status}`);
}

/**
 * Reads one raw chat completions chunk: `finish_reason` (the stream's end), `delta.refusal`, and the usage chunk. The
 * SDK consumes `[DONE]` without a trace, so a finish_reason (or the usage chunk after it) is what shows the end came.
 */
export function readOpenAIChunk(facts: StreamFacts, chunk: unknown): void {
  const data = chunk as {
    choices?: Array<{ delta?: { refusal?: unknown }; finish_reason?: unknown }>;
    usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  };
  facts.observed = true;
  const choice = data.choices?.[0];
  if (typeof choice?.delta?.refusal === 'string') appendRefusal(facts, choice.delta.refusal);
  if (typeof choice?.finish_reason === 'string') {
    facts.ended = true;
    facts.stopReason = choice.finish_reason;
  }
  // The usage chunk (no choices) comes last, after the finish_reason: it also shows that the stream reached its end.
  // (Servers that report usage on every chunk send it with choices.)
  if (data.usage && data.choices?.length === 0) facts.ended = true;
  if (typeof data.usage?.prompt_tokens === 'number') facts.inputTokens = data.usage.prompt_tokens;
  if (typeof data.usage?.completion_tokens === 'number') facts.outputTokens = data.usage.completion_tokens;
}

/** OpenAI's finish reasons: `stop`, `length`, `content_filter`, `tool_calls`, `function_call`. */
export function openAIStopKind(reason: string): StopKind {
  if (reason === 'stop') return 'complete';
  if (reason === 'length') return 'truncated';
  if (reason === 'content_filter') return 'refused';
  return 'other';
}

/** OpenAI's json_schema name must match `^[a-zA-Z0-9_-]{1,64}$`. */
function schemaNameFor(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
  return cleaned === '' ? 'output' : cleaned;
}

/** Reasoning models (o-series, gpt-5 except its chat variants) reject a temperature. */
function acceptsTemperature(model: string): boolean {
  return !/^(o\d|gpt-5)/.test(model) || /chat/.test(model);
}
