import type { AIMessageChunk } from '@langchain/core/messages';
import { redactError } from './redact-secrets.js';
import type { RawCompletion } from './types.js';

/**
 * Drains a LangChain chat-model stream into text and token counts, passing each text fragment to `onToken`.
 * Usage is read from `usage_metadata`; the largest count seen wins, because Anthropic reports the running
 * output total in several events while OpenAI sends one usage chunk. Errors are rethrown with secrets scrubbed.
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
  secrets: readonly string[];
}): Promise<RawCompletion> {
  let text = '';
  let inputTokens = 0;
  let outputTokens = 0;
  try {
    const stream = await options.start();
    for await (const chunk of stream) {
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
  return { text, inputTokens, outputTokens };
}
