import { TribunalError } from '../contracts/index.js';
import type { ModelRegistry, PricingTable, Settings } from '../models/index.js';
import { createChatModelPolicy } from './chat-model-policy.js';
import { createFakePolicy } from './fake-policy.js';
import { createAnthropicPolicy, createOpenAIPolicy } from './http-policy.js';
import type { Policy, PolicySpec } from './policy.js';
import { createWorkerPolicy, type WorkerPolicyOptions } from './worker-policy.js';

/** Options of `createPolicy`. */
export interface CreatePolicyOptions {
  spec: PolicySpec;
  /** The generation run directory (the Python worker's files go to `DIR/worker/`). */
  runDir: string;
  settings: Settings;
  /** The registry that serves `local:` models. */
  models: ModelRegistry;
  pricing?: PricingTable | undefined;
  /** HTTP retry waits (tests pass 0). */
  backoffMs?: number | undefined;
  /** Python worker options (`tiny`, `checkpoint:DIR`). */
  worker?: Omit<WorkerPolicyOptions, 'spec' | 'runDir' | 'reference'> | undefined;
  /** Score every sample under this policy too (`tiny` or `checkpoint:DIR`; the policy must be one of those). */
  reference?: PolicySpec | undefined;
}

/**
 * The sampler behind a parsed `--policy`: the fake policy, OpenAI(-compatible) and Anthropic over HTTP, a local GGUF
 * model through the registry, or the Python worker for `tiny` and `checkpoint:DIR`.
 * @example const policy = await createPolicy({ spec: parsePolicy({ text: 'fake:policy', cwd }), runDir, settings, models });
 */
export async function createPolicy(options: CreatePolicyOptions): Promise<Policy> {
  const { spec, reference } = options;
  if (reference !== undefined && (reference.kind === 'model' || spec.kind === 'model')) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--reference scores samples on the Python worker: the policy and the reference must be tiny or checkpoint:DIR (got ${spec.id} and ${reference.id})`,
    );
  }
  if (spec.kind !== 'model') {
    return createWorkerPolicy({
      ...options.worker,
      python: options.worker?.python ?? options.settings.python,
      spec,
      runDir: options.runDir,
      ...(reference === undefined ? {} : { reference }),
    });
  }
  const http = { id: spec.id, settings: options.settings, pricing: options.pricing, backoffMs: options.backoffMs };
  switch (spec.provider) {
    case 'fake':
      return createFakePolicy({ id: spec.id });
    case 'openai':
      return createOpenAIPolicy(http);
    case 'anthropic':
      return createAnthropicPolicy(http);
    case 'local':
      return createChatModelPolicy({ id: spec.id, models: options.models });
    default:
      throw new TribunalError('MODEL_NOT_FOUND', `no sampler for the policy "${spec.id}"`);
  }
}
