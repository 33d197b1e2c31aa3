import { addUsage, type ResolvedPanel, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import type { ModelPricing, ModelRegistry } from '../models/index.js';
import { criticModels } from './critic-models.js';

/**
 * Why a labeling session stopped before the queue was empty: Ctrl-C (or the caller's signal), a budget cap, or a
 * streak of items whose every turn failed with a provider error (the provider looks down or the key is wrong).
 */
export type StopReason = 'interrupted' | 'max-cost' | 'max-calls' | 'provider-failing';

/** The spend of one in-flight item, fed from its events. */
export interface ItemSpend {
  /** Adds usage this session spent on the item (a turn, the chair). */
  add(usage: Usage): void;
  /** Usage added so far. */
  readonly usage: Usage;
  /** Settles the item: `completed` debates (done or failed) teach the per-item average; aborted ones only count as spend. */
  finish(options: { completed: boolean }): void;
}

/**
 * The budget of one labeling session (`--max-cost`, `--max-calls`): what this process spent, live. An item may
 * start only when the projected spend stays within every cap, projecting each in-flight item and the new one at the
 * average cost of the items completed so far (or `prior` before any has); `exceeded` says when the actual spend
 * reached a cap, so the runner can abort what is in flight.
 */
export class LabelingBudget {
  private readonly maxCostUsd: number | undefined;
  private readonly maxCalls: number | undefined;
  private readonly prior: Usage;
  private settled: Usage = ZERO_USAGE;
  private completed: Usage = ZERO_USAGE;
  private completedItems = 0;
  private readonly live = new Set<{ usage: Usage }>();

  constructor(options: { maxCostUsd?: number | undefined; maxCalls?: number | undefined; prior: Usage }) {
    this.maxCostUsd = options.maxCostUsd;
    this.maxCalls = options.maxCalls;
    this.prior = options.prior;
  }

  /** Whether any cap is set. */
  get capped(): boolean {
    return this.maxCostUsd !== undefined || this.maxCalls !== undefined;
  }

  /** Everything this session spent: settled items plus what in-flight items spent so far. */
  spent(): Usage {
    let total = this.settled;
    for (const entry of this.live) total = addUsage(total, entry.usage);
    return total;
  }

  /** The expected usage of one item: the average of completed items, else the prior. */
  perItem(): Usage {
    if (this.completedItems === 0) return this.prior;
    const n = this.completedItems;
    const { inputTokens, outputTokens, calls, costUsd } = this.completed;
    return { inputTokens: inputTokens / n, outputTokens: outputTokens / n, calls: calls / n, costUsd: costUsd / n };
  }

  /** The cap one more item would break, or undefined when it may start. */
  admit(): 'max-cost' | 'max-calls' | undefined {
    if (!this.capped) return undefined;
    const expected = this.perItem();
    let calls = this.settled.calls + expected.calls;
    let cost = this.settled.costUsd + expected.costUsd;
    for (const entry of this.live) {
      calls += Math.max(entry.usage.calls, expected.calls);
      cost += Math.max(entry.usage.costUsd, expected.costUsd);
    }
    if (this.maxCalls !== undefined && calls > this.maxCalls) return 'max-calls';
    if (this.maxCostUsd !== undefined && cost > this.maxCostUsd) return 'max-cost';
    return undefined;
  }

  /** The cap the actual spend has reached, or undefined. */
  exceeded(): 'max-cost' | 'max-calls' | undefined {
    if (!this.capped) return undefined;
    const spent = this.spent();
    if (this.maxCalls !== undefined && spent.calls >= this.maxCalls) return 'max-calls';
    if (this.maxCostUsd !== undefined && spent.costUsd >= this.maxCostUsd) return 'max-cost';
    return undefined;
  }

  /** Starts tracking one item. */
  start(): ItemSpend {
    const entry = { usage: ZERO_USAGE };
    this.live.add(entry);
    return {
      add: (usage) => {
        entry.usage = addUsage(entry.usage, usage);
      },
      get usage() {
        return entry.usage;
      },
      finish: ({ completed }) => {
        if (!this.live.delete(entry)) return;
        this.settled = addUsage(this.settled, entry.usage);
        if (completed) {
          this.completed = addUsage(this.completed, entry.usage);
          this.completedItems += 1;
        }
      },
    };
  }
}

/**
 * The price of every model a run speaks through (critics and chair), as the registry resolved it: undefined where
 * none is known (its cost counts as $0). Resolving is cached by the registry, so the run reuses these models.
 */
export async function runModelPrices(options: {
  models: ModelRegistry;
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
}): Promise<Map<string, ModelPricing | undefined>> {
  const ids = criticModels(options);
  const unique = [...new Set([...Object.values(ids.critics), ...(ids.chair ? [ids.chair] : [])])];
  const resolved = await Promise.all(unique.map((id) => options.models.resolve(id)));
  return new Map(resolved.map((model) => [model.id, model.pricing]));
}

/**
 * Refuses a `--max-cost` cap that could not act: a model without a known price would count as $0 and never move the
 * spend toward the cap. The message names every such model and the ways to price it.
 */
export function requirePricesForBudget(prices: ReadonlyMap<string, ModelPricing | undefined>): void {
  const unpriced = [...prices].filter(([, pricing]) => pricing === undefined).map(([id]) => id);
  if (unpriced.length === 0) return;
  const example = unpriced[0] ?? 'MODEL';
  throw new TribunalError(
    'CONFIG_INVALID',
    `no price known for ${unpriced.join(', ')}, so --max-cost cannot be enforced (its calls would count as $0); ` +
      `pass --price ${example}=in:USD,out:USD (US dollars per million tokens) or --prices FILE, or add a prices: block ` +
      'to the panel, or drop --max-cost',
  );
}
