import { type ModelEntries, type ModelEntry, TribunalError } from '../contracts/index.js';
import { createAnthropicAdapter } from './anthropic-provider.js';
import { EndpointFleet, type EndpointStatus, type FleetScheduler } from './endpoint-fleet.js';
import { createFakeAdapter, judgeScript, parseFakeSpec } from './fake-provider.js';
import { Limiter } from './limiter.js';
import { loadLocalAdapter } from './local-loader.js';
import { modelEntryFor } from './model-entry.js';
import { createOpenAIAdapter, probeOpenAIEndpoint } from './openai-provider.js';
import { lookupPricing, type PricingTable, priceOf } from './pricing.js';
import { createCriticModel, type ReliabilityOptions } from './reliable-model.js';
import { loadSettings, type Settings } from './settings.js';
import type { CriticModel, ProviderAdapter } from './types.js';

/** Resolves `provider:model` ids to critic models, caching one per id. */
export interface ModelRegistry {
  resolve(id: string): Promise<CriticModel>;
  /** Frees every resolved model's resources (local model contexts) and stops the fleets' health probes. */
  close(): Promise<void>;
  /** How each endpoint fleet in use stands, by its models file key (empty until a fleet's model is resolved). */
  fleets(): Record<string, EndpointStatus[]>;
}

/** Builds the adapter for the part of an id after `provider:`. */
export type AdapterFactory = (model: string) => ProviderAdapter | Promise<ProviderAdapter>;

/** Per-provider limits; each provider gets one Limiter shared by all of its models. */
export interface ProviderLimits {
  concurrency?: number;
  timeoutMs?: number;
  idleTimeoutMs?: number;
  maxRetries?: number;
}

/** Options of `createModelRegistry`; everything is optional. */
export interface ModelRegistryOptions {
  /** Extra or replacement adapters by provider name (tests register scripted fakes here). */
  adapters?: Record<string, AdapterFactory>;
  /** Wrapper settings for every provider (backoff, sleep, and default concurrency/timeout/retries). */
  reliability?: ReliabilityOptions;
  /** Overrides per provider name, e.g. `{ openai: { concurrency: 16 }, local: { concurrency: 1 } }`. */
  providers?: Record<string, ProviderLimits>;
  /** Credentials and defaults; read from the environment (once, lazily) when omitted. */
  settings?: Settings;
  /**
   * Price overrides keyed by `provider:model` (or a `prefix*`), USD per million tokens: they apply to every provider,
   * local and custom adapters included, ahead of the built-in list prices.
   */
  pricing?: PricingTable | undefined;
  /**
   * Models served by several endpoints (a models file's `models:` table, `--models FILE`): each entry's calls spread
   * over its endpoints, with per-endpoint concurrency, health probes and failover (`EndpointFleet`). An entry replaces
   * `OPENAI_BASE_URL` for the ids it matches (exactly, or by a `prefix*`; the longest prefix wins).
   */
  endpoints?: ModelEntries | undefined;
  /** How fleets schedule their health probes, and the deadline of one probe (tests run probes by hand). */
  fleet?: { schedule?: FleetScheduler; probeTimeoutMs?: number } | undefined;
}

/** Concurrency per provider when nothing else is configured: local matches the adapter's default 4 context sequences; fakes have no resource to protect. */
const DEFAULT_CONCURRENCY: Record<string, number> = { openai: 8, anthropic: 4, local: 4, fake: 256 };

/**
 * Creates a registry with built-in providers `openai`, `anthropic`, `local` and `fake`. Limits resolve as
 * `providers[name]` > `reliability` > environment (TRIBUNAL_CONCURRENCY, TRIBUNAL_TIMEOUT_MS, TRIBUNAL_IDLE_TIMEOUT_MS,
 * TRIBUNAL_MAX_RETRIES)
 * > built-in defaults.
 * @example
 * const registry = createModelRegistry({ providers: { openai: { concurrency: 16 } } });
 * const model = await registry.resolve('openai:gpt-4.1-mini');
 */
