import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { toChatHistory } from './chat-history.js';
import type { LocalGeneration, LocalModelHost } from './local-model-host.js';

/** Per-call options of {@link LlamaCppChatModel}. */
export interface LlamaCppChatModelCallOptions extends BaseChatModelCallOptions {
  /** JSON schema the reply must match; sampling is constrained by a grammar built from it. */
  jsonSchema?: Record<string, unknown>;
  temperature?: number;
  /** Most tokens to generate, honoured when streaming too. */
  maxTokens?: number;
}

/** Settings of a {@link LlamaCppChatModel}. */
export interface LlamaCppChatModelOptions {
  /** The loaded model whose sequence pool serves the calls. */
  host: LocalModelHost;
  /** Default sampling temperature (node-llama-cpp's default, greedy, when unset). */
  temperature?: number;
  /** Default most tokens to generate. */
  maxTokens?: number;
}

/** Options of {@link LlamaCppChatModel.reply}. */
export interface LlamaCppGenerateOptions {
  jsonSchema?: Record<string, unknown>;
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onTextChunk?: (text: string) => void;
}

/**
 * A LangChain chat model over node-llama-cpp: each call borrows a context sequence from the loaded model's pool,
 * applies the GGUF's chat template, streams text chunks, honours `maxTokens`, `temperature`, an abort signal and an
 * optional JSON-schema grammar, and reports prompt and generated token counts as usage metadata.
 */
export class LlamaCppChatModel extends BaseChatModel<LlamaCppChatModelCallOptions> {
  private readonly host: LocalModelHost;
  private readonly temperature: number | undefined;
  private readonly maxTokens: number | undefined;

  constructor(options: LlamaCppChatModelOptions) {
    super({});
    this.host = options.host;
    this.temperature = options.temperature;
    this.maxTokens = options.maxTokens;
  }

  override _llmType(): string {
    return 'tribunal-llama-cpp';
  }

  /** Runs one generation for LangChain messages and returns its text and token counts. */
  reply(messages: readonly BaseMessage[], options: LlamaCppGenerateOptions = {}): Promise<LocalGeneration> {
    const temperature = options.temperature ?? this.temperature;
    const maxTokens = options.maxTokens ?? this.maxTokens;
    return this.host.generate({
      history: toChatHistory(messages),
      ...(options.jsonSchema === undefined ? {} : { jsonSchema: options.jsonSchema }),
      ...(temperature === undefined ? {} : { temperature }),
      ...(maxTokens === undefined ? {} : { maxTokens }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onTextChunk === undefined ? {} : { onTextChunk: options.onTextChunk }),
    });
  }

  override async _generate(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): Promise<ChatResult> {
    const result = await this.reply(messages, {
      ...callOptions(options),
      ...(runManager === undefined ? {} : { onTextChunk: (text: string) => void runManager.handleLLMNewToken(text) }),
    });
    const message = new AIMessage({ content: result.text, response_metadata: { stopReason: result.stopReason } });
    setUsage(message, result);
    return {
      generations: [{ text: result.text, message }],
      llmOutput: { tokenUsage: { promptTokens: result.inputTokens, completionTokens: result.outputTokens } },
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    // Closing the stream early (a consumer's `break`) aborts the generation so its sequence goes back to the pool.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const pending: string[] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    const running = this.reply(messages, {
      ...callOptions(options),
      signal,
      onTextChunk: (text) => {
        pending.push(text);
        wake?.();
      },
    }).finally(() => {
      settled = true;
      wake?.();
    });
    running.catch(() => undefined);
    try {
      for (;;) {
        for (let text = pending.shift(); text !== undefined; text = pending.shift()) {
          await runManager?.handleLLMNewToken(text);
          yield new ChatGenerationChunk({ text, message: new AIMessageChunk(text) });
        }
        if (settled) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      const result = await running;
      const last = new AIMessageChunk({ content: '', response_metadata: { stopReason: result.stopReason } });
      setUsage(last, result);
      yield new ChatGenerationChunk({ text: '', message: last });
    } finally {
      if (!settled) {
        stop.abort(new Error('the stream was closed before the generation finished'));
        await running.catch(() => undefined);
      }
    }
  }
}

function callOptions(options: LlamaCppChatModelCallOptions): LlamaCppGenerateOptions {
  return {
    ...(options.jsonSchema === undefined ? {} : { jsonSchema: options.jsonSchema }),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

/** Attaches LangChain usage metadata (the generic message types resolve the field to undefined here). */
function setUsage(message: AIMessage | AIMessageChunk, usage: { inputTokens: number; outputTokens: number }): void {
  Object.assign(message, {
    usage_metadata: {
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      total_tokens: usage.inputTokens + usage.outputTokens,
    },
  });
}
