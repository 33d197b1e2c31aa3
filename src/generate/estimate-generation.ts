import { type InputFormat, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { detectFormat, readItems } from '../datasets/index.js';
import { costOf, lookupPricing, OPENAI_DEFAULT_BASE_URL, type PricingTable, type Settings } from '../models/index.js';
import type { PolicySpec } from './policy.js';

/** Characters per token in the estimate (as the labeling estimate). */
const CHARS_PER_TOKEN = 4;

/** The spend a generation run would cause. */
export interface GenerationEstimate {
  file: string;
  format: InputFormat;
  policy: string;
  /** Prompts that would be sampled. */
  prompts: number;
  /** Lines the importer would refuse. */
  rejectedLines: number;
  /** Samples per prompt. */
  n: number;
  /** Calls at most (OpenAI-compatible servers that take `n` need one per prompt; the bound assumes one per sample). */
  usage: Usage;
  /** Calls when the server takes `n` (OpenAI); equal to `usage.calls` otherwise. */
  callsWithN: number;
  /** False when the policy's price is unknown (its cost counts as 0); local policies are free and priced. */
  priced: boolean;
  /** Where the samples are drawn: a paid API, or this machine. */
  where: 'api' | 'local';
}

/**
 * Estimates a generation run without calling any model: per prompt, K samples of at most `maxTokens` output tokens
 * (an upper bound: samples that stop early cost less) and the prompt's characters / 4 as input tokens per call. Calls
 * count one per sample (one per prompt with `n` on OpenAI-compatible servers). Local policies (`fake:`, `local:`,
 * `tiny`, `checkpoint:`) cost nothing.
 * @example const estimate = await estimateGeneration({ input: 'prompts.jsonl', spec, n: 4, maxTokens: 256, settings });
 */
export async function estimateGeneration(options: {
  input: string;
  spec: PolicySpec;
  n: number;
  maxTokens: number;
  settings: Settings;
  limit?: number | undefined;
  format?: InputFormat | undefined;
  pricing?: PricingTable | undefined;
}): Promise<GenerationEstimate> {
  const format = options.format ?? (await detectFormat({ file: options.input })).format;
  const { spec, n } = options;
  const api = spec.kind === 'model' && (spec.provider === 'openai' || spec.provider === 'anthropic');
  const official =
    spec.kind === 'model' &&
    spec.provider === 'openai' &&
    new URL(options.settings.openaiBaseUrl ?? OPENAI_DEFAULT_BASE_URL).hostname === 'api.openai.com';
  const pricing = api
    ? lookupPricing(spec.id, { overrides: options.pricing, builtIn: spec.provider === 'anthropic' || official })
    : undefined;
  const estimate: GenerationEstimate = {
    file: options.input,
    format,
    policy: spec.id,
    prompts: 0,
    rejectedLines: 0,
    n,
    usage: ZERO_USAGE,
    callsWithN: 0,
    priced: !api || pricing !== undefined,
    where: api ? 'api' : 'local',
  };
  let inputTokens = 0;
  for await (const result of readItems({
    file: options.input,
    format,
    requireCandidates: false,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  })) {
    if (result.kind === 'rejected') {
      estimate.rejectedLines += 1;
      continue;
    }
    estimate.prompts += 1;
    const prompt = result.item.prompt;
    const chars = typeof prompt === 'string' ? prompt.length : prompt.reduce((sum, message) => sum + message.content.length, 0);
    inputTokens += Math.ceil(chars / CHARS_PER_TOKEN);
  }
  if (spec.kind === 'model' && spec.provider !== 'fake') {
    const calls = estimate.prompts * n;
    const usage = { inputTokens: inputTokens * n, outputTokens: calls * options.maxTokens, calls, costUsd: 0 };
    estimate.usage = { ...usage, costUsd: api ? costOf(pricing, usage) : 0 };
    estimate.callsWithN = spec.provider === 'openai' ? estimate.prompts : calls;
  }
  return estimate;
}
