import path from 'node:path';
import { loadPrices } from '../config/index.js';
import type { ModelEntries, ResolvedPanel, Usage } from '../contracts/index.js';
import { type PricingTable, priceOf, pricingTable, type Settings } from '../models/index.js';
import { criticModels } from '../runner/index.js';
import { pricesFlag } from './flags.js';
import { terminalSafe } from './terminal.js';

/** The flags every command that calls models takes to price them. */
export const PRICE_OPTIONS = {
  price: { type: 'string', multiple: true },
  prices: { type: 'string' },
} as const;

/** The help lines of `PRICE_OPTIONS`. */
export const PRICE_HELP = `  --price MODEL=in:USD,out:USD
                            price MODEL in US dollars per million input and output tokens (repeat per model;
                            MODEL may end in * for a whole provider, e.g. local:*); overrides the built-in prices
  --prices FILE             prices from a YAML or JSON file: MODEL: { input: USD, output: USD } per line`;

/**
 * The prices a command runs with, later sources overriding earlier ones: the built-in list prices, the panel's
 * `prices:` block, `--prices FILE`, then each `--price`. Bad flags or files fail with the field that is wrong.
 * @example const pricing = await pricingFrom({ values, panel, cwd: io.cwd });
 */
export async function pricingFrom(options: {
  values: { price?: string[] | undefined; prices?: string | undefined };
  panel: ResolvedPanel;
  cwd: string;
}): Promise<PricingTable> {
  const flags = pricesFlag(options.values.price);
  const file = options.values.prices === undefined ? {} : await loadPrices(path.resolve(options.cwd, options.values.prices));
  return { ...pricingTable(options.panel.panel.prices), ...pricingTable(file), ...pricingTable(flags) };
}

/**
 * The models a command will call (critics and chair, as the engine picks them) that have no known price, so their
 * cost would count as $0; a command warns about them before it starts.
 */
export function unpricedModels(options: {
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
  pricing: PricingTable;
  settings: Settings;
  /** The models file's fleets (`--models`): an `openai:` model on a fleet of other servers gets no list price. */
  endpoints?: ModelEntries | undefined;
}): string[] {
  const ids = criticModels(options);
  const all = new Set([...Object.values(ids.critics), ...(ids.chair ? [ids.chair] : [])]);
  return [...all].filter(
    (id) =>
      priceOf(id, { overrides: options.pricing, openaiBaseUrl: options.settings.openaiBaseUrl, endpoints: options.endpoints }) ===
      undefined,
  );
}

/** The start-of-command warning naming each model without a known price and what to do; undefined when all are priced. */
export function unpricedWarning(unpriced: readonly string[]): string | undefined {
  if (unpriced.length === 0) return undefined;
  const names = unpriced.map((id) => terminalSafe(id)).join(', ');
  const first = terminalSafe(unpriced[0] ?? 'MODEL');
  return (
    `warning: no price known for ${names}: ${unpriced.length === 1 ? 'its' : 'their'} cost counts as $0 and --max-cost ` +
    `cannot be used; set a price with --price ${first}=in:USD,out:USD (US dollars per million tokens), --prices FILE ` +
    `or the panel's prices: block`
  );
}

/** Said once, as soon as a server first answers without token usage. */
export function estimatingNotice(maxCostUsd: number | undefined): string {
  return (
    'the server reports no token usage: counting tokens from the text (estimates)' +
    (maxCostUsd === undefined ? '' : '; budget enforced from estimated tokens')
  );
}

/**
 * The end-of-run note when some calls' tokens were estimated (the server reported no usage): the cost is an estimate,
 * and so was the `--max-cost` budget's spend. Undefined when every count was reported.
 */
export function estimatedUsageNote(usage: Usage, maxCostUsd: number | undefined): string | undefined {
  if (!usage.estimatedCalls) return undefined;
  const budget = maxCostUsd === undefined ? '' : `; budget enforced from estimated tokens (--max-cost ${maxCostUsd})`;
  return (
    `Estimated: the server reported no token usage for ${usage.estimatedCalls} of ${usage.calls} calls, so their tokens ` +
    `are counted from the text (about 4 characters a token) and the cost is an estimate${budget}.`
  );
}
