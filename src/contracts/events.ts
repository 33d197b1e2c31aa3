import { z } from 'zod';
import { AssessmentSchema, PairwiseJudgmentSchema, UsageSchema } from './assessment.js';
import { CandidateSchema, PromptSchema } from './debate.js';
import { TurnErrorSchema } from './errors.js';
import { ExecutionResultSchema, ExecutionSummarySchema } from './execution.js';
import { AggregationSchema, ProtocolSchema, ScaleSchema } from './panel.js';

/** Fields every event carries: which run and debate, a per-debate increasing sequence number, and when. */
const base = {
  runId: z.string(),
  debateId: z.string(),
  seq: z.number().int().min(0),
  at: z.string().describe('ISO-8601 time the event was emitted.'),
};

/** Which turn an event belongs to, so parallel critics' tokens are attributable. */
const turn = {
  round: z
    .number()
    .int()
    .min(0)
    .describe('0 is the independent assessment; 1.. are debate rounds; the blind final vote is maxRounds + 1.'),
  criticId: z.string(),
  candidateId: z.string().describe('The judged candidate; in pairwise mode "A-vs-B" naming the order shown.'),
  turnId: z.string().describe('Unique within the debate: round/critic/candidate.'),
};

export const CriticInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  focus: z.string(),
  weight: z.number(),
  model: z.string(),
});
export type CriticInfo = z.infer<typeof CriticInfoSchema>;

export const DebateStartEventSchema = z.object({
  type: z.literal('debate-start'),
  ...base,
  itemId: z.string().optional(),
  panel: z.object({
    id: z.string(),
    hash: z.string(),
    protocol: ProtocolSchema,
    mode: z.enum(['pointwise', 'pairwise']),
    scale: ScaleSchema,
    maxRounds: z.number().int(),
    tolerance: z.number(),
    aggregation: AggregationSchema,
    constitution: z.object({ id: z.string(), version: z.string(), hash: z.string() }),
  }),
  critics: z.array(CriticInfoSchema),
  prompt: PromptSchema,
  candidates: z.array(CandidateSchema),
});

export const TurnStartEventSchema = z.object({ type: z.literal('turn-start'), ...base, ...turn, model: z.string() });

export const TurnDeltaEventSchema = z.object({ type: z.literal('turn-delta'), ...base, ...turn, text: z.string() });

export const TurnEndEventSchema = z.object({
  type: z.literal('turn-end'),
  ...base,
  ...turn,
  status: z.enum(['ok', 'failed', 'cached']),
  assessment: AssessmentSchema.optional(),
  judgment: PairwiseJudgmentSchema.optional().describe('Pairwise mode only.'),
  principle: z
    .string()
    .optional()
    .describe('The constitution principle id the turn was judged by, when the panel samples one (`samplePrinciple`).'),
  error: TurnErrorSchema.optional().describe('Why a failed turn failed; code `REFUSED` for a refusal or content filter.'),
  usage: UsageSchema,
  attempts: z.number().int().min(1),
  execution: z
    .array(ExecutionSummarySchema)
    .optional()
    .describe('The execution results the turn saw (critics with tools on the panel): one per candidate judged.'),
});

export const ToolResultEventSchema = z.object({
  type: z.literal('tool-result'),
  ...base,
  tool: z.literal('run-python'),
  candidateId: z.string(),
  key: z.string().describe('Hash of the code, tests and entry point: the same key is the same run.'),
  code: z.object({
    source: z.enum(['fenced', 'whole-text']).describe('Fenced Python blocks of the candidate, or its whole text.'),
    blocks: z.number().int().min(0),
    chars: z.number().int().min(0),
  }),
  withTests: z.boolean().describe("Whether the item's tests ran; otherwise the program ran alone."),
  result: ExecutionResultSchema,
});

export const CandidateRoundSchema = z.object({
  candidateId: z.string(),
  scores: z.record(z.string(), z.number()).describe('criticId -> score, only critics whose turn succeeded.'),
  spread: z.number(),
  converged: z.boolean(),
});

export const RoundEndEventSchema = z.object({
  type: z.literal('round-end'),
  ...base,
  round: z.number().int().min(0),
  candidates: z.array(CandidateRoundSchema),
  converged: z.boolean().describe('True when every candidate converged; the debate stops.'),
});

export const CandidateVerdictSchema = z.object({
  candidateId: z.string(),
  score: z.number().nullable().describe('Consensus score; null when no turn succeeded for this candidate.'),
  rank: z.number().int().min(1),
  mean: z.number().nullable(),
  median: z.number().nullable(),
  stdev: z.number().nullable(),
  spread: z.number().nullable(),
  agreement: z.number().min(0).max(1).nullable().describe('1 - spread / scale range.'),
  turns: z.number().int().min(0).describe('Successful final-round turns the consensus rests on.'),
  failedTurns: z.number().int().min(0),
  perCritic: z.record(z.string(), z.array(z.number().nullable())).describe('criticId -> score per round (null = failed).'),
  wins: z
    .number()
    .optional()
    .describe('Pairwise mode: consistent wins (both orders; with panel `randomizeOrder`, the one order judged).'),
});
export type CandidateVerdict = z.infer<typeof CandidateVerdictSchema>;

export const VerdictEventSchema = z.object({
  type: z.literal('verdict'),
  ...base,
  candidates: z.array(CandidateVerdictSchema),
  ranking: z.array(z.string()).describe('Candidate ids, best first.'),
  roundsUsed: z.number().int().min(0),
  aggregation: AggregationSchema,
  rationale: z.string().optional().describe("The chair persona's consensus rationale, when the panel has a chair."),
  inconsistent: z
    .array(z.object({ criticId: z.string(), pair: z.tuple([z.string(), z.string()]) }))
    .optional()
    .describe('Pairwise mode: critics whose preference flipped with the order shown; empty with panel `randomizeOrder`.'),
});

export const DebateEndEventSchema = z.object({
  type: z.literal('debate-end'),
  ...base,
  usage: UsageSchema,
  turns: z.number().int(),
  failedTurns: z.number().int(),
});

export const DebateErrorEventSchema = z.object({
  type: z.literal('debate-error'),
  ...base,
  code: z.string(),
  message: z.string(),
});

/** The one event stream: the engine emits it, the store persists it, the server sends it, the CLI and viewer draw it. */
export const DebateEventSchema = z.discriminatedUnion('type', [
  DebateStartEventSchema,
  TurnStartEventSchema,
  TurnDeltaEventSchema,
  TurnEndEventSchema,
  ToolResultEventSchema,
  RoundEndEventSchema,
  VerdictEventSchema,
  DebateEndEventSchema,
  DebateErrorEventSchema,
]);

export type DebateEvent = z.infer<typeof DebateEventSchema>;
export type DebateEventType = DebateEvent['type'];
export type DebateEventOf<T extends DebateEventType> = Extract<DebateEvent, { type: T }>;
export type VerdictEvent = DebateEventOf<'verdict'>;
