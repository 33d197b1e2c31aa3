import { z } from 'zod';
import { UsageSchema } from './assessment.js';
import { PromptSchema } from './debate.js';
import { TRAINER_ERROR_CODES, TRAINER_PROTOCOL_VERSION, TrainerModelConfigSchema } from './trainer.js';

/*
 * Generation (`tribunal generate`): the samples a policy drew for one prompt, the candidates file it writes (the
 * native input format `tribunal label` reads, with per-candidate `meta`), and the Python worker's `generate` command
 * (`python3 -m trainers generate --config FILE`): its config and JSON-lines events.
 */

/** Why a sample ended: at the end-of-sequence token (or the provider's natural stop), or at the token limit. */
export const FinishReasonSchema = z.enum(['stop', 'length']);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

/** One sample as drawn: its index among the prompt's K samples, text, token count and log-probability when known. */
export const GenerationSampleSchema = z.object({
  index: z.number().int().min(0).describe('0-based sample index among the prompt’s K samples.'),
  text: z.string(),
  tokens: z.number().int().min(0).nullable().describe('Completion tokens; null when the policy does not say.'),
  logprob: z
    .number()
    .nullable()
    .describe('Summed log-probability of the completion (and its end-of-sequence token) under the policy; null when unknown.'),
  finish: FinishReasonSchema.nullable(),
  ref_logprob: z
    .number()
    .nullable()
    .optional()
    .describe('With a reference policy: the same completion’s summed log-probability under the reference.'),
});
export type GenerationSample = z.infer<typeof GenerationSampleSchema>;

/** What a generation run stores for one prompt once all its samples are drawn (one transaction). */
export const GeneratedPromptSchema = z.object({
  policy: z.string().min(1),
  samples: z.array(GenerationSampleSchema),
  usage: UsageSchema,
});
export type GeneratedPrompt = z.infer<typeof GeneratedPromptSchema>;

/** `meta` of a generated candidate in candidates.jsonl. */
export const GeneratedCandidateMetaSchema = z.looseObject({
  policy: z.string().describe('The policy that drew the sample (`tiny`, `checkpoint:DIR@step`, `openai:NAME`, …).'),
  sample: z.number().int().min(0).describe('The sample index (the first one, when identical samples were folded).'),
  tokens: z.number().int().min(0).nullable(),
  logprob: z.number().nullable().optional().describe('Present when the policy reports log-probabilities.'),
  refLogprob: z
    .number()
    .nullable()
    .optional()
    .describe('With --reference: the log-probability under the reference policy (logprob − refLogprob estimates the KL).'),
  finish: FinishReasonSchema.nullable(),
  copies: z.number().int().min(1).describe('How many of the K samples had exactly this text (1: unique).'),
});
export type GeneratedCandidateMeta = z.infer<typeof GeneratedCandidateMetaSchema>;

/** `meta.generation` of an item in candidates.jsonl: the policy and the deduplication counts. */
export const GenerationItemMetaSchema = z.object({
  policy: z.string(),
  samples: z.number().int().min(0).describe('Samples drawn (K).'),
  unique: z.number().int().min(0).describe('Distinct texts among them: the candidates of the row.'),
  duplicates: z.number().int().min(0).describe('samples − unique.'),
});
export type GenerationItemMeta = z.infer<typeof GenerationItemMetaSchema>;

/** One line of DIR/candidates.jsonl: a native input row (`tribunal label` reads it) with per-candidate meta. */
export const CandidatesRowSchema = z.object({
  id: z.string().min(1),
  prompt: PromptSchema,
  candidates: z.array(
    z.object({
      id: z.string().min(1).describe('`s<index>`: stable across reruns and resumes.'),
      text: z.string(),
      model: z.string(),
      meta: GeneratedCandidateMetaSchema,
    }),
  ),
  meta: z.looseObject({ generation: GenerationItemMetaSchema }),
});
export type CandidatesRow = z.infer<typeof CandidatesRowSchema>;

// ---------------------------------------------------------------------------------------------------------------------
// The worker's generate command
// ---------------------------------------------------------------------------------------------------------------------

