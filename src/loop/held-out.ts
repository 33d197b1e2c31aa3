import { readFile } from 'node:fs/promises';
import {
  type CandidatesRow,
  CandidatesRowSchema,
  type LabelRow,
  LabelRowSchema,
  type Prompt,
  TribunalError,
} from '../contracts/index.js';
import { writeJsonlAtomic } from '../export/index.js';
import { mean, type PairOutcome, type PairVerdict } from '../quality/index.js';

/** One sample of a policy, folded copies expanded. */
export interface HeldOutSample {
  text: string;
  tokens: number | null;
  logprob: number | null;
  refLogprob: number | null;
}

/** A policy's held-out samples by prompt id, in sample order. */
export interface HeldOutSamples {
  prompts: Map<string, { prompt: Prompt; samples: HeldOutSample[] }>;
}

/** The rows of a candidates.jsonl a generation run wrote, each checked against its schema. */
export async function readCandidatesRows(file: string): Promise<CandidatesRow[]> {
  return readJsonl(file, (value, line) => {
    const parsed = CandidatesRowSchema.safeParse(value);
    if (!parsed.success) throw invalid(file, line, issueText(parsed.error.issues[0], 'not a candidates row'));
    return parsed.data;
  });
}

/** The candidates.jsonl a generation run wrote, as samples: a folded candidate counts `meta.copies` times. */
export async function readHeldOutSamples(file: string): Promise<HeldOutSamples> {
  const prompts = new Map<string, { prompt: Prompt; samples: HeldOutSample[] }>();
  for (const row of await readCandidatesRows(file)) {
    const samples: HeldOutSample[] = [];
    for (const candidate of [...row.candidates].sort((a, b) => a.meta.sample - b.meta.sample)) {
      for (let copy = 0; copy < candidate.meta.copies; copy++) {
        samples.push({
          text: candidate.text,
          tokens: candidate.meta.tokens,
          logprob: candidate.meta.logprob ?? null,
          refLogprob: candidate.meta.refLogprob ?? null,
        });
      }
    }
    prompts.set(row.id, { prompt: row.prompt, samples });
  }
  return { prompts };
}

/** The candidate ids a comparison item uses: the verdict is read by identity, never by position. */
export const COMPARE_IDS = { policy: 'policy', baseline: 'baseline' } as const;

/** One comparison: the policy's and the baseline's j-th sample of a prompt, and the ids of its two debates. */
export interface Comparison {
  key: string;
  promptId: string;
  /** The sample index j. */
  index: number;
  forwardId: string;
  swappedId: string;
  policyTokens: number | null;
  baselineTokens: number | null;
}

/**
 * The comparisons of a policy with a baseline on the held-out prompts: every prompt both answered and every sample
 * index j they share, the policy's j-th sample against the baseline's j-th. Deterministic: the same samples give the
 * same plan, so a resumed loop reads its verdicts back without storing the plan.
 */
export function planComparisons(policy: HeldOutSamples, baseline: HeldOutSamples): Comparison[] {
  const comparisons: Comparison[] = [];
  for (const [promptId, entry] of policy.prompts) {
    const other = baseline.prompts.get(promptId);
    if (!other) continue;
    const count = Math.min(entry.samples.length, other.samples.length);
    for (let index = 0; index < count; index++) {
      comparisons.push({
        ...comparisonIds(promptId, index),
        promptId,
        index,
        policyTokens: entry.samples[index]?.tokens ?? null,
        baselineTokens: other.samples[index]?.tokens ?? null,
      });
    }
  }
  return comparisons;
}

/** The ids of the comparison of a prompt's j-th samples and of its two debates. */
export function comparisonIds(promptId: string, index: number): Pick<Comparison, 'key' | 'forwardId' | 'swappedId'> {
  const key = `${promptId}#${index}`;
  return { key, forwardId: `${key}:forward`, swappedId: `${key}:swapped` };
}

/**
 * Writes the debates of `planComparisons` as native input for `tribunal label`: two items per comparison —
 * `forward` shows the policy's sample first, `swapped` shows it second — each with the candidates `policy` and
 * `baseline`, so a verdict is read by identity, never by position.
 */
