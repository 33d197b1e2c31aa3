/**
 * The local-model provider (`local:/path/model.gguf`, `local:hf:<user>/<repo>:<quant>`): GGUF models run in-process
 * through node-llama-cpp, loaded lazily (importing this module loads no native code until an adapter is created),
 * one model and one context per file shared by every adapter, calls served by a pool of context sequences, and
 * structured output constrained by a grammar built from the JSON schema.
 */
export { toChatHistory } from './chat-history.js';
export { type GrammarSchema, toGrammarSchema } from './grammar-schema.js';
export {
  LlamaCppChatModel,
  type LlamaCppChatModelCallOptions,
  type LlamaCppChatModelOptions,
  type LlamaCppGenerateOptions,
} from './llama-cpp-chat-model.js';
export type { LocalGpu } from './llama-runtime.js';
export type { LocalGeneration, LocalModelStats } from './local-model-host.js';
export { createLocalAdapter, type LocalAdapter, type LocalAdapterOptions } from './local-provider.js';
export { loadedModelCount } from './model-cache.js';
export { type DownloadProgress, defaultModelCacheDir, isRemoteModelSpec, resolveModelFile } from './model-file.js';
export { SequencePool } from './sequence-pool.js';
