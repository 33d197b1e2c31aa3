import { z } from 'zod';
import { IdSchema } from './persona.js';

/** One principle of a constitution, with a stable id that assessments cite. */
export const PrincipleSchema = z.object({
  id: IdSchema,
  title: z.string().min(1),
  text: z.string().min(1),
});

export type Principle = z.infer<typeof PrincipleSchema>;

/** The YAML front matter of a constitution file; the principles are `## id: Title` sections of its body. */
export const ConstitutionFrontMatterSchema = z
  .object({
    id: IdSchema,
    name: z.string().min(1),
    version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'use a version like "1.0" or "1.2.0"'),
    description: z.string().optional(),
  })
  .strict();

export const ConstitutionSchema = ConstitutionFrontMatterSchema.extend({
  preamble: z.string(),
  principles: z.array(PrincipleSchema).min(1),
  file: z.string().optional(),
  hash: z.string(),
});

export type Constitution = z.infer<typeof ConstitutionSchema>;