export function createModelRegistry(options: ModelRegistryOptions = {}): ModelRegistry {
  const resolved = new Map<string, Promise<{ model: CriticModel; adapter: ProviderAdapter }>>();
  const limiters = new Map<string, Limiter>();
  let settings = options.settings;
  const getSettings = (): Settings => {
    settings ??= loadSettings();
    return settings;
  };

  const factories: Record<string, AdapterFactory> = {
    openai: (model) =>
      createOpenAIAdapter({
        model,
        apiKey: getSettings().openaiApiKey,
        baseURL: getSettings().openaiBaseUrl,
        pricing: options.pricing,
      }),
    anthropic: (model) =>
      createAnthropicAdapter({
        model,
        apiKey: getSettings().anthropicApiKey,
        baseURL: getSettings().anthropicBaseUrl,
        pricing: options.pricing,
      }),
    local: (spec) => loadLocalAdapter({ spec }),
    fake: (spec) => {
      const parsed = parseFakeSpec(spec);
      if (parsed.name !== 'judge') {
        throw new TribunalError('MODEL_NOT_FOUND', `unknown fake model "fake:${parsed.name}"; the CLI offers "fake:judge"`);
      }
      return createFakeAdapter({
        script: judgeScript({
          ...(parsed.failEvery === undefined ? {} : { failEvery: parsed.failEvery }),
          ...(parsed.refuseEvery === undefined ? {} : { refuseEvery: parsed.refuseEvery }),
          ...(parsed.prefer === undefined ? {} : { prefer: parsed.prefer }),
          ...(parsed.lengthBonus === undefined ? {} : { lengthBonus: parsed.lengthBonus }),
        }),
        ...(parsed.latencyMs === undefined ? {} : { latencyMs: parsed.latencyMs }),
        ...(parsed.chunks === undefined ? {} : { chunks: parsed.chunks }),
        // The CLI's fake judge runs whole labeling jobs: keeping every call would grow without bound.
        recordCalls: false,
      });
    },
    ...options.adapters,
  };

  const pickLimit = (provider: string, key: 'concurrency' | 'timeoutMs' | 'idleTimeoutMs' | 'maxRetries'): number | undefined =>
    options.providers?.[provider]?.[key] ?? options.reliability?.[key] ?? getSettings()[key];

  const limitsFor = (provider: string): ReliabilityOptions => {
    const shared = options.reliability ?? {};
    const pick = (key: 'concurrency' | 'timeoutMs' | 'idleTimeoutMs' | 'maxRetries'): number | undefined =>
      pickLimit(provider, key);
    let limiter = options.reliability?.limiter ?? limiters.get(provider);
    if (!limiter) {
      limiter = new Limiter(pick('concurrency') ?? DEFAULT_CONCURRENCY[provider] ?? 8);
      limiters.set(provider, limiter);
    }
    const timeoutMs = pick('timeoutMs');
    const idleTimeoutMs = pick('idleTimeoutMs');
    const maxRetries = pick('maxRetries');
    return {
      ...shared,
      limiter,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      ...(maxRetries === undefined ? {} : { maxRetries }),
    };
  };

  const fleets = new Map<string, EndpointFleet>();
  /** The fleet of a models file entry, one per entry (its servers' health is shared by every model it matches). */
  const fleetFor = (key: string, entry: ModelEntry): EndpointFleet => {
    let fleet = fleets.get(key);
    if (!fleet) {
      const apiKey = getSettings().openaiApiKey;
      fleet = new EndpointFleet({
        name: key,
        endpoints: entry.endpoints,
        defaultConcurrency: pickLimit('openai', 'concurrency') ?? DEFAULT_CONCURRENCY.openai ?? 8,
        concurrency: entry.concurrency,
        failureThreshold: entry.failureThreshold,
        probeIntervalMs: entry.probeIntervalMs,
        maxProbeIntervalMs: entry.maxProbeIntervalMs,
        probeTimeoutMs: options.fleet?.probeTimeoutMs,
        schedule: options.fleet?.schedule,
        probe: (baseURL, signal) => probeOpenAIEndpoint({ baseURL, apiKey, signal }),
        secrets: apiKey ? [apiKey] : [],
      });
      fleets.set(key, fleet);
    }
    return fleet;
  };

  /** A model served by a fleet: one OpenAI adapter per endpoint behind the fleet's adapter, limited by its gate. */
  const fleetModel = async (id: string, name: string, key: string, entry: ModelEntry) => {
    const fleet = fleetFor(key, entry);
    const adapter = await fleet.adapter((baseURL) =>
      createOpenAIAdapter({ model: name, apiKey: getSettings().openaiApiKey, baseURL, pricing: options.pricing }),
    );
    // One price per id whichever endpoint answers; list prices only when every endpoint is OpenAI's own.
    const pricing = lookupPricing(id, { overrides: options.pricing, builtIn: false }) ?? adapter.pricing;
    return { adapter, model: createCriticModel({ id, adapter, ...limitsFor('openai'), limiter: fleet.gate, pricing }) };
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
          const name = id.slice(colon + 1);
          if (name === '') throw new TribunalError('MODEL_NOT_FOUND', `model id "${id}" names no model after "${provider}:"`);
          const fleetEntry = provider === 'openai' ? modelEntryFor(id, options.endpoints) : undefined;
          if (fleetEntry) return fleetModel(id, name, fleetEntry.key, fleetEntry.entry);
          const adapter = await factory(name);
          // A price given for the id wins, then the adapter's own, then the built-in list price where it applies.
          const pricing =
            lookupPricing(id, { overrides: options.pricing, builtIn: false }) ??
            adapter.pricing ??
            priceOf(id, { openaiBaseUrl: getSettings().openaiBaseUrl });
          return { adapter, model: createCriticModel({ id, adapter, ...limitsFor(provider), pricing }) };
        })();
        resolved.set(id, entry);
        entry.catch(() => resolved.delete(id));
      }
      return entry.then((value) => value.model);
    },
    async close() {
      const entries = await Promise.allSettled(resolved.values());
      resolved.clear();
      for (const fleet of fleets.values()) fleet.close();
      fleets.clear();
      for (const entry of entries) if (entry.status === 'fulfilled') await entry.value.adapter.close?.();
    },
    fleets() {
      return Object.fromEntries([...fleets].map(([key, fleet]) => [key, fleet.status()]));
    },
  };
}
