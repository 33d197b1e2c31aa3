import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addUsage, type InputFormat, type ResolvedPanel, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { writeJsonlAtomic } from '../export/index.js';
import type { ModelPricing } from '../models/index.js';
import { estimateLabeling } from '../runner/index.js';
import { comparisonIds, comparisonItems } from './held-out.js';
import { planSplit } from './split-prompts.js';

/** What `tribunal loop --dry-run` prints: the critics' calls, tokens and cost, per iteration and in all. */
export interface LoopEstimate {
  prompts: { train: number; heldOut: number; rejected: number };
  iterations: number;
  /** Items debated per iteration: the train prompts' samples, and the comparison debates (two per pair). */
  perIteration: Array<{ iteration: number; labelItems: number; compareItems: number; usage: Usage }>;
  /** Usage per critic model over every iteration; `priced` false: no known price (counted as $0). */
  models: Array<{ model: string; usage: Usage; priced: boolean }>;
  total: Usage;
  /** The assumptions behind the numbers. */
  assumptions: string[];
}

/**
 * An upper bound on what the loop's debates cost, without calling any model or writing the loop directory: the prompt
 * split as the loop would make it, then `estimateLabeling` (the panel's rounds, critics and prompts) over stand-in
 * items whose samples are all `maxTokens` long — the train prompts with `n` samples each, and per iteration one set of
 * comparison debates (two, against policy_i and policy_0, from iteration 1). The policies run locally and cost nothing.
 */
export async function estimateLoop(options: {
  prompts: string;
  format?: InputFormat | undefined;
  limit?: number | undefined;
  heldOut: number;
  seed: number;
  iterations: number;
  n: number;
  evalSamples: number;
  maxTokens: number;
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
  priceOf?: ((model: string) => ModelPricing | undefined) | undefined;
}): Promise<LoopEstimate> {
  const split = await planSplit({ ...options, input: options.prompts });
  // About four ASCII characters a token (the estimator's own rule): a sample of maxTokens tokens.
  const sample = (index: number): string => `${index} ${'word '.repeat(Math.max(1, Math.ceil((options.maxTokens * 4) / 5)))}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'tribunal-loop-estimate-'));
  try {
    const labelFile = path.join(dir, 'label.jsonl');
    await writeJsonlAtomic({
      file: labelFile,
      rows: split.train.map((prompt) => ({
        id: prompt.id,
        prompt: prompt.prompt,
        candidates: Array.from({ length: options.n }, (_, index) => ({ id: `s${index}`, text: sample(index) })),
      })),
    });
    const compareFile = path.join(dir, 'compare.jsonl');
    await writeJsonlAtomic({
      file: compareFile,
      rows: split.heldOut.flatMap((prompt) =>
        Array.from({ length: options.evalSamples }, (_, index) =>
          comparisonItems({
            comparison: comparisonIds(prompt.id, index),
            prompt: prompt.prompt,
            policyText: sample(0),
            baselineText: sample(1),
          }),
        ).flat(),
      ),
    });
    const common = {
      panel: options.panel,
      defaultModel: options.defaultModel,
      modelOverride: options.modelOverride,
      priceOf: options.priceOf,
      format: 'native' as const,
    };
    const label = await estimateLabeling({ ...common, input: labelFile });
    const compare = await estimateLabeling({ ...common, input: compareFile });
    const byModel = new Map<string, { usage: Usage; priced: boolean }>();
    const add = (estimate: typeof label, times: number): void => {
      for (const entry of estimate.models) {
        const seen = byModel.get(entry.model) ?? { usage: ZERO_USAGE, priced: entry.priced };
        byModel.set(entry.model, { usage: addUsage(seen.usage, scale(entry.usage, times)), priced: seen.priced && entry.priced });
      }
    };
    const perIteration: LoopEstimate['perIteration'] = [];
    let total = ZERO_USAGE;
    for (let iteration = 0; iteration < options.iterations; iteration++) {
      const compareSets = iteration === 0 ? 1 : 2;
      const usage = addUsage(label.total, scale(compare.total, compareSets));
      perIteration.push({ iteration, labelItems: label.items, compareItems: compare.items * compareSets, usage });
      total = addUsage(total, usage);
      add(label, 1);
      add(compare, compareSets);
    }
    return {
      prompts: { train: split.train.length, heldOut: split.heldOut.length, rejected: split.rejected },
      iterations: options.iterations,
      perIteration,
      models: [...byModel.entries()]
        .map(([model, entry]) => ({ model, ...entry }))
        .sort((a, b) => a.model.localeCompare(b.model)),
      total,
      assumptions: [
        `every sample ${options.maxTokens} tokens long (--max-tokens): an upper bound`,
        `${label.roundsPerDebate} rounds per debate (debates that converge early use fewer)`,
        'no stop rule fires; the policies (tiny or checkpoint) run locally and cost nothing',
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function scale(usage: Usage, times: number): Usage {
  return {
    ...usage,
    calls: usage.calls * times,
    inputTokens: usage.inputTokens * times,
    outputTokens: usage.outputTokens * times,
    costUsd: usage.costUsd * times,
  };
}
