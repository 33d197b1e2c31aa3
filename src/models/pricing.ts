import type { ModelEntries, Prices } from '../contracts/index.js';
import { modelEntryFor } from './model-entry.js';
import type { ModelPricing } from './types.js';

/**
 * Prices keyed by `provider:model`, in USD per million tokens. A key ending in `*` is a prefix: `local:*` prices every
 * local model, `openai:*` every model of the OpenAI(-compatible) endpoint.
 */
export type PricingTable = Record<string, ModelPricing>;

const price = (inputPerMillion: number, outputPerMillion: number): ModelPricing => ({ inputPerMillion, outputPerMillion });

/**
 * List prices of common hosted models (standard tier, no caching or batch discounts), USD per million tokens.
 * Dated snapshots (`gpt-4.1-mini-2025-04-14`, `claude-sonnet-4-5-20250929`) resolve to their base name.
 * Fake models (`fake:*`) call nothing and cost $0. Check the providers' pricing pages before relying on a cost figure;
 * override with `--price`, `--prices FILE`, a panel's `prices:` block, or the registry's `pricing` option.
 */
export const DEFAULT_PRICING: Readonly<PricingTable> = Object.freeze({
  'openai:gpt-5': price(1.25, 10),
  'openai:gpt-5-mini': price(0.25, 2),
  'openai:gpt-5-nano': price(0.05, 0.4),
  'openai:gpt-4.1': price(2, 8),
  'openai:gpt-4.1-mini': price(0.4, 1.6),
  'openai:gpt-4.1-nano': price(0.1, 0.4),
  'openai:gpt-4o': price(2.5, 10),
  'openai:gpt-4o-mini': price(0.15, 0.6),
  'openai:o3': price(2, 8),
  'openai:o3-mini': price(1.1, 4.4),
  'openai:o4-mini': price(1.1, 4.4),
  'anthropic:claude-opus-4-5': price(5, 25),
  'anthropic:claude-opus-4-1': price(15, 75),
  'anthropic:claude-opus-4-0': price(15, 75),
  'anthropic:claude-opus-4': price(15, 75),
  'anthropic:claude-sonnet-4-5': price(3, 15),
  'anthropic:claude-sonnet-4-0': price(3, 15),
  'anthropic:claude-sonnet-4': price(3, 15),
  'anthropic:claude-3-7-sonnet': price(3, 15),
  'anthropic:claude-haiku-4-5': price(1, 5),
  'anthropic:claude-3-5-haiku': price(0.8, 4),
  'fake:*': price(0, 0),
});

const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

/**
 * Looks up the price of `provider:model` in `overrides`, then (unless `builtIn` is false) in the built-in
 * table; undefined means the cost is unknown and is counted as 0. Within a table an exact key wins, then a dated
 * snapshot of a key, then the longest `prefix*` key; any entry of `overrides` beats the built-in table.
 * @example
 * lookupPricing('anthropic:claude-sonnet-4-5-20250929'); // { inputPerMillion: 3, outputPerMillion: 15 }
 */
export function lookupPricing(
  id: string,
  options: { overrides?: PricingTable | undefined; builtIn?: boolean } = {},
): ModelPricing | undefined {
  const tables = options.builtIn === false ? [options.overrides ?? {}] : [options.overrides ?? {}, DEFAULT_PRICING];
  for (const table of tables) {
    const exact = table[id];
    if (exact) return exact;
    let prefixed: { length: number; pricing: ModelPricing } | undefined;
    for (const [key, value] of Object.entries(table)) {
      if (key.endsWith('*')) {
        const prefix = key.slice(0, -1);
        if (id.startsWith(prefix) && (prefixed === undefined || prefix.length > prefixed.length)) {
          prefixed = { length: prefix.length, pricing: value };
        }
      } else if (id.startsWith(key) && SNAPSHOT_SUFFIX.test(id.slice(key.length))) {
        return value;
      }
    }
    if (prefixed) return prefixed.pricing;
  }
  return undefined;
}

/** Whether an OpenAI base URL is OpenAI's own endpoint (only there do OpenAI's list prices apply). */
export function isOfficialOpenAIEndpoint(baseURL: string | undefined): boolean {
  if (baseURL === undefined) return true;
  try {
    return new URL(baseURL).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}

/**
 * The price a model id is charged at, as the model registry sets it: `overrides` first, then the built-in list
 * prices, except for `openai:` models served by an OpenAI-compatible server (`openaiBaseUrl` not OpenAI's, or a
 * models file entry in `endpoints` with any endpoint not OpenAI's), which may reuse an OpenAI name at another price.
 * Undefined when no price is known.
 * @example
 * priceOf('openai:gpt-4.1-mini', { openaiBaseUrl: 'http://localhost:8000/v1' }); // undefined
 */
export function priceOf(
  id: string,
  options: {
    overrides?: PricingTable | undefined;
    openaiBaseUrl?: string | undefined;
    endpoints?: ModelEntries | undefined;
  } = {},
): ModelPricing | undefined {
  const fleet = id.startsWith('openai:') ? modelEntryFor(id, options.endpoints) : undefined;
  const official =
    fleet === undefined
      ? isOfficialOpenAIEndpoint(options.openaiBaseUrl)
      : fleet.entry.endpoints.every((endpoint) => isOfficialOpenAIEndpoint(endpoint.baseURL));
  const builtIn = !id.startsWith('openai:') || official;
  return lookupPricing(id, { overrides: options.overrides, builtIn });
}

/** Converts prices as files and panels write them (`{ input, output }` USD per million tokens) to a pricing table. */
export function pricingTable(prices: Prices | undefined): PricingTable {
  const table: PricingTable = {};
  for (const [id, entry] of Object.entries(prices ?? {})) table[id] = price(entry.input, entry.output);
  return table;
}

/** The USD cost of a call, or 0 when the price is unknown. */
export function costOf(pricing: ModelPricing | undefined, usage: { inputTokens: number; outputTokens: number }): number {
  if (!pricing) return 0;
  return (usage.inputTokens * pricing.inputPerMillion + usage.outputTokens * pricing.outputPerMillion) / 1e6;
}
