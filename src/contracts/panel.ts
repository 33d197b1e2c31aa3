import { z } from 'zod';
import { IdSchema, ModelIdSchema } from './persona.js';

export const PROTOCOLS = ['simultaneous', 'one-by-one', 'jury'] as const;
export const ProtocolSchema = z.enum(PROTOCOLS);
export type Protocol = z.infer<typeof ProtocolSchema>;

/**
 * How critics' scores combine per debate. `length-controlled` is the weighted mean per debate, and a labeling run
 * with it regresses the run's score-on-length slope out of the consensus scores its pairs are built on (as
 * `--length-control` does).
 */
export const AGGREGATIONS = ['weighted-mean', 'median', 'trimmed-mean', 'length-controlled'] as const;
export const AggregationSchema = z.enum(AGGREGATIONS);
export type Aggregation = z.infer<typeof AggregationSchema>;

/** A panel member: a persona id (or path), optionally overriding its weight, model or temperature for this panel. */
export const PanelMemberSchema = z.union([
  z.string().min(1),
  z
    .object({
      persona: z.string().min(1),
      weight: z.number().positive().optional(),
      model: ModelIdSchema.optional(),
      temperature: z.number().min(0).max(2).optional(),
    })
    .strict(),
]);
export type PanelMember = z.infer<typeof PanelMemberSchema>;

export const ScaleSchema = z
  .object({ min: z.number().int(), max: z.number().int() })
  .strict()
  .refine((scale) => scale.max > scale.min, { message: 'scale.max must be greater than scale.min', path: ['max'] });
export type Scale = z.infer<typeof ScaleSchema>;

/**
 * A model's price in USD per million tokens. Keys of a prices table are model ids (`openai:my-model`) or id prefixes
 * ending in `*` (`local:*`, `openai:*`: every model of that provider or server).
 */
export const PriceSchema = z
  .object({
    input: z.number().finite().min(0).describe('USD per million input (prompt) tokens.'),
    output: z.number().finite().min(0).describe('USD per million output (completion) tokens.'),
  })
  .strict();
export type Price = z.infer<typeof PriceSchema>;

/** A model id, or an id prefix ending in `*`, as a key of a prices table. */
export const PriceKeySchema = z
  .string()
  .max(1000)
  .regex(
    /^[a-z][a-z0-9-]*:[^*]*\*?$/,
    'expected a model id "provider:model" (e.g. "openai:my-model") or a prefix ending in "*" (e.g. "local:*")',
  );

/** Prices per model id (USD per million input and output tokens); they override the built-in list prices. */
export const PricesSchema = z.record(PriceKeySchema, PriceSchema);
export type Prices = z.infer<typeof PricesSchema>;

/**
 * When a debate goes to a human: when the consensus probability of its top pair (the weighted share of critics whose
 * last scored round puts the winner above the runner-up, ties counting half) is below `belowConsensusProbability`.
 * Run as a LangGraph graph (Studio, LangGraph Server) the debate then interrupts for a human verdict.
 */
export const EscalateSchema = z
  .object({
    belowConsensusProbability: z
      .number()
      .min(0)
      .max(1)
      .describe('Escalate a debate whose consensus probability (0.5 = an even split, 1 = unanimous) is below this.'),
  })
  .strict();
export type Escalate = z.infer<typeof EscalateSchema>;

/** A panel file: who sits on it, under which constitution, how they debate and how their scores combine. */
export const PanelSchema = z
  .object({
    id: IdSchema,
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    personas: z.array(PanelMemberSchema).min(1, 'a panel needs at least one persona'),
    constitution: z.string().min(1).default('default').describe('A constitution id (from constitutions/) or a path to one.'),
    protocol: ProtocolSchema.default('simultaneous'),
    model: ModelIdSchema.optional().describe('Default model for every critic that does not name its own.'),
    scale: ScaleSchema.default({ min: 1, max: 10 }),
    maxRounds: z.number().int().min(0).max(10).default(2).describe('Debate rounds after the independent round 0.'),
    tolerance: z.number().min(0).default(1).describe('A candidate converges when its score spread is within this.'),
    aggregation: AggregationSchema.default('weighted-mean'),
    trim: z.number().min(0).max(0.49).default(0.2).describe('Fraction trimmed from each end for trimmed-mean.'),
    mode: z.enum(['pointwise', 'pairwise']).default('pointwise'),
    blindFinalVote: z.boolean().default(false).describe('After debate, each critic votes once more without seeing others.'),
    samplePrinciple: z
      .boolean()
      .optional()
      .describe('Each critic judges each candidate (or pair) by one constitution principle, sampled per comparison.'),
    randomizeOrder: z
      .boolean()
      .optional()
      .describe(
        "Pairwise: each critic judges each pair once, in a seeded random order, instead of in both orders. Debate rounds: the other critics' turns are shown in a seeded random order.",
      ),
    chair: IdSchema.optional().describe('A persona id that writes the consensus rationale.'),
    maxTokens: z.number().int().positive().default(600).describe('Output token limit per critic turn.'),
    temperature: z.number().min(0).max(2).default(0.2),
    escalate: EscalateSchema.optional().describe(
      'Send uncertain debates to a human: in a LangGraph graph, a debate whose consensus probability is below the threshold interrupts for a human verdict.',
    ),
    prices: PricesSchema.optional().describe(
      'USD per million input/output tokens by model id (or id prefix ending in "*"), for models without a built-in price. Not part of the panel hash.',
    ),
  })
  .strict();

export type Panel = z.infer<typeof PanelSchema>;
export type PanelInput = z.input<typeof PanelSchema>;

/** A critic as it sits on a panel: the persona with the panel's overrides applied. */
export interface Critic {
  id: string;
  name: string;
  description: string;
  focus: string;
  weight: number;
  /** Model id from the panel member, the persona or the panel, when any names one. */
  model?: string;
  temperature: number;
  principles: string[];
  rubric: Record<string, string>;
  /** The persona's Markdown body: its voice and instructions. */
  body: string;
  /** Content hash of the persona file (for caches and provenance). */
  hash: string;
  /** `verifier`: scores from the execution result alone, no model call. Absent means `critic`. */
  kind?: import('./persona.js').PersonaKind;
  /** Tools the engine runs before this critic judges (`run-python`). Absent means none. */
  tools?: import('./persona.js').PersonaTool[];
}

/** A panel with its personas and constitution loaded and validated, ready for the engine. */
export interface ResolvedPanel {
  panel: Panel;
  critics: Critic[];
  /** The chair persona, when the panel names one (it does not score). */
  chair?: Critic;
  constitution: import('./constitution.js').Constitution;
  /** Hash over the panel, every persona and the constitution: identifies this exact configuration. */
  hash: string;
  file?: string;
}
