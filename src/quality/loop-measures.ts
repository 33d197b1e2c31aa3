import { TribunalError } from '../contracts/index.js';
import { bootstrap, type Estimate, mean } from './stats.js';

/**
 * The measures `tribunal loop` reports after each iteration (docs/loop.md, "Measures"): diversity of a policy's
 * samples, the Monte-Carlo KL(policy ‖ reference), length drift, and the panel's pairwise win rate, raw and
 * length-controlled. Pure functions; the loop computes them on held-out prompts.
 */

/** z for a two-sided 95% normal interval. */
const Z95 = 1.959963984540054;

function requireFinite(value: number, field: string): number {
  if (!Number.isFinite(value))
    throw new TribunalError('INPUT_INVALID', `${field} must be a finite number, got ${String(value)}`, {
      location: { field },
    });
  return value;
}

/** Whitespace tokens of a text: split on runs of Unicode white space, case and punctuation kept, empty pieces dropped. */
export function whitespaceTokens(text: string): string[] {
  return text.split(/\s+/u).filter((token) => token.length > 0);
}

function ngrams(tokens: readonly string[], n: number): string[] {
  const grams: string[] = [];
  // JSON keeps the key unambiguous whatever characters the tokens hold.
  for (let index = 0; index + n <= tokens.length; index++) grams.push(JSON.stringify(tokens.slice(index, index + n)));
  return grams;
}

/** Diversity of a policy's samples. */
export interface Diversity {
  /** Unique unigrams / total unigrams over every sample; null when there are no tokens. */
  distinct1: number | null;
  /** Unique bigrams / total bigrams over every sample (bigrams never span two samples); null when there are none. */
  distinct2: number | null;
  /**
   * Mean over prompts (with ≥ 2 samples) of the mean Jaccard overlap |A ∩ B| / |A ∪ B| of the bigram sets of every
   * pair of that prompt's samples; 1 = the samples repeat each other, 0 = no shared bigram. Null when no prompt has a
   * scorable pair.
   */
  meanPairwiseOverlap: number | null;
  /** How many samples and prompts with ≥ 2 samples the measures rest on. */
  samples: number;
  promptsWithPairs: number;
}

/**
 * Distinct-1, distinct-2 (Li et al. 2016) over all samples, and the mean pairwise bigram overlap of one prompt's
 * samples. Tokens are whitespace tokens (`whitespaceTokens`). A pair whose samples both have no bigram (fewer than
 * two tokens each) is skipped: there is nothing to compare.
 * @example diversity({ samplesByPrompt: [['a b c', 'a b d'], ['x y']] }).distinct2 // 4 unique / 5 = 0.8
 */
export function diversity(options: { samplesByPrompt: readonly (readonly string[])[] }): Diversity {
  const unigrams = new Set<string>();
  const bigrams = new Set<string>();
  let totalUnigrams = 0;
  let totalBigrams = 0;
  let samples = 0;
  const promptOverlaps: number[] = [];
  for (const prompt of options.samplesByPrompt) {
    const sets: Set<string>[] = [];
    for (const text of prompt) {
      samples++;
      const tokens = whitespaceTokens(text);
      const grams = ngrams(tokens, 2);
      for (const token of tokens) unigrams.add(token);
      for (const gram of grams) bigrams.add(gram);
      totalUnigrams += tokens.length;
      totalBigrams += grams.length;
      sets.push(new Set(grams));
    }
    const overlaps: number[] = [];
    for (let i = 0; i < sets.length; i++)
      for (let j = i + 1; j < sets.length; j++) {
        const a = sets[i] as Set<string>;
        const b = sets[j] as Set<string>;
        let shared = 0;
        for (const gram of a) if (b.has(gram)) shared++;
        const union = a.size + b.size - shared;
        if (union > 0) overlaps.push(shared / union);
      }
    const promptMean = mean(overlaps);
    if (promptMean !== null) promptOverlaps.push(promptMean);
  }
  return {
    distinct1: totalUnigrams === 0 ? null : unigrams.size / totalUnigrams,
    distinct2: totalBigrams === 0 ? null : bigrams.size / totalBigrams,
    meanPairwiseOverlap: mean(promptOverlaps),
    samples,
    promptsWithPairs: promptOverlaps.length,
  };
}

/** A Monte-Carlo estimate of KL(policy ‖ reference) in nats. */
export interface KlEstimate {
  /** mean(logprob − refLogprob); null with no usable sample. */
  value: number | null;
  /** Standard error of the mean (sample standard deviation / √n); null for fewer than two samples. */
  standardError: number | null;
  /** The normal 95% interval value ± 1.96 · standardError; null for fewer than two samples. */
  low: number | null;
  high: number | null;
  /** Samples used, and samples skipped because one of the two log-probabilities was missing. */
  n: number;
  missing: number;
}

/**
 * KL(π ‖ π_ref) estimated from samples y ~ π as the mean of log π(y) − log π_ref(y) (sequence log-probabilities,
 * nats). Unbiased, but each term can be negative, so with few samples the estimate can be below 0 (the true KL
 * never is); read the interval, not only the point. Samples without both log-probabilities are skipped and counted.
 * @example klEstimate({ samples: [{ logprob: -3, refLogprob: -4 }, { logprob: -2, refLogprob: -2.5 }] }).value // 0.75
 */
