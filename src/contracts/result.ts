import { z } from 'zod';
import { AssessmentSchema, PairwiseJudgmentSchema, UsageSchema } from './assessment.js';
import { TurnErrorSchema } from './errors.js';
import { VerdictEventSchema } from './events.js';
import { ExecutionSummarySchema } from './execution.js';
import { ProtocolSchema } from './panel.js';

/** One critic turn as the engine keeps it: the outcome of one structured call, without its token stream. */
export const TurnRecordSchema = z.object({
  turnId: z.string().describe('Unique within the debate: round/critic/candidate.'),
  round: z.number().int().min(0),
  criticId: z.string(),
  candidateId: z.string().describe('The judged candidate; in pairwise mode "A-vs-B" naming the order shown.'),
  pair: z.tuple([z.string(), z.string()]).optional().describe('Pairwise mode: the candidate ids shown as A and as B.'),
  model: z.string(),
  status: z.enum(['ok', 'failed']),
  assessment: AssessmentSchema.optional(),
  judgment: PairwiseJudgmentSchema.optional(),
  principle: z
    .string()
    .optional()
    .describe('The constitution principle id the turn was judged by, when the panel samples one (`samplePrinciple`).'),
  error: TurnErrorSchema.optional(),
  usage: UsageSchema,
  attempts: z.number().int().min(1),
  execution: z
    .array(ExecutionSummarySchema)
    .optional()
    .describe('The execution results the turn saw (critics with tools on the panel): one per candidate judged.'),
});
export type TurnRecord = z.infer<typeof TurnRecordSchema>;

/** The chair's consensus-rationale call, when the panel has a chair. */
export const ChairTurnSchema = z.object({
  criticId: z.string(),
  model: z.string(),
  status: z.enum(['ok', 'failed']),
  rationale: z.string().optional(),
  error: TurnErrorSchema.optional(),
  usage: UsageSchema,
  attempts: z.number().int().min(1),
});
export type ChairTurn = z.infer<typeof ChairTurnSchema>;

/** The payload of a verdict event: the verdict without the event envelope. */
export const VerdictSchema = VerdictEventSchema.omit({ type: true, runId: true, debateId: true, seq: true, at: true });
export type Verdict = z.infer<typeof VerdictSchema>;

/** What one finished debate returns: the verdict, every critic turn and the usage totals. */
export const DebateResultSchema = z.object({
  runId: z.string(),
  debateId: z.string(),
  itemId: z.string().optional(),
  protocol: ProtocolSchema,
  verdict: VerdictSchema,
  turns: z.array(TurnRecordSchema).describe('Every critic turn in round order (failed ones included).'),
  chair: ChairTurnSchema.optional(),
  usage: UsageSchema.describe('Totals over every critic turn and the chair.'),
  failedTurns: z.number().int().min(0),
});
export type DebateResult = z.infer<typeof DebateResultSchema>;
