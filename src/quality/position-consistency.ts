import { round } from './stats.js';

/** A pairwise turn as `turn-end` events and engine turn records both carry it. */
export interface PairwiseTurn {
  round: number;
  criticId: string;
  /** "a-vs-b": the candidate shown as A, then the one shown as B. */
  candidateId: string;
  pair?: readonly [string, string] | undefined;
  judgment?: { preferred: 'A' | 'B' | 'tie' } | undefined;
  /** Debates are told apart by this (pairs repeat across items). */
  debateId?: string | undefined;
}

/** One critic's behaviour under order swap. */
export interface PositionStats {
  /** Pairs judged in both orders. */
  swappedPairs: number;
  /** Share of swapped pairs with the same verdict both times (the same candidate, or tie both times). */
  consistency: number | null;
  /** Share of non-tie verdicts that picked the answer shown first. */
  firstShownRate: number | null;
  verdicts: number;
}

/**
 * Position consistency per critic from pairwise turns (panel mode `pairwise` judges each pair in both orders):
 * MT-Bench's swap test. A critic without position bias is consistent and picks the first answer half the time.
 */
export function positionConsistency(turns: readonly PairwiseTurn[]): Record<string, PositionStats> {
  const verdicts = new Map<string, Map<string, string>>(); // critic -> "debate|round|x|y" -> picked id or tie, per order
  const stats = new Map<string, { first: number; decided: number; verdicts: number }>();
  for (const turn of turns) {
    const preferred = turn.judgment?.preferred;
    if (preferred === undefined) continue;
    const [a, b] = turn.pair ?? splitPair(turn.candidateId);
    if (a === undefined || b === undefined) continue;
    const entry = stats.get(turn.criticId) ?? { first: 0, decided: 0, verdicts: 0 };
    stats.set(turn.criticId, entry);
    entry.verdicts++;
    if (preferred !== 'tie') {
      entry.decided++;
      if (preferred === 'A') entry.first++;
    }
    const picked = preferred === 'tie' ? 'tie' : preferred === 'A' ? a : b;
    const [x, y] = a < b ? [a, b] : [b, a];
    const key = `${turn.debateId ?? ''}|${turn.round}|${x}|${y}|${a === x ? 'xy' : 'yx'}`;
    const byCritic = verdicts.get(turn.criticId) ?? new Map<string, string>();
    verdicts.set(turn.criticId, byCritic);
    byCritic.set(key, picked);
  }
  const result: Record<string, PositionStats> = {};
  for (const [criticId, entry] of [...stats.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const byCritic = verdicts.get(criticId) ?? new Map<string, string>();
    let swapped = 0;
    let consistent = 0;
    for (const [key, picked] of byCritic) {
      if (!key.endsWith('|xy')) continue;
      const swappedPick = byCritic.get(`${key.slice(0, -2)}yx`);
      if (swappedPick === undefined) continue;
      swapped++;
      if (swappedPick === picked) consistent++;
    }
    result[criticId] = {
      swappedPairs: swapped,
      consistency: swapped === 0 ? null : round(consistent / swapped),
      firstShownRate: entry.decided === 0 ? null : round(entry.first / entry.decided),
      verdicts: entry.verdicts,
    };
  }
  return result;
}

function splitPair(candidateId: string): [string | undefined, string | undefined] {
  const parts = candidateId.split('-vs-');
  return parts.length === 2 ? [parts[0], parts[1]] : [undefined, undefined];
}
