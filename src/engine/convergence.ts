import { spread } from './aggregation.js';

/**
 * Whether one candidate's debate has converged: the critics' scores lie within `tolerance` of each other,
 * or no critic changed its score since the previous round. A candidate nobody could score has nothing
 * left to debate and counts as converged.
 */
export function isConverged(options: {
  /** criticId -> score this round. */
  scores: ReadonlyMap<string, number>;
  /** criticId -> score the round before; absent for round 0. */
  previous?: ReadonlyMap<string, number>;
  tolerance: number;
}): boolean {
  const values = [...options.scores.values()];
  const range = spread(values);
  if (range === null) return true;
  // Scores are compared with a small epsilon so that float noise does not keep a debate going.
  if (range <= options.tolerance + 1e-9) return true;
  const previous = options.previous;
  if (previous === undefined || previous.size !== options.scores.size) return false;
  for (const [criticId, score] of options.scores) {
    const before = previous.get(criticId);
    if (before === undefined || Math.abs(before - score) > 1e-9) return false;
  }
  return true;
}
