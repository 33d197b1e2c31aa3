import { z } from 'zod';
import { UsageSchema } from './assessment.js';
import { CandidateSchema, ChatMessageSchema, PromptSchema } from './debate.js';
import { TurnErrorSchema } from './errors.js';
import { ExecutionSummarySchema } from './execution.js';

/*
 * Dataset rows: what goes in (input items, in our native format or imported from HH-RLHF / TRL) and what
 * comes out (labels.jsonl, pairs.jsonl in TRL or OpenAI preference format).
 */

// ---------------------------------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------------------------------

/** The input formats the importers understand. */
export const INPUT_FORMATS = ['native', 'hh-rlhf', 'trl', 'humaneval'] as const;
export const InputFormatSchema = z.enum(INPUT_FORMATS);
export type InputFormat = z.infer<typeof InputFormatSchema>;

/** A candidate in a native input row: bare text (gets id `c1..cN` by position) or an object with its own id. */
export const NativeCandidateSchema = z.union([
  z.string({ error: 'a candidate is a string or an object { "id", "text", "model"? }' }),
  z.object({
    id: z.union([z.string().min(1), z.number()], { error: 'candidate id must be a non-empty string or a number' }).optional(),
    text: z.string({ error: 'candidate text must be a string' }),
    model: z.string({ error: 'candidate model must be a string such as "gpt-4"' }).optional(),
  }),
]);
export type NativeCandidate = z.infer<typeof NativeCandidateSchema>;

/**
 * One line of a native input file: `{"id"?, "prompt" | "messages", "candidates": [...], "meta"?}`.
 * `prompt` is text or a chat; `messages` is a chat (the candidates answer its last turn).
 */
export const NativeInputRowSchema = z.object({
  id: z.union([z.string().min(1), z.number()], { error: 'id must be a non-empty string or a number' }).optional(),
  prompt: PromptSchema.optional(),
  messages: z.array(ChatMessageSchema).min(1, 'messages must hold at least one message').optional(),
  candidates: z
    .array(NativeCandidateSchema, { error: 'candidates must be a list of strings or { "id", "text" } objects' })
    .min(1, 'candidates is empty: give at least one candidate answer'),
  meta: z.record(z.string(), z.unknown(), { error: 'meta must be an object' }).optional(),
});
export type NativeInputRow = z.infer<typeof NativeInputRowSchema>;

/** One line of Anthropic HH-RLHF: two full dialogues that share everything up to the last `\n\nAssistant:` turn. */
export const HhRlhfRowSchema = z.object({
  chosen: z.string({ error: 'chosen must be a dialogue string ("\\n\\nHuman: ...\\n\\nAssistant: ...")' }),
  rejected: z.string({ error: 'rejected must be a dialogue string ("\\n\\nHuman: ...\\n\\nAssistant: ...")' }),
});
export type HhRlhfRow = z.infer<typeof HhRlhfRowSchema>;

/** What the importers know about an item beyond the debate input; other keys come from a native row's `meta`. */
export const ItemMetaSchema = z.looseObject({
  source: InputFormatSchema.optional().describe('The format the item was imported from.'),
  humanPreferred: z.string().optional().describe('Candidate id a human preferred (HH-RLHF, TRL): gold for agreement checks.'),
  conversational: z.boolean().optional().describe('True when the source row was a chat (exports keep the chat shape).'),
});
export type ItemMeta = z.infer<typeof ItemMetaSchema>;

/** An imported item: a debate input with a guaranteed id, plus what the importer knows about it. */
export const DatasetItemSchema = z.object({
  id: z.string().min(1),
  prompt: PromptSchema,
  candidates: z.array(CandidateSchema).min(1),
  meta: ItemMetaSchema,
});
export type DatasetItem = z.infer<typeof DatasetItemSchema>;

// ---------------------------------------------------------------------------------------------------------------------
// labels.jsonl
// ---------------------------------------------------------------------------------------------------------------------

/** One critic's turn on one candidate in one round, as kept in a label row. */
export const LabelTurnSchema = z.object({
  round: z.number().int().min(0),
  status: z.enum(['ok', 'failed', 'cached']),
  score: z.number().nullable().describe('null when the turn failed.'),
  confidence: z.number().min(0).max(1).optional(),
  rationale: z.string().optional(),
  principles: z.array(z.string()).optional(),
  principle: z
    .string()
    .optional()
    .describe('The constitution principle id the critic was told to judge by, when the panel samples one (`samplePrinciple`).'),
  error: TurnErrorSchema.optional(),
});
export type LabelTurn = z.infer<typeof LabelTurnSchema>;

