import type { CandidateVerdict, TurnRecord, Verdict } from '../contracts/index.js';
import { aggregateScores, agreement, mean, median, rankCandidates, spread, stdev } from './aggregation.js';
import type { DebateSetup } from './debate-setup.js';
import { latestTurns, tallyTurns } from './round-tally.js';

/**
 * The panel's verdict from the turns so far. The consensus input is each critic's latest good turn up to
 * `consensusRound` (the last debate round, or the blind vote), combined with the panel's aggregation.
 * Per candidate, `turns` counts the successful turns the consensus rests on (carried-forward ones
 * included) and `failedTurns` the turns of the consensus round that failed. A candidate nobody could judge
 * gets a null score and ranks last.
 */
export function computeVerdict(options: {
  setup: DebateSetup;
  turns: readonly TurnRecord[];
  consensusRound: number;
  /** Every round held, in order (the blind vote last); `perCritic` has one entry per round held. */
  roundsHeld: readonly number[];
  roundsUsed: number;
}): Omit<Verdict, 'rationale'> {
  const { setup, turns, consensusRound } = options;
  const { panel } = setup.panel;
  const weights = new Map(setup.panel.critics.map((critic) => [critic.id, critic.weight]));
  const final = tallyTurns({ setup, turns: latestTurns({ turns, round: consensusRound }) });
  const perRound = options.roundsHeld.map((round) =>
    tallyTurns({ setup, turns: turns.filter((turn) => turn.round === round && turn.status === 'ok') }),
  );
  const failedInConsensusRound = turns.filter((turn) => turn.round === consensusRound && turn.status === 'failed');

  const candidates = final.candidates.map((tally, index): CandidateVerdict => {
    const entries = [...tally.scores].map(([criticId, score]) => ({ criticId, score, weight: weights.get(criticId) ?? 1 }));
    const values = entries.map((entry) => entry.score);
    const range = spread(values);
    const perCritic: Record<string, Array<number | null>> = {};
    for (const critic of setup.panel.critics) {
      perCritic[critic.id] = perRound.map((round) => round.candidates[index]?.scores.get(critic.id) ?? null);
    }
    const verdict: CandidateVerdict = {
      candidateId: tally.candidateId,
      score: aggregateScores({ scores: entries, aggregation: panel.aggregation, trim: panel.trim }),
      rank: 0,
      mean: mean(values),
      median: median(values),
      stdev: stdev(values),
      spread: range,
      agreement: agreement(range, panel.scale),
      turns: tally.turns,
      failedTurns: failedInConsensusRound.filter((turn) =>
        turn.pair ? turn.pair.includes(tally.candidateId) : turn.candidateId === tally.candidateId,
      ).length,
      perCritic,
    };
    if (tally.wins) verdict.wins = [...tally.wins.values()].reduce((sum, wins) => sum + wins, 0);
    return verdict;
  });

  const ranking = rankCandidates(candidates);
  for (const candidate of candidates) candidate.rank = ranking.indexOf(candidate.candidateId) + 1;
  const verdict: Omit<Verdict, 'rationale'> = {
    candidates,
    ranking,
    roundsUsed: options.roundsUsed,
    aggregation: panel.aggregation,
  };
  if (panel.mode === 'pairwise') verdict.inconsistent = final.inconsistent;
  return verdict;
}
