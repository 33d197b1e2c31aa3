import { z } from 'zod';

/** A stable identifier: lowercase letters, digits, dashes, underscores and dots. */
export const IdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lowercase letters, digits, ".", "-" or "_", starting with a letter or digit');

/** A model id such as `openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4-5`, `local:/path/model.gguf` or `fake:scripted`. */
export const ModelIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]*:.+$/, 'expected "provider:model", e.g. "openai:gpt-4.1-mini" or "local:/path/model.gguf"');

/** Tools a persona may declare: `run-python` runs each candidate's Python code (with the item's tests) in the sandbox. */
export const PERSONA_TOOLS = ['run-python'] as const;
export const PersonaToolSchema = z.enum(PERSONA_TOOLS);
export type PersonaTool = z.infer<typeof PersonaToolSchema>;

/** `critic` judges through its model; `verifier` scores from the execution result alone, with no model call. */
export const PersonaKindSchema = z.enum(['critic', 'verifier']);
export type PersonaKind = z.infer<typeof PersonaKindSchema>;

/** The YAML front matter of a persona file. */
export const PersonaFrontMatterSchema = z
  .object({
    id: IdSchema,
    name: z.string().min(1),
    description: z.string().min(1),
    focus: z.string().min(1).describe('What this critic judges, in a phrase.'),
    weight: z.number().positive().default(1),
    model: ModelIdSchema.optional(),
    temperature: z.number().min(0).max(2).optional(),
    principles: z.array(IdSchema).default([]).describe('Constitution principle ids this persona upholds.'),
    rubric: z
      .record(z.string().regex(/^\d+$/, 'rubric keys are scores on the panel scale, e.g. "1", "5", "10"'), z.string().min(1))
      .refine((rubric) => Object.keys(rubric).length >= 2, 'give at least two anchors, e.g. the lowest and highest score')
      .describe('Score anchors: what a given score means for this persona.'),
    kind: PersonaKindSchema.default('critic').describe(
      '`critic` (default) judges through a model; `verifier` makes no model call and scores from the execution result alone (share of tests passed on the panel scale); a verifier needs `tools: [run-python]`.',
    ),
    tools: z
      .array(PersonaToolSchema)
      .max(PERSONA_TOOLS.length)
      .default([])
      .describe(
        "Tools the engine runs for this critic before it judges: `run-python` runs the candidate's Python in the sandbox with the item's tests.",
      ),
  })
  .strict();

export type PersonaFrontMatter = z.infer<typeof PersonaFrontMatterSchema>;

/** A loaded persona: front matter, its Markdown body (voice and instructions), where it came from, and a content hash. */
export const PersonaSchema = PersonaFrontMatterSchema.extend({
  body: z.string(),
  file: z.string().optional(),
  hash: z.string(),
});

export type Persona = z.infer<typeof PersonaSchema>;