/** A candidate's consensus label: score, rank, agreement and every critic's turns. */
export const LabelCandidateSchema = z.object({
  id: z.string().min(1),
  text: z.string().optional().describe('The candidate answer; needed to export preference pairs.'),
  model: z.string().optional(),
  score: z.number().nullable().describe('Consensus score on the panel scale; null when no turn succeeded.'),
  rank: z.number().int().min(1),
  agreement: z.number().min(0).max(1).nullable().describe('1 - spread / scale range of the final-round scores.'),
  mean: z.number().nullable(),
  median: z.number().nullable(),
  stdev: z.number().nullable(),
  turns: z.number().int().min(0).describe('Successful final-round turns the consensus rests on.'),
  failedTurns: z.number().int().min(0),
  critics: z.record(z.string(), z.array(LabelTurnSchema)).describe('criticId -> turns in round order.'),
  execution: ExecutionSummarySchema.omit({ candidateId: true })
    .optional()
    .describe("The sandbox's run of the candidate's code (panels with a run-python critic): status and tests passed of total."),
});
export type LabelCandidate = z.infer<typeof LabelCandidateSchema>;

/** A failed critic turn and why it failed. */
export const FailedTurnSchema = z.object({
  round: z.number().int().min(0),
  criticId: z.string(),
  candidateId: z.string(),
  code: z.string(),
  message: z.string(),
});
export type FailedTurn = z.infer<typeof FailedTurnSchema>;

/** Which panel produced a label: enough provenance to reproduce it and to describe it in a dataset card. */
export const LabelPanelSchema = z.object({
  id: z.string(),
  hash: z.string(),
  protocol: z.string(),
  aggregation: z.string(),
  scale: z.object({ min: z.number(), max: z.number() }),
  constitution: z.object({ id: z.string(), version: z.string(), hash: z.string() }).optional(),
  critics: z.array(z.object({ id: z.string(), model: z.string(), weight: z.number() })),
});
export type LabelPanel = z.infer<typeof LabelPanelSchema>;

/** What the prompt-injection detector flags (docs/prompt-injection.md). */
export const INJECTION_FLAGS = [
  'judge-instruction',
  'forged-delimiter',
  'role-marker',
  'score-demand',
  'fake-assessment',
  'obfuscated',
] as const;
export const InjectionFlagSchema = z
  .enum(INJECTION_FLAGS)
  .describe(
    'judge-instruction: instructions to the evaluator; forged-delimiter: a data-block or chat-template delimiter; ' +
      'role-marker: a system/developer turn or our [user]/[assistant] lines; score-demand: a demand for a score or a ' +
      "preference; fake-assessment: JSON shaped like a critic's output; obfuscated: one of these found only after undoing " +
      'an obfuscation.',
  );
export type InjectionFlag = z.infer<typeof InjectionFlagSchema>;

/** Which texts of a label row address the judge instead of the user; only flagged texts are listed. */
export const LabelFlagsSchema = z.object({
  prompt: z.array(InjectionFlagSchema).min(1).optional().describe("The prompt's flags (any message of a conversation)."),
  candidates: z
    .record(z.string(), z.array(InjectionFlagSchema).min(1))
    .optional()
    .describe('candidateId -> the flags its text raised.'),
});
export type LabelFlags = z.infer<typeof LabelFlagsSchema>;

/**
 * An item the panel was unsure of, under a panel `escalate` rule: labeled as usual and queued for a human
 * (docs/labeling.md, Review queue).
 */
export const LabelReviewSchema = z.object({
  escalated: z.literal(true),
  consensusProbability: z.number().min(0).max(1).describe("The top pair's consensus probability, below the threshold."),
  threshold: z.number().min(0).max(1).describe("The panel's `escalate.belowConsensusProbability`."),
  answered: z
    .boolean()
    .optional()
    .describe("In an export: true when a human verdict (the viewer's override) answered the review; see meta.humanOverride."),
});
export type LabelReview = z.infer<typeof LabelReviewSchema>;

