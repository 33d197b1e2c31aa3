import { z } from 'zod';
import type { Scale } from './panel.js';

/**
 * What a critic returns for one candidate in one round. The score is bounded by the panel scale,
 * so the schema is built per scale. Rationale comes first so models reason before they score.
 */
export function assessmentSchema(scale: Scale) {
  return z
    .object({
      rationale: z.string().min(1).describe('Why this score: specific strengths and failures, and replies to other critics.'),
      principles: z.array(z.string()).describe('Ids of constitution principles that bear on the score.'),
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

/** What a critic returns when comparing two candidates shown as A and B. */
export const PairwiseJudgmentSchema = z
  .object({
    rationale: z.string().min(1),
    principles: z.array(z.string()),
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
});
export type Usage = z.infer<typeof UsageSchema>;

export const ZERO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 });

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    calls: a.calls + b.calls,
    costUsd: a.costUsd + b.costUsd,
  };
}
