import { z } from 'zod';
import {
  ConstitutionFrontMatterSchema,
  DebateEventSchema,
  LoopReportSchema,
  ModelsFileSchema,
  PanelSchema,
  PersonaFrontMatterSchema,
} from '../contracts/index.js';

/** JSON Schemas generated from the zod contracts, for editors (YAML language server) and docs. */
export function jsonSchemas(): Record<string, Record<string, unknown>> {
  const make = (schema: z.ZodType, title: string, description: string) => ({
    ...(z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>),
    title,
    description,
  });
  return {
    'panel.schema.json': make(
      PanelSchema,
      'Tribunal panel',
      'A panels/*.yaml file: personas, constitution, protocol, scale, rounds, aggregation.',
    ),
    'persona.schema.json': make(
      PersonaFrontMatterSchema,
      'Tribunal persona front matter',
      'The YAML front matter of a personas/*.md file.',
    ),
    'constitution.schema.json': make(
      ConstitutionFrontMatterSchema,
      'Tribunal constitution front matter',
      'The YAML front matter of a constitutions/*.md file; principles are "## id: Title" sections of the body.',
    ),
    'models.schema.json': make(
      ModelsFileSchema,
      'Tribunal models file',
      'A models file (--models FILE, TRIBUNAL_MODELS): openai: models served by fleets of OpenAI-compatible endpoints.',
    ),
    'loop-report.schema.json': make(
      LoopReportSchema,
      'Tribunal loop report',
      'DIR/report.json of `tribunal loop`: the loop status and, per iteration, win rates, length, diversity, KL and the stop rule.',
    ),
    'debate-event.schema.json': make(
      DebateEventSchema,
      'Tribunal DebateEvent',
      'One event of the debate stream (JSON lines from `tribunal debate --json`).',
    ),
  };
}