export async function writeComparisons(options: {
  policy: HeldOutSamples;
  baseline: HeldOutSamples;
  file: string;
}): Promise<Comparison[]> {
  const comparisons = planComparisons(options.policy, options.baseline);
  const rows: unknown[] = [];
  for (const comparison of comparisons) {
    const mine = options.policy.prompts.get(comparison.promptId);
    const theirs = options.baseline.prompts.get(comparison.promptId);
    if (!mine || !theirs) continue;
    rows.push(
      ...comparisonItems({
        comparison,
        prompt: mine.prompt,
        policyText: mine.samples[comparison.index]?.text ?? '',
        baselineText: theirs.samples[comparison.index]?.text ?? '',
      }),
    );
  }
  await writeJsonlAtomic({ file: options.file, rows });
  return comparisons;
}

/** The two debates of one comparison: `forward` shows the policy's sample first, `swapped` shows it second. */
export function comparisonItems(options: {
  comparison: Pick<Comparison, 'forwardId' | 'swappedId'>;
  prompt: Prompt;
  policyText: string;
  baselineText: string;
}): [unknown, unknown] {
  const policy = { id: COMPARE_IDS.policy, text: options.policyText };
  const baseline = { id: COMPARE_IDS.baseline, text: options.baselineText };
  return [
    { id: options.comparison.forwardId, prompt: options.prompt, candidates: [policy, baseline] },
    { id: options.comparison.swappedId, prompt: options.prompt, candidates: [baseline, policy] },
  ];
}

/** What the panel's labels of the comparison debates say. */
export interface ComparisonVerdicts {
  outcomes: PairOutcome[];
  /** Comparisons with a debate that has no label (failed or refused): left out of the win rate. */
  missing: number;
  /** Mean consensus score of the policy's and the baseline's samples over every labeled debate. */
  meanPolicyScore: number | null;
  meanBaselineScore: number | null;
}

/** Reads labels.jsonl of the comparison run: each debate's verdict is the candidate with the higher consensus score. */
export async function readComparisonVerdicts(options: {
  labelsFile: string;
  comparisons: readonly Comparison[];
}): Promise<ComparisonVerdicts> {
  const rows = await readJsonl(options.labelsFile, (value, line) => {
    const parsed = LabelRowSchema.safeParse(value);
    if (!parsed.success) throw invalid(options.labelsFile, line, issueText(parsed.error.issues[0], 'not a label row'));
    return parsed.data;
  });
  const byId = new Map<string, LabelRow>();
  for (const row of rows as LabelRow[]) byId.set(row.id, row);
  const policyScores: number[] = [];
  const baselineScores: number[] = [];
  const verdictOf = (row: LabelRow | undefined): PairVerdict | undefined => {
    if (!row) return undefined;
    const policy = row.candidates.find((candidate) => candidate.id === COMPARE_IDS.policy)?.score ?? null;
    const baseline = row.candidates.find((candidate) => candidate.id === COMPARE_IDS.baseline)?.score ?? null;
    if (policy === null || baseline === null) return undefined;
    policyScores.push(policy);
    baselineScores.push(baseline);
    return policy > baseline ? 'policy' : baseline > policy ? 'baseline' : 'tie';
  };
  const outcomes: PairOutcome[] = [];
  let missing = 0;
  for (const comparison of options.comparisons) {
    const forward = verdictOf(byId.get(comparison.forwardId));
    const swapped = verdictOf(byId.get(comparison.swappedId));
    if (forward === undefined || swapped === undefined) {
      missing++;
      continue;
    }
    outcomes.push({
      forward,
      swapped,
      ...(comparison.policyTokens === null ? {} : { policyTokens: comparison.policyTokens }),
      ...(comparison.baselineTokens === null ? {} : { baselineTokens: comparison.baselineTokens }),
    });
  }
  return { outcomes, missing, meanPolicyScore: mean(policyScores), meanBaselineScore: mean(baselineScores) };
}

/** The JSON lines of a file a loop stage wrote, each parsed by `parse`; a bad line names its file and number. */
export async function readJsonl<T>(file: string, parse: (value: unknown, line: number) => T): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TribunalError('INTERNAL', `cannot read ${file}: ${(error as Error).message}`, { location: { file } });
  }
  const rows: T[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw invalid(file, index + 1, 'not JSON');
    }
    rows.push(parse(value, index + 1));
  }
  return rows;
}

function issueText(issue: { path: PropertyKey[]; message: string } | undefined, fallback: string): string {
  if (!issue) return fallback;
  return issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message;
}

function invalid(file: string, line: number, why: string): TribunalError {
  return new TribunalError('INTERNAL', `${file} line ${line}: ${why} (a loop stage wrote it; rerun to rewrite it)`, {
    location: { file, line },
  });
}
