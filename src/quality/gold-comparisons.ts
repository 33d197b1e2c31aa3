import type { LabelCandidate, LabelRow } from '../contracts/index.js';
import { seededRandom } from '../export/index.js';

/** How a judge's scores for a gold pair compare with the human's choice. */
export type GoldOutcome = 'agree' | 'disagree' | 'tie' | 'abstain';

/** One human-labeled pair as the panel and each critic judged it. */
export interface GoldComparison {
  itemId: string;
  /** The candidate the human preferred, and the other one. */
  preferred: string;
  other: string;
  /** Whether the human-preferred candidate was shown first (index 0 in the item). */
  preferredFirst: boolean;
  /**
   * A seeded coin per item: true when the human-preferred candidate plays "A" for κ and calibration, so both
   * categories occur even when a source always lists the preferred answer first (HH-RLHF, TRL).
   */
  preferredIsA: boolean;
  consensus: GoldOutcome;
  /** Consensus score difference preferred - other; null when either score is missing. */
  consensusMargin: number | null;
  /** criticId -> outcome on the critic's last scored round. */
  critics: Record<string, GoldOutcome>;
  /** criticId -> last scored round's score difference preferred - other (null when either is missing). */
  criticMargins: Record<string, number | null>;
  lengths: { preferred: number; other: number };
}

/** The critic's score in its last round with a score; null when it never scored. */
export function finalCriticScore(candidate: LabelCandidate, criticId: string): number | null {
  const turns = candidate.critics[criticId] ?? [];
  for (let index = turns.length - 1; index >= 0; index--) {
    const score = turns[index]?.score;
    if (score !== null && score !== undefined) return score;
  }
  return null;
}

/** The outcome of one score pair against the human's choice. */
export function outcomeOf(preferredScore: number | null, otherScore: number | null): GoldOutcome {
  if (preferredScore === null || otherScore === null) return 'abstain';
  if (preferredScore > otherScore) return 'agree';
  if (preferredScore < otherScore) return 'disagree';
  return 'tie';
}

/**
 * The human-labeled pairs of a label run: rows whose `meta.humanPreferred` names one of exactly two candidates.
 * Rows without a gold label, or with more than two candidates, are counted in `skipped`.
 */
export function goldComparisons(options: { rows: readonly LabelRow[]; seed?: string }): {
  comparisons: GoldComparison[];
  skipped: number;
} {
  const seed = options.seed ?? '0';
  const comparisons: GoldComparison[] = [];
  let skipped = 0;
  for (const row of options.rows) {
    const preferredId = row.meta?.humanPreferred;
    const preferred = row.candidates.find((candidate) => candidate.id === preferredId);
    const other = row.candidates.find((candidate) => candidate.id !== preferredId);
    if (typeof preferredId !== 'string' || row.candidates.length !== 2 || !preferred || !other) {
      skipped++;
      continue;
    }
    const critics: Record<string, GoldOutcome> = {};
    const criticMargins: Record<string, number | null> = {};
    const criticIds = new Set([...Object.keys(preferred.critics), ...Object.keys(other.critics)]);
    for (const critic of row.panel.critics) criticIds.add(critic.id);
    for (const criticId of criticIds) {
      const a = finalCriticScore(preferred, criticId);
      const b = finalCriticScore(other, criticId);
      critics[criticId] = outcomeOf(a, b);
      criticMargins[criticId] = a === null || b === null ? null : a - b;
    }
    comparisons.push({
      itemId: row.id,
      preferred: preferred.id,
      other: other.id,
      preferredFirst: row.candidates[0]?.id === preferred.id,
      preferredIsA: seededRandom(`${seed}:${row.id}`)() < 0.5,
      consensus: outcomeOf(preferred.score, other.score),
      consensusMargin: preferred.score === null || other.score === null ? null : preferred.score - other.score,
      critics,
      criticMargins,
      lengths: { preferred: preferred.text?.length ?? 0, other: other.text?.length ?? 0 },
    });
  }
  return { comparisons, skipped };
}

/** A pairwise verdict as `turn-end` events carry it (see `PairwiseTurn` in position-consistency.ts). */
interface PairwiseVerdict {
  round: number;
  criticId: string;
  candidateId: string;
  pair?: readonly [string, string] | undefined;
  judgment?: { preferred: 'A' | 'B' | 'tie' } | undefined;
  debateId?: string | undefined;
}

/**
 * Fills each critic's outcome on gold pairs from pairwise verdicts (pairwise-mode labels keep no per-critic
 * scores): the critic's last round, both orders combined as the engine does: the same candidate picked in both
 * orders is the critic's choice, an order flip or a tie is a tie. Margins become +1 (preferred), -1 or 0.
 * Verdicts are matched to items by debate id.
 */
export function withPairwiseVotes(options: {
  comparisons: readonly GoldComparison[];
  rows: readonly LabelRow[];
  turns: readonly PairwiseVerdict[];
}): GoldComparison[] {
  const itemOfDebate = new Map(options.rows.flatMap((row) => (row.debateId ? [[row.debateId, row.id] as const] : [])));
  // itemId -> criticId -> { round, picks }
  const votes = new Map<string, Map<string, { round: number; picks: string[] }>>();
  for (const turn of options.turns) {
    const preferred = turn.judgment?.preferred;
    const itemId = turn.debateId === undefined ? undefined : itemOfDebate.get(turn.debateId);
    if (preferred === undefined || itemId === undefined) continue;
    const [a, b] = turn.pair ?? (turn.candidateId.split('-vs-') as [string?, string?]);
    if (a === undefined || b === undefined) continue;
    const byCritic = votes.get(itemId) ?? new Map<string, { round: number; picks: string[] }>();
    votes.set(itemId, byCritic);
    const entry = byCritic.get(turn.criticId);
    const pick = preferred === 'tie' ? 'tie' : preferred === 'A' ? a : b;
    if (!entry || turn.round > entry.round) byCritic.set(turn.criticId, { round: turn.round, picks: [pick] });
    else if (turn.round === entry.round) entry.picks.push(pick);
  }
  return options.comparisons.map((comparison) => {
    const byCritic = votes.get(comparison.itemId);
    if (!byCritic) return comparison;
    const critics = { ...comparison.critics };
    const criticMargins = { ...comparison.criticMargins };
    for (const [criticId, { picks }] of byCritic) {
      const [first] = picks;
      const choice = first !== undefined && picks.every((pick) => pick === first) ? first : 'tie';
      const outcome: GoldOutcome = choice === comparison.preferred ? 'agree' : choice === comparison.other ? 'disagree' : 'tie';
      critics[criticId] = outcome;
      criticMargins[criticId] = outcome === 'agree' ? 1 : outcome === 'disagree' ? -1 : 0;
    }
    return { ...comparison, critics, criticMargins };
  });
}