/** One line of labels.jsonl: the consensus of one debate over one item. */
export const LabelRowSchema = z.object({
  id: z.string().min(1).describe('The item id.'),
  prompt: PromptSchema,
  candidates: z.array(LabelCandidateSchema).min(1),
  ranking: z.array(z.string()).describe('Candidate ids, best first.'),
  roundsUsed: z.number().int().min(0),
  panel: LabelPanelSchema,
  usage: UsageSchema.describe('Tokens and cost of the whole debate.'),
  failedTurns: z.array(FailedTurnSchema),
  rationale: z.string().optional().describe("The chair's consensus rationale, when the panel has a chair."),
  flags: LabelFlagsSchema.optional().describe(
    'Prompt-injection flags (docs/prompt-injection.md): texts that address the judge; absent when nothing was flagged.',
  ),
  consensusProbability: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(
      'Weighted share of critics whose last scored round ranks the top candidate above the runner-up (ties half); absent with one candidate or when no critic scored both.',
    ),
  review: LabelReviewSchema.optional().describe('Present when the panel escalates this item to a human (panel `escalate`).'),
  runId: z.string().optional(),
  debateId: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
export type LabelRow = z.infer<typeof LabelRowSchema>;

// ---------------------------------------------------------------------------------------------------------------------
// pairs.jsonl: TRL preference format
// ---------------------------------------------------------------------------------------------------------------------

/*
 * TRL "preference" type (https://huggingface.co/docs/trl/dataset_formats, "Preference"):
 *   standard:        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
 *   conversational:  {"prompt": [{"role": "user", "content": ...}],
 *                     "chosen": [{"role": "assistant", "content": ...}], "rejected": [{"role": "assistant", ...}]}
 * Both also come with an implicit prompt (no "prompt" column; chosen/rejected hold the whole text or chat);
 * TRL recommends the explicit form, which is what we write. Extra columns are ignored by TRL trainers.
 */

/** A completion message in a conversational TRL row. */
export const AssistantMessageSchema = z.object({ role: z.literal('assistant'), content: z.string() });
export type AssistantMessage = z.infer<typeof AssistantMessageSchema>;

/** TRL's standard preference row with an explicit prompt. */
export const TrlStandardPreferenceSchema = z.object({
  prompt: z.string(),
  chosen: z.string(),
  rejected: z.string(),
});

/** TRL's conversational preference row with an explicit prompt. */
export const TrlConversationalPreferenceSchema = z.object({
  prompt: z.array(ChatMessageSchema).min(1),
  chosen: z.array(AssistantMessageSchema).length(1),
  rejected: z.array(AssistantMessageSchema).length(1),
});

/** Any TRL preference row as found in the wild: standard or conversational, explicit or implicit prompt. */
export const TrlPreferenceInputRowSchema = z.object({
  prompt: z
    .union([z.string(), z.array(ChatMessageSchema)], { error: 'prompt must be a string or a list of messages' })
    .optional(),
  chosen: z.union([z.string(), z.array(ChatMessageSchema)], { error: 'chosen must be a string or a list of messages' }),
  rejected: z.union([z.string(), z.array(ChatMessageSchema)], { error: 'rejected must be a string or a list of messages' }),
  id: z.union([z.string().min(1), z.number()]).optional(),
});
export type TrlPreferenceInputRow = z.infer<typeof TrlPreferenceInputRowSchema>;

/** Columns we add to every exported pair: how sure the panel was, and where the pair came from. */
export const PairProvenanceSchema = z.object({
  id: z.string().describe('The item id.'),
  chosen_id: z.string(),
  rejected_id: z.string(),
  score_chosen: z.number(),
  score_rejected: z.number(),
  margin: z.number().positive().describe('score_chosen - score_rejected, in panel scale units.'),
  confidence: z.number().min(0).max(1).nullable().describe('The lower agreement of the two candidates.'),
  panel_hash: z.string(),
  votes: z
    .object({ chosen: z.number().int().min(0), rejected: z.number().int().min(0), tie: z.number().int().min(0) })
    .optional()
    .describe('With uncertainty columns: critics preferring the chosen answer, the rejected one, or neither.'),
  consensus_probability: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('With uncertainty columns: weighted share of critics preferring the chosen answer (ties half).'),
  disagreement: z.number().min(0).max(1).optional().describe('With uncertainty columns: 1 - |2p - 1|.'),
  label_smoothing: z
    .number()
    .min(0)
    .max(0.5)
    .optional()
    .describe('With uncertainty columns: suggested DPO label smoothing (cDPO), 1 - consensus_probability clipped to 0.5.'),
});

export type PairProvenance = z.infer<typeof PairProvenanceSchema>;

/** One line of pairs.jsonl in TRL preference format (standard or conversational) with provenance columns. */
export const PreferencePairSchema = z.union([
  TrlStandardPreferenceSchema.extend(PairProvenanceSchema.shape),
  TrlConversationalPreferenceSchema.extend(PairProvenanceSchema.shape),
]);
export type PreferencePair = z.infer<typeof PreferencePairSchema>;

// ---------------------------------------------------------------------------------------------------------------------
// pairs.openai.jsonl: OpenAI preference (DPO) fine-tuning
// ---------------------------------------------------------------------------------------------------------------------

/**
 * One line of an OpenAI preference fine-tuning file
 * (https://platform.openai.com/docs/guides/direct-preference-optimization, "Data format"): the conversation in
 * `input.messages`, exactly one assistant message in each of `preferred_output` and `non_preferred_output`.
 * `input.tools` and `input.parallel_tool_calls` are optional there and never written here; no extra keys.
 */
export const OpenAiPreferenceRowSchema = z
  .object({
    input: z.object({ messages: z.array(ChatMessageSchema).min(1) }).strict(),
    preferred_output: z.array(AssistantMessageSchema).length(1),
    non_preferred_output: z.array(AssistantMessageSchema).length(1),
  })
  .strict();
export type OpenAiPreferenceRow = z.infer<typeof OpenAiPreferenceRowSchema>;
