import type { AIMessageChunk } from '@langchain/core/messages';
import { MAX_REFUSAL_CHARS, TribunalError } from '../contracts/index.js';
import { redactError } from './redact-secrets.js';
import type { RawCompletion, StopKind } from './types.js';

/**
 * What an adapter learns from the provider's raw stream events (see `RawStreamTap`): whether the end event arrived,
 * the stop reason, refusal text, and the final cumulative token counts.
 */
export interface StreamFacts {
  /**
   * Raw events were seen at all. When none were (a path the tap does not cover, such as ChatOpenAI switching a model to
   * the Responses API), nothing is known about the end, and the completion is LangChain's text and usage alone.
   */
  observed: boolean;
  /** The provider's end event arrived (OpenAI: a `finish_reason`; Anthropic: `message_stop`). */
  ended: boolean;
  stopReason?: string;
  /** Refusal text sent apart from the content (OpenAI `delta.refusal`), at most MAX_REFUSAL_CHARS. */
  refusal: string;
  /** Final cumulative counts; undefined when the provider sent none (LangChain's usage_metadata is used then). */
  inputTokens?: number;
  outputTokens?: number;
}

/** Fresh facts for one call. */
export function emptyStreamFacts(): StreamFacts {
  return { observed: false, ended: false, refusal: '' };
}

/** Appends refusal text, keeping at most MAX_REFUSAL_CHARS. */
export function appendRefusal(facts: StreamFacts, piece: string): void {
  if (facts.refusal.length < MAX_REFUSAL_CHARS) facts.refusal = (facts.refusal + piece).slice(0, MAX_REFUSAL_CHARS);
}

/**
 * Drains a LangChain chat-model stream into text and token counts, passing each text fragment to `onToken` and
 * calling `onChunk` for every chunk. With `facts` (filled by the adapter from the raw provider events while the stream
 * runs) it also reports how the call ended: the stop reason mapped by `stopKind`, refusal text, and the final
 * cumulative usage; a stream that ends without its end event (`endEvent`, for the message) is a transport failure,
 * thrown as a retryable MODEL_UNREACHABLE, never handed on as a short reply. Without facts, usage is read from
 * `usage_metadata`, the largest count seen winning. Errors are rethrown with secrets scrubbed.
 *
 * Adapters start the stream with the chat model's `_streamIterator(input, options)`, the generator that
 * `BaseChatModel.stream()` wraps: it keeps everything of a LangChain call (the callback manager, so LangSmith
 * tracing and inherited callbacks still see the run; signal checks; chunk ids and metadata) but not the wrapper
 * around it, a web ReadableStream per call plus an AsyncLocalStorage setup step, which cost more CPU than the rest of
 * the call (bench/README.md, "Model calls"). Nothing here cancels a stream early, which is all the wrapper adds.
 */
export async function collectStream(options: {
  start: () => Promise<AsyncIterable<AIMessageChunk>>;
  onToken?: ((text: string) => void) | undefined;
  onChunk?: (() => void) | undefined;
  secrets: readonly string[];
  facts?: { value: StreamFacts; stopKind: (reason: string) => StopKind; endEvent: string; id: string };
}): Promise<RawCompletion> {
  let text = '';
  let inputTokens = 0;
  let outputTokens = 0;
  try {
    const stream = await options.start();
    for await (const chunk of stream) {
      options.onChunk?.();
      // String content is its own text; `chunk.text` runs LangChain's content-block translators on every delta.
      const piece = typeof chunk.content === 'string' ? chunk.content : chunk.text;
      if (piece) {
        text += piece;
        options.onToken?.(piece);
      }
      // The generic chunk type resolves usage_metadata to never; read it structurally.
      const usage = (chunk as unknown as { usage_metadata?: { input_tokens?: number; output_tokens?: number } }).usage_metadata;
      if (usage) {
        inputTokens = Math.max(inputTokens, usage.input_tokens ?? 0);
        outputTokens = Math.max(outputTokens, usage.output_tokens ?? 0);
      }
    }
  } catch (error) {
    throw redactError(error, options.secrets);
  }
  const completion: RawCompletion = { text, inputTokens, outputTokens };
  const facts = options.facts;
  if (facts === undefined) return completion;
  const { value } = facts;
  if (!value.observed) return completion;
  if (!value.ended) {
    throw new TribunalError(
      'MODEL_UNREACHABLE',
      `${facts.id}: the stream ended without ${facts.endEvent} after ${text.length} characters (the connection dropped); the same request is sent again`,
    );
  }
  if (value.inputTokens !== undefined) completion.inputTokens = value.inputTokens;
  if (value.outputTokens !== undefined) completion.outputTokens = value.outputTokens;
  if (value.stopReason !== undefined) {
    completion.stopReason = value.stopReason;
    completion.stop = facts.stopKind(value.stopReason);
  }
  if (value.refusal !== '') {
    completion.refusal = value.refusal;
    completion.stop = 'refused';
  }
  return completion;
}
