import type { LabelCandidate, LabelRow } from '../contracts/index.js';

/** How sure the panel is about one chosen/rejected pair, from the critics' individual votes. */
export interface PairUncertainty {
  /** Critics whose last scored round put the chosen answer above, below or level with the rejected one. */
  votes: { chosen: number; rejected: number; tie: number };
  /** Weighted share of critics preferring the chosen answer (ties count half): the consensus probability. */
  consensusProbability: number;
  /** 1 - |2p - 1|: 0 when the critics are unanimous, 1 when they split evenly. */
  disagreement: number;
  /**
   * A suggested DPO label-smoothing value (conservative DPO / cDPO: the probability that the label is flipped):
   * 1 - p, clipped to 0..0.5.
   */
  labelSmoothing: number;
}

/**
 * The vote distribution, consensus probability, disagreement and suggested label smoothing of a pair, from each
 * critic's last scored round on both candidates, weighted by the panel's critic weights. Undefined when no critic
 * scored both candidates (pairwise-mode labels keep no per-candidate critic scores).
 * @example pairUncertainty({ row, chosen, rejected }) // { votes: { chosen: 2, rejected: 1, tie: 0 }, consensusProbability: 0.67, ... }
 */
export function pairUncertainty(options: {
  row: LabelRow;
  chosen: LabelCandidate;
  rejected: LabelCandidate;
}): PairUncertainty | undefined {
  const weights = new Map(options.row.panel.critics.map((critic) => [critic.id, critic.weight]));
  const votes = { chosen: 0, rejected: 0, tie: 0 };
  let forChosen = 0;
  let total = 0;
  const criticIds = new Set([...Object.keys(options.chosen.critics), ...Object.keys(options.rejected.critics)]);
  for (const criticId of criticIds) {
    const a = lastScore(options.chosen, criticId);
    const b = lastScore(options.rejected, criticId);
    if (a === null || b === null) continue;
    const weight = weights.get(criticId) ?? 1;
    total += weight;
    if (a > b) {
      votes.chosen++;
      forChosen += weight;
    } else if (a < b) {
      votes.rejected++;
    } else {
      votes.tie++;
      forChosen += weight / 2;
    }
  }
  if (total === 0) return undefined;
  const p = forChosen / total;
  return {
    votes,
    consensusProbability: round(p),
    disagreement: round(1 - Math.abs(2 * p - 1)),
    labelSmoothing: round(Math.min(0.5, Math.max(0, 1 - p))),
  };
}

function lastScore(candidate: LabelCandidate, criticId: string): number | null {
  const turns = candidate.critics[criticId] ?? [];
  for (let index = turns.length - 1; index >= 0; index--) {
    const score = turns[index]?.score;
    if (score !== null && score !== undefined) return score;
  }
  return null;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
