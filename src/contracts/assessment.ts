import { z } from 'zod';
import type { Scale } from './panel.js';

/** Longest rationale accepted from a critic: long enough for a real argument, short enough to bound a turn. */
export const RATIONALE_MAX_CHARS = 2000;

/**
 * What a critic returns for one candidate in one round. The score is bounded by the panel scale,
 * so the schema is built per scale. Rationale comes first so models reason before they score.
 */
export function assessmentSchema(scale: Scale, principleIds: readonly string[] = []) {
  return z
    .object({
      rationale: z
        .string()
        .min(1)
        .max(RATIONALE_MAX_CHARS)
        .describe('Why this score: specific strengths and failures, and replies to other critics.'),
      principles: principlesSchema(principleIds).describe('Ids of constitution principles that bear on the score.'),
      score: z.number().min(scale.min).max(scale.max).describe(`Score from ${scale.min} (worst) to ${scale.max} (best).`),
      confidence: z.number().min(0).max(1).describe('How sure the critic is, from 0 to 1.'),
    })
    .strict();
}

/** Scale-independent form, used in events and stored rows. */
export const AssessmentSchema = z.object({
  rationale: z.string(),
  principles: z.array(z.string()),
  score: z.number(),
  confidence: z.number().min(0).max(1),
});
export type Assessment = z.infer<typeof AssessmentSchema>;

/** Cited principle ids: an enum of the constitution's ids when known, so models (and local grammars) cannot invent ids. */
function principlesSchema(principleIds: readonly string[]) {
  const [first, ...rest] = principleIds;
  const item = first === undefined ? z.string().max(64) : z.enum([first, ...rest]);
  return z.array(item).max(12);
}

/** The pairwise judgment a critic must return, with cited principles restricted to the constitution's ids. */
export function pairwiseJudgmentSchema(principleIds: readonly string[] = []) {
  return z
    .object({
      rationale: z.string().min(1).max(RATIONALE_MAX_CHARS),
      principles: principlesSchema(principleIds),
      preferred: z.enum(['A', 'B', 'tie']),
      confidence: z.number().min(0).max(1),
    })
    .strict();
}

/** What a critic returns when comparing two candidates shown as A and B (any principle ids: the stored form). */
export const PairwiseJudgmentSchema = z
  .object({
    rationale: z.string().min(1).max(RATIONALE_MAX_CHARS),
    principles: z.array(z.string().max(64)).max(12),
    preferred: z.enum(['A', 'B', 'tie']),
    confidence: z.number().min(0).max(1),
  })
  .strict();
export type PairwiseJudgment = z.infer<typeof PairwiseJudgmentSchema>;

/** Token usage and cost of one or more model calls. */
export const UsageSchema = z.object({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  calls: z.number().int().min(0),
  costUsd: z.number().min(0),
  estimatedCalls: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'Calls whose server reported no token usage: their tokens are estimated from the text (see docs/labeling.md), and so is their cost. Absent when every count is reported.',
    ),
});
export type Usage = z.infer<typeof UsageSchema>;

export const ZERO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 });

/** The sum of two usages; `estimatedCalls` is kept only when some call's tokens were estimated. */
export function addUsage(a: Usage, b: Usage): Usage {
  const sum: Usage = {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    calls: a.calls + b.calls,
    costUsd: a.costUsd + b.costUsd,
  };
  const estimated = (a.estimatedCalls ?? 0) + (b.estimatedCalls ?? 0);
  if (estimated > 0) sum.estimatedCalls = estimated;
  return sum;
}
