import { z } from 'zod';

/*
 * The report of `tribunal loop --out DIR` (`DIR/report.json`): written by src/loop at every stage change and after
 * every iteration, read back by `tribunal serve` for the viewer's Loop tab. docs/loop.md explains every measure.
 */

/** A measure that cannot be computed yet (no comparison, no samples) is null. */
const measure = z.number().nullable();
/** A 95% interval `[low, high]`, or null. */
const interval = z.tuple([z.number(), z.number()]).nullable();
/** Paths and messages in a report are short; a longer one means the file is not a loop report. */
const text = z.string().max(4096);

/** A stop rule that fired after an iteration. */
export const FiredStopRuleSchema = z.object({
  rule: z.enum(['max-kl', 'min-win-rate-gain', 'max-length-drift', 'min-diversity']),
  value: z.number(),
  threshold: z.number(),
  message: text.describe('What fired and why, for people (names the measure, its value and the threshold).'),
});
export type FiredStopRule = z.infer<typeof FiredStopRuleSchema>;

/** The measures of one iteration: policy_i was trained into policy_{i+1}, measured on the held-out prompts. */
export const IterationReportSchema = z.object({
  iteration: z.number().int().min(0).describe('i: this iteration trained policy_i into policy_{i+1}.'),
  policy: text.describe('policy_{i+1} (`checkpoint:DIR`).'),
  samples: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  pairs: z.number().int().min(0),
  cutOffCompletions: z
    .number()
    .int()
    .min(0)
    .describe('Completions in those pairs that the policy did not end (cut off at --max-tokens): trained without EOS.'),
  trainerAccuracy: measure.describe("The trainer's own held-out DPO implicit-reward accuracy (null without a split)."),
  winRate: measure.describe('Panel win rate of policy_{i+1} over policy_i (order-swapped pairwise debates; ties count half).'),
  winRateInterval: interval,
  wins: z.number().int().min(0),
  losses: z.number().int().min(0),
  ties: z.number().int().min(0),
  swapInconsistent: z.number().int().min(0),
  comparisons: z.number().int().min(0),
  missingComparisons: z.number().int().min(0).describe('Comparisons with a debate that failed: left out.'),
  winRateVsInitial: measure.describe('Win rate of policy_{i+1} over policy_0.'),
  winRateVsInitialInterval: interval,
  lengthControlledWinRate: measure.describe('Win rate of two answers of the same length, vs policy_i.'),
  lengthControlledWinRateInterval: interval,
  lengthControlledWinRateVsInitial: measure,
  meanConsensus: measure.describe("Mean consensus score of policy_{i+1}'s held-out samples (in the debates against policy_0)."),
  meanTokens: measure.describe("Mean tokens of policy_{i+1}'s held-out samples."),
  lengthDrift: measure.describe("meanTokens / policy_0's mean tokens."),
  distinct1: measure,
  distinct2: measure,
  pairwiseOverlap: measure,
  kl: measure.describe('KL(policy_{i+1} ‖ policy_0) in nats per sample, from samples.'),
  klInterval: interval,
  goldAgreement: measure.describe("With --gold: share of the human pairs the policy's implicit reward orders as the humans did."),
  stopRule: FiredStopRuleSchema.nullable(),
});
export type IterationReport = z.infer<typeof IterationReportSchema>;

/** policy_0's own held-out measures: the baseline every curve starts from. */
export const InitialReportSchema = z.object({
  policy: text,
  meanTokens: measure,
  distinct1: measure,
  distinct2: measure,
  pairwiseOverlap: measure,
  meanConsensus: measure,
});
export type InitialReport = z.infer<typeof InitialReportSchema>;

/** Iterations a report may list (a loop runs a handful; far more means the file is not a loop report). */
export const MAX_LOOP_ITERATIONS = 1000;

/** DIR/report.json. */
export const LoopReportSchema = z.object({
  version: z.literal(1),
  status: z.enum(['running', 'done', 'stopped']),
  stage: text.nullable().describe('The stage the loop is in while running (`iteration 1: label`).'),
  prompts: z.object({ file: text, train: z.number().int().min(0), heldOut: z.number().int().min(0) }),
  policy: text,
  iterationsRequested: z.number().int().min(1).max(MAX_LOOP_ITERATIONS),
  reference: z.enum(['initial', 'previous']),
  initial: InitialReportSchema.nullable(),
  iterations: z.array(IterationReportSchema).max(MAX_LOOP_ITERATIONS),
  stoppedBy: FiredStopRuleSchema.nullable(),
});
export type LoopReport = z.infer<typeof LoopReportSchema>;
