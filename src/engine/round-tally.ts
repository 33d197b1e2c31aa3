import type { TurnRecord } from '../contracts/index.js';
import type { DebateSetup } from './debate-setup.js';

/** Per candidate, what the critics' turns of one round amount to. */
export interface CandidateTally {
  candidateId: string;
  /** criticId -> score on the panel scale (pairwise: win points normalised onto the scale). */
  scores: Map<string, number>;
  /** Successful turns the scores rest on. */
  turns: number;
  /** Pairwise: criticId -> consistent wins (both orders preferred this candidate; with `randomizeOrder`, the one order). */
  wins?: Map<string, number>;
}

/** A critic whose pairwise preference flipped with the order the answers were shown in. */
export interface Inconsistency {
  criticId: string;
  pair: [string, string];
}

/** What one round amounts to: per candidate tallies and, in pairwise mode, the order-flips found. */
export interface RoundTally {
  candidates: CandidateTally[];
  inconsistent: Inconsistency[];
}

/**
 * Each critic's latest successful turn per subject up to and including `round`: a critic whose turn failed
 * keeps its last good one (carried forward); one with no good turn is absent.
 */
export function latestTurns(options: { turns: readonly TurnRecord[]; round: number }): TurnRecord[] {
  const latest = new Map<string, TurnRecord>();
  for (const turn of options.turns) {
    if (turn.round > options.round || turn.status !== 'ok') continue;
    const key = `${turn.criticId}\u0000${turn.candidateId}`;
    const current = latest.get(key);
    if (!current || current.round <= turn.round) latest.set(key, turn);
  }
  return [...latest.values()];
}

/**
 * Turns successful turns into per-candidate scores. Pointwise: each critic's score. Pairwise: per critic and
 * pair, each order gives the candidate 1 (preferred), 0.5 (tie) or 0, and the two orders are averaged, so a
 * flip (the same position preferred both times) counts as a tie and is reported as inconsistent; the points
 * over all opponents judged are normalised onto the scale. With `randomizeOrder` each critic judges each pair in one
 * order only, so no flip can be seen and `inconsistent` stays empty.
 */
export function tallyTurns(options: { setup: DebateSetup; turns: readonly TurnRecord[] }): RoundTally {
  const { setup } = options;
  const candidates = setup.input.candidates;
  const tallies = new Map<string, CandidateTally>(
    candidates.map((candidate) => [candidate.id, { candidateId: candidate.id, scores: new Map(), turns: 0 }]),
  );
  if (setup.panel.panel.mode !== 'pairwise') {
    for (const turn of options.turns) {
      const tally = tallies.get(turn.candidateId);
      if (!tally || !turn.assessment) continue;
      tally.scores.set(turn.criticId, turn.assessment.score);
      tally.turns++;
    }
    return { candidates: [...tallies.values()], inconsistent: [] };
  }

  for (const tally of tallies.values()) tally.wins = new Map();
  const { min, max } = setup.panel.panel.scale;
  const oneOrder = setup.panel.panel.randomizeOrder === true;
  const order = new Map(candidates.map((candidate, index) => [candidate.id, index]));
  // criticId -> "first\0second" (input order) -> points for `first` in each order shown.
  const byCritic = new Map<string, Map<string, { pair: [string, string]; forward?: TurnRecord; backward?: TurnRecord }>>();
  for (const turn of options.turns) {
    if (!turn.pair || !turn.judgment) continue;
    const [shownA, shownB] = turn.pair;
    const forward = (order.get(shownA) ?? 0) < (order.get(shownB) ?? 0);
    const pair: [string, string] = forward ? [shownA, shownB] : [shownB, shownA];
    let pairs = byCritic.get(turn.criticId);
    if (!pairs) {
      pairs = new Map();
      byCritic.set(turn.criticId, pairs);
    }
    const key = `${pair[0]}\u0000${pair[1]}`;
    const entry = pairs.get(key) ?? { pair };
    if (forward) entry.forward = turn;
    else entry.backward = turn;
    pairs.set(key, entry);
  }

  const inconsistent: Inconsistency[] = [];
  for (const [criticId, pairs] of byCritic) {
    const points = new Map<string, { sum: number; judged: number }>();
    const add = (candidateId: string, value: number) => {
      const current = points.get(candidateId) ?? { sum: 0, judged: 0 };
      current.sum += value;
      current.judged++;
      points.set(candidateId, current);
    };
    for (const { pair, forward, backward } of pairs.values()) {
      // Points for pair[0]: shown as A in the forward order, as B in the backward one.
      const values: number[] = [];
      if (forward?.judgment) values.push(pointsFor(forward.judgment.preferred, 'A'));
      if (backward?.judgment) values.push(pointsFor(backward.judgment.preferred, 'B'));
      const first = values.reduce((sum, value) => sum + value, 0) / values.length;
      add(pair[0], first);
      add(pair[1], 1 - first);
      for (const [index, candidateId] of pair.entries()) {
        const tally = tallies.get(candidateId);
        if (tally) tally.turns += values.length;
        if ((values.length === 2 || oneOrder) && (index === 0 ? first === 1 : first === 0) && tally?.wins) {
          tally.wins.set(criticId, (tally.wins.get(criticId) ?? 0) + 1);
        }
      }
      const a = forward?.judgment?.preferred;
      const b = backward?.judgment?.preferred;
      if (a !== undefined && a !== 'tie' && a === b) inconsistent.push({ criticId, pair });
    }
    for (const [candidateId, { sum, judged }] of points) {
      const tally = tallies.get(candidateId);
      if (!tally) continue;
      tally.scores.set(criticId, min + ((max - min) * sum) / judged);
      if (!tally.wins?.has(criticId)) tally.wins?.set(criticId, 0);
    }
  }
  return { candidates: [...tallies.values()], inconsistent };
}

function pointsFor(preferred: 'A' | 'B' | 'tie', position: 'A' | 'B'): number {
  if (preferred === 'tie') return 0.5;
  return preferred === position ? 1 : 0;
}
