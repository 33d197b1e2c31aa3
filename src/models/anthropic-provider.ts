import type { ChatAnthropic } from '@langchain/anthropic';
import { type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { TribunalError } from '../contracts/index.js';
import { chatModelVariants } from './chat-variants.js';
import { lookupPricing, type PricingTable } from './pricing.js';
import { toProviderJsonSchema } from './provider-json-schema.js';
import { RawStreamTap } from './raw-stream-tap.js';
import { collectStream, emptyStreamFacts, type StreamFacts } from './stream-completion.js';
import type { ProviderAdapter, RawCallOptions, RawCompletion, StopKind } from './types.js';

/** The official endpoint, used when no base URL is configured (as the Anthropic SDK does). */
export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

/** How to reach the Anthropic Messages API. */
export interface AnthropicAdapterOptions {
  /** The model name, e.g. `claude-sonnet-4-5` or a dated snapshot. */
  model: string;
  /** ANTHROPIC_API_KEY. */
  apiKey?: string | undefined;
  /** ANTHROPIC_BASE_URL; defaults to the official endpoint. */
  baseURL?: string | undefined;
  /** Price overrides keyed by `anthropic:<model>`, consulted before the built-in table. */
  pricing?: PricingTable | undefined;
}

/**
 * Creates the adapter for `anthropic:NAME`.
 *
 * Structured output uses Anthropic's native JSON outputs (`output_config.format` of type `json_schema`),
 * the same request LangChain's `withStructuredOutput(schema, { method: 'jsonSchema' })` makes, and never the
 * default forced-tool path, whose streamed `input_json_delta` chunks LangChain fails to merge
 * (langchainjs#10907). `chat` and `complete()` use the ChatAnthropic instance that `initChatModel` builds
 * (unwrapped from its ConfigurableModel, as for OpenAI); `complete()` streams it (`_streamIterator`, see `collectStream`)
 * with `outputConfig` and the AbortSignal per call and reads the raw text deltas, so `onToken` sees tokens. The
 * `@anthropic-ai/sdk` client is not a declared dependency, and LangChain rethrows its errors with `status` and
 * `headers` intact. Retries are off in LangChain and the SDK (`maxRetries: 0`): the wrapper retries.
 * Engine code calling `chat.withStructuredOutput` itself should pass `{ method: 'jsonSchema' }` for the same reason.
 * @example
 * const adapter = await createAnthropicAdapter({ model: 'claude-sonnet-4-5', apiKey: settings.anthropicApiKey });
 */
export async function createAnthropicAdapter(options: AnthropicAdapterOptions): Promise<ProviderAdapter> {
  const { model, apiKey } = options;
  if (!apiKey) {
    throw new TribunalError('MODEL_CREDENTIALS_MISSING', `anthropic:${model} needs credentials: set ANTHROPIC_API_KEY`);
  }
  const baseURL = options.baseURL ?? ANTHROPIC_DEFAULT_BASE_URL;
  const secrets = [apiKey];
  const pricing = lookupPricing(`anthropic:${model}`, { overrides: options.pricing });

  // LangChain keeps neither message_stop nor the cumulative input_tokens of message_delta; the tap reads the raw events.
  const tap = new RawStreamTap();
  const { base, variant } = await chatModelVariants<ChatAnthropic>({
    id: `anthropic:${model}`,
    fields: { apiKey, anthropicApiUrl: baseURL, maxRetries: 0, streamUsage: true },
    // Anthropic's temperature range is 0..1.
    temperature: (requested) => (requested === undefined ? undefined : Math.min(1, Math.max(0, requested))),
    prepare: (chat) => tap.install(chat, 'createStreamWithRetry'),
  });

  return {
    provider: 'anthropic',
    chat: base,
    pricing,
    async complete(messages: BaseMessage[], call: RawCallOptions): Promise<RawCompletion> {
      const { schema, strict } = toProviderJsonSchema(call.jsonSchema, 'anthropic');
      // A schema that JSON outputs cannot express (open objects, records) is asked for in words instead.
      const input = strict
        ? messages
        : [
            ...messages,
            new HumanMessage(
              `Reply with only a JSON object that matches this JSON Schema, nothing else:\n${JSON.stringify(schema)}`,
            ),
          ];
      const facts = emptyStreamFacts();
      const inputTokens: AnthropicInputTokens = { input: 0, cacheCreation: 0, cacheRead: 0 };
      return tap.observe(
        call.signal,
        (event) => readAnthropicEvent(facts, event, inputTokens),
        () =>
          collectStream({
            secrets,
            onToken: call.onToken,
            onChunk: call.onChunk,
            facts: { value: facts, stopKind: anthropicStopKind, endEvent: 'message_stop', id: `anthropic:${model}` },
            start: async () =>
              (await variant(call))._streamIterator(input, {
                signal: call.signal,
                ...(strict ? { outputConfig: { format: { type: 'json_schema' as const, schema } } } : {}),
              }),
          }),
      );
    },
  };
}

/** The parts of Anthropic's input count, kept across a stream's events (each may restate some of them). */
export interface AnthropicInputTokens {
  input: number;
  cacheCreation: number;
  cacheRead: number;
}

/**
 * Reads one raw Messages stream event: usage from `message_start`, the stop reason and the final cumulative usage from
 * `message_delta` (whose `input_tokens`, when present, restates the total and wins), and `message_stop`. Input tokens
 * count cache writes and reads too, as LangChain's usage_metadata does.
 */
export function readAnthropicEvent(facts: StreamFacts, event: unknown, input: AnthropicInputTokens): void {
  const data = event as {
    type?: unknown;
    message?: { usage?: Record<string, unknown> };
    delta?: { stop_reason?: unknown };
    usage?: Record<string, unknown>;
  };
  facts.observed = true;
  if (data.type === 'message_start') {
    readUsage(facts, data.message?.usage, input);
  } else if (data.type === 'message_delta') {
    if (typeof data.delta?.stop_reason === 'string') facts.stopReason = data.delta.stop_reason;
    readUsage(facts, data.usage, input);
  } else if (data.type === 'message_stop') {
    facts.ended = true;
  }
}

function readUsage(facts: StreamFacts, usage: Record<string, unknown> | undefined, input: AnthropicInputTokens): void {
  if (usage === undefined) return;
  let restated = false;
  if (typeof usage.input_tokens === 'number') {
    input.input = usage.input_tokens;
    restated = true;
  }
  if (typeof usage.cache_creation_input_tokens === 'number') {
    input.cacheCreation = usage.cache_creation_input_tokens;
    restated = true;
  }
  if (typeof usage.cache_read_input_tokens === 'number') {
    input.cacheRead = usage.cache_read_input_tokens;
    restated = true;
  }
  if (restated) facts.inputTokens = input.input + input.cacheCreation + input.cacheRead;
  if (typeof usage.output_tokens === 'number') facts.outputTokens = usage.output_tokens;
}

/** Anthropic's stop reasons: `end_turn`, `stop_sequence`, `max_tokens`, `model_context_window_exceeded`, `refusal`, `pause_turn`, `tool_use`. */
export function anthropicStopKind(reason: string): StopKind {
  if (reason === 'end_turn' || reason === 'stop_sequence') return 'complete';
  if (reason === 'max_tokens' || reason === 'model_context_window_exceeded') return 'truncated';
  if (reason === 'refusal') return 'refused';
  return 'other';
}