export function klEstimate(options: {
  samples: readonly { logprob?: number | null | undefined; refLogprob?: number | null | undefined }[];
}): KlEstimate {
  const differences: number[] = [];
  let missing = 0;
  for (const [index, sample] of options.samples.entries()) {
    if (
      sample.logprob === null ||
      sample.logprob === undefined ||
      sample.refLogprob === null ||
      sample.refLogprob === undefined
    ) {
      missing++;
      continue;
    }
    differences.push(
      requireFinite(sample.logprob, `samples[${index}].logprob`) -
        requireFinite(sample.refLogprob, `samples[${index}].refLogprob`),
    );
  }
  const n = differences.length;
  const value = mean(differences);
  if (value === null || n < 2) return { value, standardError: null, low: null, high: null, n, missing };
  let squares = 0;
  for (const difference of differences) squares += (difference - value) ** 2;
  const standardError = Math.sqrt(squares / (n - 1) / n);
  return { value, standardError, low: value - Z95 * standardError, high: value + Z95 * standardError, n, missing };
}

/** Mean length of a policy's samples against a baseline's (policy_0's). */
export interface LengthDrift {
  meanTokens: number | null;
  baselineMeanTokens: number | null;
  /** meanTokens / baselineMeanTokens; null when either is missing or the baseline mean is 0. */
  ratio: number | null;
  /** meanTokens − baselineMeanTokens; null when either is missing. */
  difference: number | null;
}

/**
 * Length drift: the mean token count of the policy's samples against the baseline's, as a ratio and a difference.
 * @example lengthDrift({ tokens: [10, 20], baselineTokens: [10] }) // { meanTokens: 15, ratio: 1.5, difference: 5, ... }
 */
export function lengthDrift(options: { tokens: readonly number[]; baselineTokens: readonly number[] }): LengthDrift {
  const meanTokens = mean(options.tokens.map((value, index) => requireFinite(value, `tokens[${index}]`)));
  const baselineMeanTokens = mean(options.baselineTokens.map((value, index) => requireFinite(value, `baselineTokens[${index}]`)));
  if (meanTokens === null || baselineMeanTokens === null)
    return { meanTokens, baselineMeanTokens, ratio: null, difference: null };
  return {
    meanTokens,
    baselineMeanTokens,
    ratio: baselineMeanTokens === 0 ? null : meanTokens / baselineMeanTokens,
    difference: meanTokens - baselineMeanTokens,
  };
}

/** One judgement of a pair, by identity (not position): the policy's sample won, the baseline's won, or a tie. */
export type PairVerdict = 'policy' | 'baseline' | 'tie';

/**
 * One pair judged twice with the order swapped: `forward` with the policy's sample shown first, `swapped` with it
 * shown second. Lengths (tokens) are needed only by `lengthControlledWinRate`.
 */
export interface PairOutcome {
  forward: PairVerdict;
  swapped: PairVerdict;
  policyTokens?: number;
  baselineTokens?: number;
}

/** The outcome of a pair after the swap: the two judgements agree, or it is a tie. */
export function pairResult(outcome: PairOutcome): 'win' | 'loss' | 'tie' {
  if (outcome.forward !== outcome.swapped) return 'tie';
  return outcome.forward === 'policy' ? 'win' : outcome.forward === 'baseline' ? 'loss' : 'tie';
}

function pairScore(outcome: PairOutcome): number {
  const result = pairResult(outcome);
  return result === 'win' ? 1 : result === 'loss' ? 0 : 0.5;
}

/** A win rate with its 95% interval and the counts behind it. */
export interface WinRate extends Estimate {
  wins: number;
  losses: number;
  ties: number;
  /** Pairs whose two judgements disagreed (counted among the ties). */
  swapInconsistent: number;
}

function counts(outcomes: readonly PairOutcome[]): Omit<WinRate, keyof Estimate> {
  let wins = 0;
  let losses = 0;
  let ties = 0;
  let swapInconsistent = 0;
  for (const outcome of outcomes) {
    if (outcome.forward !== outcome.swapped) swapInconsistent++;
    const result = pairResult(outcome);
    if (result === 'win') wins++;
    else if (result === 'loss') losses++;
    else ties++;
  }
  return { wins, losses, ties, swapInconsistent };
}

/**
 * The policy's win rate over the baseline, (wins + ½ · ties) / pairs, with a seeded percentile-bootstrap 95% interval
 * over pairs (`bootstrap` of stats.ts). A pair counts as a win only when both orders prefer the policy; a pair whose two
 * judgements disagree (position bias, or one tie) counts as a tie.
 * @example winRate({ outcomes: [{ forward: 'policy', swapped: 'policy' }, { forward: 'policy', swapped: 'baseline' }] }).value // 0.75
 */