/** One line of the prompts file Tribunal writes for the worker. */
export const GenerateWorkerPromptSchema = z.object({ id: z.string().min(1), prompt: PromptSchema });
export type GenerateWorkerPrompt = z.infer<typeof GenerateWorkerPromptSchema>;

const WorkerLoraSchema = z
  .strictObject({
    r: z.number().int().min(1),
    alpha: z.number().positive().optional(),
    dropout: z.number().min(0).max(0.99).optional(),
    target_modules: z.array(z.string().min(1)).min(1).optional(),
  })
  .nullable()
  .optional();

/** A policy the worker builds as `tribunal train dpo` built it: model, LoRA, init seed and a checkpoint to load. */
export const GenerateWorkerPolicySchema = z.strictObject({
  model: TrainerModelConfigSchema.optional(),
  lora: WorkerLoraSchema,
  seed: z.number().int().min(0).optional().describe('Model init seed (as in training).'),
  checkpoint: z.string().min(1).nullable().optional(),
});
export type GenerateWorkerPolicy = z.infer<typeof GenerateWorkerPolicySchema>;

/** The worker's generate config (trainers/generate.py `GenerateConfig`); paths are absolute. */
export const GenerateWorkerConfigSchema = z.strictObject({
  prompts: z.string().min(1),
  ...GenerateWorkerPolicySchema.shape,
  reference: GenerateWorkerPolicySchema.nullable().optional().describe('Also score every sample under this policy.'),
  device: z.enum(['auto', 'cpu', 'cuda']).optional(),
  max_prompt_length: z.number().int().min(1).optional(),
  sampling: z
    .strictObject({
      n: z.number().int().min(1).max(1024).optional(),
      temperature: z.number().min(0).max(10).optional(),
      top_p: z.number().gt(0).max(1).optional(),
      max_new_tokens: z.number().int().min(1).optional(),
      seed: z.number().int().min(0).optional(),
      batch_size: z.number().int().min(1).optional(),
      use_cache: z.boolean().optional(),
    })
    .optional(),
});
export type GenerateWorkerConfig = z.infer<typeof GenerateWorkerConfigSchema>;

const envelope = {
  v: z.literal(TRAINER_PROTOCOL_VERSION),
  seq: z.number().int().min(1),
  time: z.number(),
};

/** `start`: the policy is built and sampling begins. */
export const GenerateStartEventSchema = z.looseObject({
  type: z.literal('start'),
  ...envelope,
  command: z.literal('generate'),
  prompts: z.number().int().min(0),
  device: z.string(),
  torch: z.string(),
  checkpoint: z.string().nullable(),
  step: z.number().int().min(0),
  model: z.looseObject({ family: z.string(), parameters: z.number().int().min(0), lora: z.string().nullable() }),
});

/** `sample`: every sample of one prompt. */
export const GenerateSampleEventSchema = z.looseObject({
  type: z.literal('sample'),
  ...envelope,
  id: z.string().min(1),
  prompt_tokens: z.number().int().min(0),
  samples: z.array(GenerationSampleSchema).min(1),
});

/** `done`: every prompt sampled (`completed`) or stopped early (SIGTERM, the parent gone). */
export const GenerateDoneEventSchema = z.looseObject({
  type: z.literal('done'),
  ...envelope,
  status: z.enum(['completed', 'stopped']),
  prompts: z.number().int().min(0),
  samples: z.number().int().min(0),
  tokens: z.number().int().min(0),
  tokens_per_s: z.number().nullable(),
});

/** `error`: as the training commands' (trainers/errors.py). */
export const GenerateErrorEventSchema = z.looseObject({
  type: z.literal('error'),
  ...envelope,
  code: z.enum(TRAINER_ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
  file: z.string().optional(),
  line: z.number().int().min(1).nullable().optional(),
});

/** One stdout line of `python3 -m trainers generate`. */
export const GenerateEventSchema = z.discriminatedUnion('type', [
  GenerateStartEventSchema,
  GenerateSampleEventSchema,
  GenerateDoneEventSchema,
  GenerateErrorEventSchema,
]);
export type GenerateEvent = z.infer<typeof GenerateEventSchema>;
