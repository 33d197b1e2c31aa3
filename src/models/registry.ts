import { TribunalError } from '../contracts/index.js';
import { createFakeAdapter, judgeScript, parseFakeSpec } from './fake-provider.js';
import { createCriticModel, type ReliabilityOptions } from './reliable-model.js';
import type { CriticModel, ProviderAdapter } from './types.js';

/** Resolves `provider:model` ids to critic models, caching one per id. */
export interface ModelRegistry {
  resolve(id: string): Promise<CriticModel>;
  /** Frees every resolved model's resources (local model contexts). */
  close(): Promise<void>;
}

export interface ModelRegistryOptions {
  /** Extra or replacement adapters by provider name (tests register scripted fakes here). */
  adapters?: Record<string, (model: string) => ProviderAdapter | Promise<ProviderAdapter>>;
  reliability?: ReliabilityOptions;
}

/** Creates a registry. Built-in providers: `fake` (more are added in src/models). */
export function createModelRegistry(options: ModelRegistryOptions = {}): ModelRegistry {
  const resolved = new Map<string, Promise<{ model: CriticModel; adapter: ProviderAdapter }>>();
  const factories: Record<string, (model: string) => ProviderAdapter | Promise<ProviderAdapter>> = {
    fake: (spec) => {
      const parsed = parseFakeSpec(spec);
      if (parsed.name !== 'judge') {
        throw new TribunalError('MODEL_NOT_FOUND', `unknown fake model "fake:${parsed.name}"; the CLI offers "fake:judge"`);
      }
      return createFakeAdapter({
        script: judgeScript(parsed.failEvery === undefined ? {} : { failEvery: parsed.failEvery }),
        ...(parsed.latencyMs === undefined ? {} : { latencyMs: parsed.latencyMs }),
        ...(parsed.chunks === undefined ? {} : { chunks: parsed.chunks }),
      });
    },
    ...options.adapters,
  };
  return {
    resolve(id) {
      let entry = resolved.get(id);
      if (!entry) {
        entry = (async () => {
          const colon = id.indexOf(':');
          const provider = colon > 0 ? id.slice(0, colon) : '';
          const factory = factories[provider];
          if (!factory) {
            throw new TribunalError(
              'MODEL_NOT_FOUND',
              `unknown model provider in "${id}"; use one of ${Object.keys(factories)
                .map((name) => `"${name}:..."`)
                .join(', ')}`,
            );
          }
          const adapter = await factory(id.slice(colon + 1));
          return { adapter, model: createCriticModel({ id, adapter, ...options.reliability }) };
        })();
        resolved.set(id, entry);
        entry.catch(() => resolved.delete(id));
      }
      return entry.then((value) => value.model);
    },
    async close() {
      const entries = await Promise.allSettled(resolved.values());
      resolved.clear();
      for (const entry of entries) if (entry.status === 'fulfilled') await entry.value.adapter.close?.();
    },
  };
}