export function winRate(options: { outcomes: readonly PairOutcome[]; seed?: string; resamples?: number }): WinRate {
  const estimate = bootstrap({
    data: options.outcomes,
    statistic: (sample) => mean(sample.map(pairScore)),
    seed: `win-rate:${options.seed ?? 'loop'}`,
    ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
  });
  return { ...estimate, ...counts(options.outcomes) };
}

/** A fitted one-covariate logistic model of the pair score on the normalised length difference. */
export interface LengthControlledWinRate extends WinRate {
  /** Intercept θ and slope β of P(win) = σ(θ + β · z); null with no pair. */
  intercept: number | null;
  slope: number | null;
  /** The scale z is normalised by: the standard deviation of the token differences (1 when they do not vary). */
  lengthScale: number | null;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** L2 penalty on the slope, so perfectly separated data (every longer answer wins) still gives a finite fit. */
const RIDGE = 1e-3;

/**
 * Fits P(y) = σ(θ + β·z) to soft targets y ∈ {0, ½, 1} by Newton's method on the (ridge-penalised, on β only) log
 * likelihood; returns [θ, β].
 */
export function fitLogistic(zs: readonly number[], ys: readonly number[]): [number, number] {
  let theta = 0;
  let beta = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    let g0 = 0;
    let g1 = -RIDGE * beta;
    let h00 = 0;
    let h01 = 0;
    let h11 = RIDGE;
    for (let index = 0; index < zs.length; index++) {
      const z = zs[index] ?? 0;
      const p = sigmoid(theta + beta * z);
      const residual = (ys[index] ?? 0) - p;
      const weight = Math.max(p * (1 - p), 1e-12);
      g0 += residual;
      g1 += residual * z;
      h00 += weight;
      h01 += weight * z;
      h11 += weight * z * z;
    }
    const det = h00 * h11 - h01 * h01;
    if (!(det > 0)) break;
    const step0 = (h11 * g0 - h01 * g1) / det;
    const step1 = (h00 * g1 - h01 * g0) / det;
    theta += step0;
    beta += step1;
    if (Math.abs(step0) < 1e-10 && Math.abs(step1) < 1e-10) break;
  }
  return [theta, beta];
}

function lengthScaleOf(differences: readonly number[]): number {
  const center = mean(differences) ?? 0;
  let squares = 0;
  for (const difference of differences) squares += (difference - center) ** 2;
  const sd = differences.length < 2 ? 0 : Math.sqrt(squares / (differences.length - 1));
  return sd > 0 ? sd : 1;
}

function controlledRate(sample: readonly PairOutcome[]): number | null {
  if (sample.length === 0) return null;
  const scores = sample.map(pairScore);
  // Every pair scored alike (all wins, say): the maximum-likelihood rate is that score, whatever the lengths.
  if (scores.every((score) => score === scores[0])) return scores[0] ?? null;
  const differences = sample.map((outcome) => (outcome.policyTokens ?? 0) - (outcome.baselineTokens ?? 0));
  const scale = lengthScaleOf(differences);
  const [theta] = fitLogistic(
    differences.map((difference) => difference / scale),
    scores,
  );
  return sigmoid(theta);
}

/**
 * The length-controlled win rate ("AlpacaEval 2.0 length-controlled win rate, simplified to one covariate"): fits
 * P(policy wins) = σ(θ + β · z), z = (policyTokens − baselineTokens) / sd(token differences), to the pair scores
 * (win 1, tie ½, loss 0) by maximum likelihood, and reports σ(θ), the predicted win rate when both answers have the
 * same length. The interval is the seeded bootstrap over pairs, refitting each resample. Every outcome needs
 * `policyTokens` and `baselineTokens`.
 * @example lengthControlledWinRate({ outcomes }).value // near 0.5 when wins depend only on length
 */
export function lengthControlledWinRate(options: {
  outcomes: readonly PairOutcome[];
  seed?: string;
  resamples?: number;
}): LengthControlledWinRate {
  options.outcomes.forEach((outcome, index) => {
    for (const field of ['policyTokens', 'baselineTokens'] as const) {
      const value = outcome[field];
      if (value === undefined)
        throw new TribunalError('INPUT_INVALID', `outcomes[${index}].${field} is missing; length control needs both lengths`, {
          location: { field: `outcomes[${index}].${field}` },
        });
      requireFinite(value, `outcomes[${index}].${field}`);
    }
  });
  const estimate = bootstrap({
    data: options.outcomes,
    statistic: controlledRate,
    seed: `length-controlled-win-rate:${options.seed ?? 'loop'}`,
    ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
  });
  let intercept: number | null = null;
  let slope: number | null = null;
  let lengthScale: number | null = null;
  if (options.outcomes.length > 0) {
    const differences = options.outcomes.map((outcome) => (outcome.policyTokens ?? 0) - (outcome.baselineTokens ?? 0));
    lengthScale = lengthScaleOf(differences);
    const scale = lengthScale;
    [intercept, slope] = fitLogistic(
      differences.map((difference) => difference / scale),
      options.outcomes.map(pairScore),
    );
  }
  return { ...estimate, ...counts(options.outcomes), intercept, slope, lengthScale };
}
