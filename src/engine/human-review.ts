import { interrupt } from '@langchain/langgraph';
import { z } from 'zod';
import type { DebateResult, Prompt, ResolvedPanel } from '../contracts/index.js';
import type { DebateSetup } from './debate-setup.js';

/** Longest note a human verdict keeps. */
export const HUMAN_NOTE_MAX_CHARS = 2000;

/**
 * What a reviewer resumes an escalated debate with (`new Command({ resume })`), the same choices as the viewer's
 * override: `prefer` a candidate (the gold label), or mark the panel's verdict `wrong` without naming a better one.
 */
export const HumanVerdictInputSchema = z
  .object({
    kind: z.enum(['prefer', 'wrong']),
    candidateId: z.string().min(1).max(200).optional(),
    note: z.string().max(HUMAN_NOTE_MAX_CHARS).optional(),
  })
  .strict();
export type HumanVerdictInput = z.infer<typeof HumanVerdictInputSchema>;

/** A human verdict as the graph records it: `source: 'human'`, like an exported row's `meta.humanOverride`. */
export interface HumanVerdict extends HumanVerdictInput {
  source: 'human';
  createdAt: string;
}

/** One candidate as the reviewer sees it: its text, consensus score and rank, and each critic's last score and rationale. */
export interface ReviewCandidate {
  candidateId: string;
  text: string;
  score: number | null;
  rank: number;
  critics: { criticId: string; score: number | null; rationale?: string }[];
}

/** The value an escalated debate interrupts with (what Studio shows and an SDK client reads from the interrupt). */
export interface ReviewRequest {
  debateId: string;
  prompt: Prompt;
  ranking: string[];
  consensusProbability: number;
  threshold: number;
  candidates: ReviewCandidate[];
  /** How to answer: the shape of the resume value. */
  answer: string;
  /** Why the previous answer was refused, when one was. */
  error?: string;
}

/** What the review step recorded: whether the debate escalated, how sure the panel was and, once given, the human verdict. */
export interface DebateReview {
  escalated: boolean;
  /** Undefined when the verdict has no pair to compare (one candidate, or no critic scored both). */
  consensusProbability?: number;
  threshold: number;
  /** The reviewer's verdict; absent on an escalated debate of a graph without a checkpointer (nothing could wait). */
  human?: HumanVerdict;
  /** Why the last answer was refused; the review asks again. */
  refused?: string;
}

/**
 * The consensus probability of a verdict's top pair: the weighted share of critics whose last scored round puts the
 * first-ranked candidate above the second (a tie counts half), with the panel's critic weights. Undefined with fewer
 * than two candidates or when no critic scored both.
 */
export function consensusProbabilityOf(options: { result: DebateResult; panel: ResolvedPanel }): number | undefined {
  const { verdict } = options.result;
  const [first, second] = verdict.ranking;
  if (first === undefined || second === undefined) return undefined;
  const byId = new Map(verdict.candidates.map((candidate) => [candidate.candidateId, candidate]));
  const winner = byId.get(first);
  const runnerUp = byId.get(second);
  if (!winner || !runnerUp) return undefined;
  let forWinner = 0;
  let total = 0;
  for (const critic of options.panel.critics) {
    const a = lastScore(winner.perCritic[critic.id]);
    const b = lastScore(runnerUp.perCritic[critic.id]);
    if (a === null || b === null) continue;
    total += critic.weight;
    if (a > b) forWinner += critic.weight;
    else if (a === b) forWinner += critic.weight / 2;
  }
  if (total === 0) return undefined;
  return Math.round((forWinner / total) * 1000) / 1000;
}

/**
 * The review step after the consensus: with the panel's `escalate` rule and a consensus probability below its
 * threshold, interrupts the graph (LangGraph `interrupt`) with the candidates, scores and rationales, and records the
 * human verdict it is resumed with. An answer that does not fit (unknown candidate, wrong shape) is recorded as
 * `refused`, and the graph runs the step again, which interrupts again saying why (`refused` passed back in), so a bad
 * resume never fails the debate. Without the rule, or above the threshold, it records that and goes on; a graph
 * without a checkpointer (it could never be resumed) records `escalated: true` without a human verdict and goes on. Must run inside a LangGraph graph with a checkpointer (LangGraph Server and Studio give one).
 */
