import type { TurnRecord } from '../contracts/index.js';
import { spread } from './aggregation.js';
import { isConverged } from './convergence.js';
import type { DebateSetup } from './debate-setup.js';
import { latestTurns, tallyTurns } from './round-tally.js';

/** One candidate's line of a round-end event. */
export interface CandidateRoundSummary {
  candidateId: string;
  scores: Record<string, number>;
  spread: number;
  converged: boolean;
}

/**
 * What a round amounts to, as the round-end event reports it. Scores are each critic's latest good turn up
 * to this round (a failed turn carries the critic's previous score forward; a critic with none is left
 * out); a candidate converged when its spread is within the panel's tolerance or no critic changed its
 * score since `previousRound`.
 */
export function summarizeRound(options: {
  setup: DebateSetup;
  turns: readonly TurnRecord[];
  round: number;
  /** The round before this one, for the no-change test; absent for round 0. */
  previousRound?: number;
}): { candidates: CandidateRoundSummary[]; converged: boolean } {
  const { setup, turns, round, previousRound } = options;
  const current = tallyTurns({ setup, turns: latestTurns({ turns, round }) });
  const previous =
    previousRound === undefined ? undefined : tallyTurns({ setup, turns: latestTurns({ turns, round: previousRound }) });
  const tolerance = setup.panel.panel.tolerance;
  const candidates = current.candidates.map((tally, index): CandidateRoundSummary => {
    const before = previous?.candidates[index]?.scores;
    return {
      candidateId: tally.candidateId,
      scores: Object.fromEntries(tally.scores),
      spread: spread([...tally.scores.values()]) ?? 0,
      converged: isConverged({ scores: tally.scores, tolerance, ...(before === undefined ? {} : { previous: before }) }),
    };
  });
  return { candidates, converged: candidates.every((candidate) => candidate.converged) };
}
