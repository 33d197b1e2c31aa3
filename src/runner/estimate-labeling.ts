import { addUsage, type InputFormat, type ResolvedPanel, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { detectFormat, readItems } from '../datasets/index.js';
import { buildTurnMessages, createDebateSetup, subjectsFor, systemPromptFor } from '../engine/index.js';
import { costOf, estimateMessageTokens, estimateTokens, type ModelPricing, priceOf } from '../models/index.js';
import { criticModels } from './critic-models.js';
import { checkInputFile } from './input-file.js';

/** Output tokens expected of one critic turn (a rationale of a paragraph or two and the JSON around it). */
export const OUTPUT_TOKENS_PER_TURN = 250;

/** The spend a labeling run would cause, per model and in total. */
export interface LabelingEstimate {
  file: string;
  format: InputFormat;
  /** Items that would be debated. */
  items: number;
  /** Lines the importer would refuse. */
  rejectedLines: number;
  /** Items the engine would refuse (e.g. one candidate on a pairwise panel). */
  rejectedItems: number;
  /** Rounds per debate the estimate assumes: the independent round, every debate round, the blind vote. */
  roundsPerDebate: number;
  /** Usage per model id; `priced` is false when the model's price is unknown (cost counted as 0). */
  models: Array<{ model: string; usage: Usage; priced: boolean }>;
  total: Usage;
}

/**
 * Estimates the calls, tokens and cost of labeling an input without calling any model: items x critics x subjects
 * x (1 + debate rounds [+ the blind vote]) turns, plus one chair call per item. Input tokens come from the exact
 * round-0 messages (`estimateMessageTokens`: ASCII characters / 4, one token per other character, 4 per message)
 * plus, in later rounds, the other critics' turns at `OUTPUT_TOKENS_PER_TURN` each; output tokens are
 * `OUTPUT_TOKENS_PER_TURN` (capped by the panel's maxTokens). It is an upper bound on calls: debates that converge
 * early skip their remaining rounds. Prices come from `priceOf` (default: the built-in list prices, src/models/pricing.ts);
 * pass the prices the run will use (`--price`, `--prices`, the panel's `prices:`) so the estimate matches it.
 * @example
 * const estimate = await estimateLabeling({ input: 'items.jsonl', panel, defaultModel: 'openai:gpt-4.1-mini', limit: 100 });
 */
export async function estimateLabeling(options: {
  input: string;
  panel: ResolvedPanel;
  defaultModel: string;
  modelOverride?: string | undefined;
  limit?: number | undefined;
  format?: InputFormat | undefined;
  /** The price of a model id; undefined when unknown (its cost counts as 0 and `priced` is false). */
  priceOf?: ((model: string) => ModelPricing | undefined) | undefined;
}): Promise<LabelingEstimate> {
  const { panel } = options;
  await checkInputFile(options.input);
  const format = options.format ?? (await detectFormat({ file: options.input })).format;
  const models = criticModels(options);
  const protocolRounds = panel.panel.protocol === 'jury' ? 0 : panel.panel.maxRounds;
  const roundsPerDebate = 1 + protocolRounds + (panel.panel.blindFinalVote ? 1 : 0);
  const outputTokens = Math.min(panel.panel.maxTokens, OUTPUT_TOKENS_PER_TURN);
  const critics = panel.critics.length;
  const byModel = new Map<string, Usage>();
  const spend = (model: string, usage: Usage) => byModel.set(model, addUsage(byModel.get(model) ?? ZERO_USAGE, usage));
  const estimate: LabelingEstimate = {
    file: options.input,
    format,
    items: 0,
    rejectedLines: 0,
    rejectedItems: 0,
    roundsPerDebate,
    models: [],
    total: ZERO_USAGE,
  };

  for await (const result of readItems({
    file: options.input,
    format,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  })) {
    if (result.kind === 'rejected') {
      estimate.rejectedLines += 1;
      continue;
    }
    let setup: ReturnType<typeof createDebateSetup>;
    try {
      setup = createDebateSetup({ panel, input: result.item, defaultModel: options.defaultModel, ...pickOverride(options) });
    } catch (error) {
      if (error instanceof TribunalError) {
        estimate.rejectedItems += 1;
        continue;
      }
      throw error;
    }
    estimate.items += 1;
    let turnsPerRound = 0;
    for (const critic of panel.critics) {
      const subjects = subjectsFor({ setup, critic });
      turnsPerRound += subjects.length;
      // A verifier makes no model call (its turns cost the sandbox's time, not tokens).
      if (critic.kind === 'verifier') continue;
      const model = models.critics[critic.id] ?? options.defaultModel;
      const system = systemPromptFor({ panel, critic });
      for (const subject of subjects) {
        const messages = buildTurnMessages({ system, prompt: setup.input.prompt, subject, round: 0, kind: 'assess' });
        const first = estimateMessageTokens(messages);
        // Later rounds also show the critic's own and the others' latest turns.
        const later = first + critics * outputTokens;
        spend(model, {
          inputTokens: first + (roundsPerDebate - 1) * later,
          outputTokens: roundsPerDebate * outputTokens,
          calls: roundsPerDebate,
          costUsd: 0,
        });
      }
    }
    if (panel.chair && models.chair) {
      const texts = setup.input.candidates.reduce((sum, candidate) => sum + estimateTokens(candidate.text), 0);
      spend(models.chair, {
        // About 2,000 characters of instructions besides the candidates and the critics' last turns.
        inputTokens: texts + 500 + turnsPerRound * outputTokens,
        outputTokens,
        calls: 1,
        costUsd: 0,
      });
    }
  }

  for (const [model, usage] of byModel) {
    const pricing = options.priceOf ? options.priceOf(model) : priceOf(model);
    const priced = { ...usage, costUsd: costOf(pricing, usage) };
    estimate.models.push({ model, usage: priced, priced: pricing !== undefined });
    estimate.total = addUsage(estimate.total, priced);
  }
  return estimate;
}

/** The expected usage of one item under an estimate (the budget's prior before any item finished). */
export function perItemUsage(estimate: LabelingEstimate): Usage {
  const n = Math.max(1, estimate.items);
  const { inputTokens, outputTokens, calls, costUsd } = estimate.total;
  return { inputTokens: inputTokens / n, outputTokens: outputTokens / n, calls: calls / n, costUsd: costUsd / n };
}

function pickOverride(options: { modelOverride?: string | undefined }): { modelOverride?: string } {
  return options.modelOverride === undefined ? {} : { modelOverride: options.modelOverride };
}
