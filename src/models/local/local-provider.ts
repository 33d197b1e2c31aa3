import type { BaseMessage } from '@langchain/core/messages';
import type { ProviderAdapter, RawCallOptions, RawCompletion } from '../types.js';
import { LlamaCppChatModel } from './llama-cpp-chat-model.js';
import type { LocalGpu } from './llama-runtime.js';
import type { LocalModelStats } from './local-model-host.js';
import { acquireLocalModel } from './model-cache.js';
import { type DownloadProgress, resolveModelFile } from './model-file.js';

/** Settings of a local-model adapter; the caller (the env module) supplies them from configuration. */
export interface LocalAdapterOptions {
  /** Where `hf:` models are downloaded (TRIBUNAL_CACHE_DIR); defaults to `~/.cache/tribunal/models`. */
  cacheDir?: string;
  /** Parallel context sequences, i.e. calls generating at once (default 4, halved until they fit in memory). */
  sequences?: number;
  /** Tokens per sequence (default: as much as memory allows between 2048 and 8192). */
  contextSize?: number;
  /** `false` for CPU only; default `'auto'` (the best GPU node-llama-cpp's prebuilt binaries support, else CPU). */
  gpu?: LocalGpu;
  /** CPU threads for evaluation (default: one less than the machine's math cores, at least 1). */
  threads?: number;
  /** Default sampling temperature of the chat model. */
  temperature?: number;
  /** Hugging Face endpoint or mirror for `hf:` URIs. */
  huggingFaceEndpoint?: string;
  /** Called while an `hf:` model downloads; without it a progress bar is drawn on the terminal. */
  onDownloadProgress?: (progress: DownloadProgress) => void;
  /** Cancels a download or load in progress. */
  signal?: AbortSignal;
}

/** The local provider adapter, with its chat model and a view of its sequence pool. */
export interface LocalAdapter extends ProviderAdapter {
  readonly provider: 'local';
  readonly chat: LlamaCppChatModel;
  /** The real path of the GGUF file in use. */
  readonly modelPath: string;
  /** A snapshot of the shared model's sequence pool (all sequences available when idle). */
  stats(): LocalModelStats;
  close(): Promise<void>;
}

/**
 * Creates the adapter for a `local:` model id: `spec` is a path to a .gguf file or an `hf:` URI (downloaded to
 * the cache directory on first use). Adapters for the same file share one loaded model and context; `close`
 * frees them when the last adapter using them closes. Structured calls constrain sampling with a grammar built
 * from the JSON schema.
 * @example
 * const adapter = await createLocalAdapter('../shared/models/llama-2-tiny-random.gguf', { sequences: 2, gpu: false });
 * const model = createCriticModel({ id: 'local:../shared/models/llama-2-tiny-random.gguf', adapter });
 * await adapter.close();
 */
export async function createLocalAdapter(spec: string, options: LocalAdapterOptions = {}): Promise<LocalAdapter> {
  const modelPath = await resolveModelFile(spec, {
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(options.huggingFaceEndpoint === undefined ? {} : { huggingFaceEndpoint: options.huggingFaceEndpoint }),
    ...(options.onDownloadProgress === undefined ? {} : { onDownloadProgress: options.onDownloadProgress }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  options.signal?.throwIfAborted();
  const lease = await acquireLocalModel({
    modelPath,
    ...(options.sequences === undefined ? {} : { sequences: options.sequences }),
    ...(options.contextSize === undefined ? {} : { contextSize: options.contextSize }),
    ...(options.gpu === undefined ? {} : { gpu: options.gpu }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  });
  const chat = new LlamaCppChatModel({
    host: lease.host,
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
  });
  return {
    provider: 'local',
    chat,
    modelPath,
    async complete(messages: BaseMessage[], call: RawCallOptions): Promise<RawCompletion> {
      const { onToken, onChunk } = call;
      const onTextChunk =
        onChunk === undefined
          ? onToken
          : (piece: string) => {
              onChunk();
              onToken?.(piece);
            };
      const { text, inputTokens, outputTokens, stopReason } = await chat.reply(messages, {
        jsonSchema: call.jsonSchema,
        signal: call.signal,
        ...(call.temperature === undefined ? {} : { temperature: call.temperature }),
        ...(call.maxTokens === undefined ? {} : { maxTokens: call.maxTokens }),
        ...(onTextChunk === undefined ? {} : { onTextChunk }),
      });
      const completion: RawCompletion = { text, inputTokens, outputTokens, stopReason };
      // node-llama-cpp stops with `maxTokens` at the limit; its other reasons (end of generation, a stop trigger) are complete.
      completion.stop = stopReason === 'maxTokens' ? 'truncated' : 'complete';
      return completion;
    },
    stats: () => lease.host.stats(),
    close: () => lease.release(),
  };
}
