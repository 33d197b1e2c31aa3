/**
 * Generate: K samples per prompt from a policy (`tribunal generate`), resumable and budgeted like labeling, written as
 * DIR/candidates.jsonl in the native input format `tribunal label` reads. `runGeneration` is the entry point (the CLI
 * and, later, the RLAIF loop call it); policies are the fake policy, OpenAI(-compatible) and Anthropic over HTTP, local
 * GGUF models through the model registry, and the Python worker (`tiny`, `checkpoint:DIR`).
 */
export * from './candidates-file.js';
export * from './chat-model-policy.js';
export * from './create-policy.js';
export * from './estimate-generation.js';
export * from './fake-policy.js';
export * from './http-policy.js';
export * from './policy.js';
export * from './run-generation.js';
export * from './worker-policy.js';