export function reviewDebate(options: {
  result: DebateResult;
  setup: DebateSetup;
  /** Whether the graph runs with a checkpointer, so it can interrupt and be resumed. */
  canWait: boolean;
  refused?: string;
}): DebateReview | undefined {
  const { result, setup } = options;
  const { panel } = setup;
  const rule = panel.panel.escalate;
  if (!rule) return undefined;
  const threshold = rule.belowConsensusProbability;
  const probability = consensusProbabilityOf({ result, panel });
  const base = { threshold, ...(probability === undefined ? {} : { consensusProbability: probability }) };
  if (probability === undefined || probability >= threshold) return { escalated: false, ...base };
  // Without a checkpointer a graph cannot wait for an answer: the debate is marked escalated and finishes.
  if (!options.canWait) return { escalated: true, ...base };
  const candidateIds = new Set(result.verdict.ranking);
  const request: ReviewRequest = {
    debateId: result.debateId,
    prompt: setup.input.prompt,
    ranking: result.verdict.ranking,
    consensusProbability: probability,
    threshold,
    candidates: reviewCandidates({ result, setup }),
    answer:
      'Resume with { "kind": "prefer", "candidateId": "<id>" } to name the better answer, or { "kind": "wrong" } when the ranking is wrong; an optional "note" explains.',
    ...(options.refused === undefined ? {} : { error: `the last answer was refused (${options.refused}); answer again` }),
  };
  const answer = interrupt<ReviewRequest, unknown>(request);
  const parsed = HumanVerdictInputSchema.safeParse(answer);
  let problem: string | undefined;
  if (!parsed.success) {
    problem = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  } else if (parsed.data.kind === 'prefer' && parsed.data.candidateId === undefined) {
    problem = 'candidateId: a "prefer" verdict names the preferred candidate';
  } else if (parsed.data.candidateId !== undefined && !candidateIds.has(parsed.data.candidateId)) {
    problem = `candidateId: "${parsed.data.candidateId.slice(0, 200)}" is not a candidate of this debate; use one of ${[...candidateIds].join(', ')}`;
  }
  if (problem !== undefined || !parsed.success) return { escalated: true, ...base, refused: problem ?? 'invalid answer' };
  return { escalated: true, ...base, human: { ...parsed.data, source: 'human', createdAt: new Date().toISOString() } };
}

function reviewCandidates(options: { result: DebateResult; setup: DebateSetup }): ReviewCandidate[] {
  const { result, setup } = options;
  const { panel } = setup;
  const texts = new Map(setup.input.candidates.map((candidate) => [candidate.id, candidate.text]));
  const rationales = new Map<string, string>();
  for (const turn of result.turns) {
    if (turn.status !== 'ok') continue;
    // Later rounds overwrite earlier ones: the critic's last word on the candidate.
    if (turn.assessment) rationales.set(`${turn.criticId}\u0000${turn.candidateId}`, turn.assessment.rationale);
    if (turn.judgment && turn.pair) {
      // Pairwise: the last comparison the candidate was in, with what the critic preferred.
      const [a, b] = turn.pair;
      const preferred = turn.judgment.preferred === 'tie' ? 'a tie' : turn.judgment.preferred === 'A' ? a : b;
      const said = `${a} vs ${b}, prefers ${preferred}: ${turn.judgment.rationale}`;
      rationales.set(`${turn.criticId}\u0000${a}`, said);
      rationales.set(`${turn.criticId}\u0000${b}`, said);
    }
  }
  return result.verdict.ranking.map((candidateId) => {
    const verdict = result.verdict.candidates.find((candidate) => candidate.candidateId === candidateId);
    return {
      candidateId,
      text: texts.get(candidateId) ?? '',
      score: verdict?.score ?? null,
      rank: verdict?.rank ?? 0,
      critics: panel.critics.map((critic) => {
        const rationale = rationales.get(`${critic.id}\u0000${candidateId}`);
        return {
          criticId: critic.id,
          score: lastScore(verdict?.perCritic[critic.id]),
          ...(rationale === undefined ? {} : { rationale }),
        };
      }),
    };
  });
}

function lastScore(scores: readonly (number | null)[] | undefined): number | null {
  if (!scores) return null;
  for (let index = scores.length - 1; index >= 0; index--) {
    const score = scores[index];
    if (score !== null && score !== undefined) return score;
  }
  return null;
}
