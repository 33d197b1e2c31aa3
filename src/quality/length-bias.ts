import type { LabelRow } from '../contracts/index.js';
import { finalCriticScore } from './gold-comparisons.js';
import { pearson, round, spearman } from './stats.js';

/** How strongly scores follow answer length. */
export interface LengthBias {
  /** Candidates with a consensus score and a text. */
  candidates: number;
  /** Correlation of consensus score with length in characters. */
  pearson: number | null;
  spearman: number | null;
  /** Least-squares slope of consensus score on length, in score points per 1000 characters. */
  slopePer1000Chars: number | null;
  /** Within-item pairs of unequal length and unequal score: how often the longer one scored higher. */
  longerWins: { rate: number | null; pairs: number; ties: number };
  /** criticId -> correlation of the critic's last scored round with length. */
  critics: Record<string, number | null>;
}

/**
 * Length bias of a label run: correlation and slope of score on length, and the win rate of the longer answer
 * within each item (MT-Bench's verbosity check; 0.5 means length does not decide).
 */
export function lengthBias(rows: readonly LabelRow[]): LengthBias {
  const lengths: number[] = [];
  const scores: number[] = [];
  const byCritic = new Map<string, { lengths: number[]; scores: number[] }>();
  let wins = 0;
  let pairs = 0;
  let ties = 0;
  for (const row of rows) {
    const scored = row.candidates.filter((candidate) => candidate.score !== null && candidate.text !== undefined);
    for (const candidate of scored) {
      lengths.push(candidate.text?.length ?? 0);
      scores.push(candidate.score ?? 0);
    }
    for (const candidate of row.candidates) {
      if (candidate.text === undefined) continue;
      for (const criticId of Object.keys(candidate.critics)) {
        const score = finalCriticScore(candidate, criticId);
        if (score === null) continue;
        const entry = byCritic.get(criticId) ?? { lengths: [], scores: [] };
        byCritic.set(criticId, entry);
        entry.lengths.push(candidate.text.length);
        entry.scores.push(score);
      }
    }
    for (let i = 0; i < scored.length; i++)
      for (let j = i + 1; j < scored.length; j++) {
        const a = scored[i];
        const b = scored[j];
        if (!a || !b || a.text?.length === b.text?.length) continue;
        if (a.score === b.score) {
          ties++;
          continue;
        }
        const [longer, shorter] = (a.text?.length ?? 0) > (b.text?.length ?? 0) ? [a, b] : [b, a];
        pairs++;
        if ((longer.score ?? 0) > (shorter.score ?? 0)) wins++;
      }
  }
  return {
    candidates: lengths.length,
    pearson: round(pearson(lengths, scores)),
    spearman: round(spearman(lengths, scores)),
    slopePer1000Chars: round(slope(lengths, scores) === null ? null : (slope(lengths, scores) ?? 0) * 1000),
    longerWins: { rate: pairs === 0 ? null : round(wins / pairs), pairs, ties },
    critics: Object.fromEntries(
      [...byCritic.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, entry]) => [id, round(pearson(entry.lengths, entry.scores))]),
    ),
  };
}

/** Least-squares slope of ys on xs; null when xs is constant or there are fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number | null {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return null;
  let mx = 0;
  let my = 0;
  for (let index = 0; index < n; index++) {
    mx += xs[index] ?? 0;
    my += ys[index] ?? 0;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let index = 0; index < n; index++) {
    sxy += ((xs[index] ?? 0) - mx) * ((ys[index] ?? 0) - my);
    sxx += ((xs[index] ?? 0) - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}
