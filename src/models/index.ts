/**
 * Models: the provider registry (`provider:model` ids), provider adapters (OpenAI and OpenAI-compatible,
 * Anthropic, local GGUF, scripted fake), settings read from the environment, pricing, and the one reliability
 * wrapper (retries, concurrency, timeouts, usage and cost, structured output with one repair attempt).
 */
export * from './anthropic-provider.js';
export * from './default-model.js';
export * from './endpoint-fleet.js';
export * from './endpoint-fleet-error.js';
export * from './fake-chat-model.js';
export * from './fake-provider.js';
export * from './limiter.js';
export * from './local-loader.js';
export * from './model-entry.js';
export * from './openai-provider.js';
export * from './pricing.js';
export * from './provider-json-schema.js';
export * from './redact-secrets.js';
export * from './registry.js';
export * from './reliable-model.js';
export * from './settings.js';
export * from './token-estimate.js';
export type * from './types.js';
