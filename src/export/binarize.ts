import type { LabelCandidate, LabelRow } from '../contracts/index.js';
import { seededRandom } from './seeded-random.js';

/** How a ranked list of candidates becomes preference pairs. */
export const BINARIZATION_STRATEGIES = ['best-vs-worst', 'best-vs-random-lower', 'all-pairs'] as const;
export type BinarizationStrategy = (typeof BINARIZATION_STRATEGIES)[number];

/** Score differences at or below this are ties (consensus scores are means, so float noise must not make pairs). */
export const TIE_EPSILON = 1e-9;

/** Which pairs to make and which to keep. */
export interface BinarizeOptions {
  /**
   * `best-vs-worst`: the top-scored candidate against the lowest-scored one.
   * `best-vs-random-lower`: the top candidate against one picked at random among those scored strictly lower
   * (UltraFeedback-binarized / Zephyr recipe); the pick is seeded by `seed` and the item id, so it is
   * reproducible and independent of item order.
   * `all-pairs`: every two candidates whose scores differ.
   */
  strategy: BinarizationStrategy;
  /** Keep a pair only when `margin >= minMargin` (panel scale units). Default 0: any non-tie. */
  minMargin?: number;
  /** Keep a pair only when both candidates' agreement is at least this (null agreement fails when > 0). Default 0. */
  minAgreement?: number;
  /** Seed for `best-vs-random-lower`. Default `'0'`. */
  seed?: string | number;
  /** Drop pairs in which either candidate's text was flagged as a prompt-injection attempt (`row.flags`). Default false. */
  excludeFlagged?: boolean;
}

/** A chosen/rejected pair of candidates from one label row. */
export interface CandidatePair {
  chosen: LabelCandidate & { score: number };
  rejected: LabelCandidate & { score: number };
  /** `chosen.score - rejected.score`, always > 0, in panel scale units; divide by the scale range to normalise. */
  margin: number;
  /** The lower agreement of the two candidates: a pair is only as sure as its less agreed side; null when unknown. */
  confidence: number | null;
}

/** The pairs one row gave, and why the others were not made or kept. */
export interface BinarizeResult {
  pairs: CandidatePair[];
  /** Pairs the strategy picked that a filter then dropped. */
  filtered: { margin: number; agreement: number; flagged: number };
  /** Why no pair could be picked at all: fewer than two scored candidates, or all scores tied. */
  unpairable?: 'too-few-scored' | 'all-tied';
}

/**
 * Turns one label row into preference pairs with a strategy, then drops pairs with a flagged candidate
 * (`excludeFlagged`) or below `minMargin` or `minAgreement`. Ties never become pairs and candidates without a score are never paired.
 * @example const { pairs } = binarize({ row, strategy: 'best-vs-random-lower', minMargin: 1, seed: 42 });
 */
export function binarize(options: BinarizeOptions & { row: LabelRow }): BinarizeResult {
  const { row, strategy } = options;
  const minMargin = options.minMargin ?? 0;
  const minAgreement = options.minAgreement ?? 0;
  const scored = row.candidates
    .map((candidate, index) => ({ candidate, index }))
    .filter((entry): entry is { candidate: LabelCandidate & { score: number }; index: number } => isScore(entry.candidate.score))
    .sort((a, b) => b.candidate.score - a.candidate.score || a.candidate.rank - b.candidate.rank || a.index - b.index)
    .map((entry) => entry.candidate);
  const result: BinarizeResult = { pairs: [], filtered: { margin: 0, agreement: 0, flagged: 0 } };
  const flagged = options.excludeFlagged === true ? (candidate: LabelCandidate) => isFlagged(row, candidate.id) : () => false;
  const best = scored[0];
  const worst = scored.at(-1);
  if (best === undefined || worst === undefined || scored.length < 2) {
    result.unpairable = 'too-few-scored';
    return result;
  }
  if (best.score - worst.score <= TIE_EPSILON) {
    result.unpairable = 'all-tied';
    return result;
  }

  const picked: Array<[LabelCandidate & { score: number }, LabelCandidate & { score: number }]> = [];
  switch (strategy) {
    case 'best-vs-worst':
      picked.push([best, worst]);
      break;
    case 'best-vs-random-lower': {
      const lower = scored.filter((candidate) => best.score - candidate.score > TIE_EPSILON);
      const random = seededRandom(`${options.seed ?? 0}\u0000${row.id}`);
      const rejected = lower[Math.floor(random() * lower.length)];
      if (rejected !== undefined) picked.push([best, rejected]);
      break;
    }
    case 'all-pairs':
      for (const [index, chosen] of scored.entries()) {
        for (const rejected of scored.slice(index + 1)) {
          if (chosen.score - rejected.score > TIE_EPSILON) picked.push([chosen, rejected]);
        }
      }
      break;
    default: {
      const unknown: never = strategy;
      throw new Error(`unknown binarization strategy ${String(unknown)}`);
    }
  }

  for (const [chosen, rejected] of picked) {
    const margin = chosen.score - rejected.score;
    const confidence =
      chosen.agreement === null || rejected.agreement === null ? null : Math.min(chosen.agreement, rejected.agreement);
    if (flagged(chosen) || flagged(rejected)) {
      result.filtered.flagged += 1;
    } else if (margin < minMargin - TIE_EPSILON) {
      result.filtered.margin += 1;
    } else if (minAgreement > 0 && (confidence === null || confidence < minAgreement)) {
      result.filtered.agreement += 1;
    } else {
      result.pairs.push({ chosen, rejected, margin, confidence });
    }
  }
  return result;
}

function isFlagged(row: LabelRow, candidateId: string): boolean {
  return (row.flags?.candidates?.[candidateId]?.length ?? 0) > 0;
}

function isScore(score: number | null): score is number {
  return score !== null && Number.isFinite(score);
}
