import { z } from 'zod';

/** A stable identifier: lowercase letters, digits, dashes, underscores and dots. */
export const IdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lowercase letters, digits, ".", "-" or "_", starting with a letter or digit');

/** A model id such as `openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4-5`, `local:/path/model.gguf` or `fake:scripted`. */
export const ModelIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]*:.+$/, 'expected "provider:model", e.g. "openai:gpt-4.1-mini" or "local:/path/model.gguf"');

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
