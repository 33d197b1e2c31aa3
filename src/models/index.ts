/**
 * Models: the provider registry (`provider:model` ids), provider adapters, and the one reliability wrapper
 * (retries, concurrency, timeouts, usage and cost, structured output with one repair attempt).
 */
export * from './fake-chat-model.js';
export * from './fake-provider.js';
export * from './limiter.js';
export * from './registry.js';
export * from './reliable-model.js';
export type * from './types.js';
