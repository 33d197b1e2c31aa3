import {
  addUsage,
  INJECTION_FLAGS,
  type InjectionFlag,
  type LabelPanel,
  type LabelRow,
  type Usage,
  ZERO_USAGE,
} from '../contracts/index.js';
import type { BinarizeResult } from './binarize.js';
import { type Distribution, describeValues } from './distribution.js';

/** What an export contains, for the dataset card and the CLI. */
export interface ExportSummary {
  /** Label rows exported. */
  items: number;
  /** Rows with at least one scored candidate. */
  labeled: number;
  /** Rows whose debate produced no score at all. */
  unlabeled: number;
  /** Input lines rejected at import, when the caller knows. */
  rejected: number;
  pairs: number;
  /** Rows that gave at least one pair. */
  itemsWithPairs: number;
  /** Pairs a strategy picked that a filter dropped. */
  filteredOut: { margin: number; agreement: number; flagged: number; escalated: number };
  /** Items escalated to a human review (panel `escalate`), and how many of them a human verdict answered. */
  review: { escalated: number; answered: number };
  /** Prompt-injection flags (docs/prompt-injection.md): rows, prompts and candidates flagged, and texts per flag. */
  flags: InjectionCounts;
  /** Rows no pair could be picked from. */
  unpairable: { tooFewScored: number; allTied: number };
  /** Every distinct panel (by hash) seen; more than one means the labels mix configurations. */
  panels: LabelPanel[];
  /** Consensus scores of every scored candidate. */
  scores: Distribution;
  /** Consensus scores by rank (rank 1 = best). */
  scoresByRank: Array<{ rank: number; scores: Distribution }>;
  /** Agreement of every scored candidate. */
  agreement: Distribution;
  margins: Distribution;
  confidence: Distribution;
  roundsUsed: Distribution;
  usage: Usage;
  failedTurns: number;
  /** Rows with a human label (`meta.humanPreferred`, e.g. HH-RLHF) and how often the panel's top pick matched it. */
  human: { compared: number; agreed: number; tied: number };
}

/** How many rows and texts of an export raised prompt-injection flags. */
export interface InjectionCounts {
  /** Rows with any flag (prompt or candidate). */
  rows: number;
  prompts: number;
  candidates: number;
  /** Texts (prompts and candidates) raising each flag. */
  byFlag: Record<InjectionFlag, number>;
}

/** Starts counting prompt-injection flags row by row. */
export function createInjectionCounter(): { add(row: LabelRow): void; counts(): InjectionCounts } {
  const counts = { rows: 0, prompts: 0, candidates: 0 };
  const byFlag = Object.fromEntries(INJECTION_FLAGS.map((flag) => [flag, 0])) as Record<InjectionFlag, number>;
  return {
    add(row) {
      const flags = row.flags;
      if (flags === undefined) return;
      const candidateFlags = Object.values(flags.candidates ?? {});
      if (flags.prompt === undefined && candidateFlags.length === 0) return;
      counts.rows += 1;
      if (flags.prompt !== undefined) counts.prompts += 1;
      counts.candidates += candidateFlags.length;
      for (const list of [flags.prompt ?? [], ...candidateFlags]) for (const flag of list) byFlag[flag] += 1;
    },
    counts: () => ({ ...counts, byFlag: { ...byFlag } }),
  };
}

/** Gathers an export summary row by row, keeping only numbers (not rows) in memory. */
export interface SummaryCollector {
  /** `dropped.escalated`: pairs the export dropped as escalated and unanswered (`excludeEscalated`). */
  add(row: LabelRow, binarized: BinarizeResult, dropped?: { escalated: number }): void;
  summary(rejected?: number): ExportSummary;
  /** Every consensus score seen, for histograms. */
  readonly scoreValues: readonly number[];
  /** Every agreement seen, for histograms. */
  readonly agreementValues: readonly number[];
}

/** Starts an empty summary collector. */
export function createSummaryCollector(): SummaryCollector {
  const panels = new Map<string, LabelPanel>();
  const scoreValues: number[] = [];
  const agreementValues: number[] = [];
  const byRank = new Map<number, number[]>();
  const margins: number[] = [];
  const confidence: number[] = [];
  const rounds: number[] = [];
  const counts = { items: 0, labeled: 0, pairs: 0, itemsWithPairs: 0, failedTurns: 0 };
  const filteredOut = { margin: 0, agreement: 0, flagged: 0, escalated: 0 };
  const review = { escalated: 0, answered: 0 };
  const injection = createInjectionCounter();
  const unpairable = { tooFewScored: 0, allTied: 0 };
  const human = { compared: 0, agreed: 0, tied: 0 };
  let usage: Usage = ZERO_USAGE;

  return {
    scoreValues,
    agreementValues,
    add(row, binarized, dropped) {
      counts.items += 1;
      if (!panels.has(row.panel.hash)) panels.set(row.panel.hash, row.panel);
      const scored = row.candidates.filter((candidate) => candidate.score !== null);
      if (scored.length > 0) counts.labeled += 1;
      for (const candidate of scored) {
        const score = candidate.score as number;
        scoreValues.push(score);
        const list = byRank.get(candidate.rank) ?? [];
        list.push(score);
        byRank.set(candidate.rank, list);
        if (candidate.agreement !== null) agreementValues.push(candidate.agreement);
      }
      rounds.push(row.roundsUsed);
      usage = addUsage(usage, row.usage);
      counts.failedTurns += row.failedTurns.length;
      counts.pairs += binarized.pairs.length;
      if (binarized.pairs.length > 0) counts.itemsWithPairs += 1;
      filteredOut.margin += binarized.filtered.margin;
      filteredOut.agreement += binarized.filtered.agreement;
      filteredOut.flagged += binarized.filtered.flagged;
      filteredOut.escalated += dropped?.escalated ?? 0;
      if (row.review?.escalated === true) {
        review.escalated += 1;
        if (row.review.answered === true) review.answered += 1;
      }
      injection.add(row);
      if (binarized.unpairable === 'too-few-scored') unpairable.tooFewScored += 1;
      if (binarized.unpairable === 'all-tied') unpairable.allTied += 1;
      for (const pair of binarized.pairs) {
        margins.push(pair.margin);
        if (pair.confidence !== null) confidence.push(pair.confidence);
      }
      compareWithHuman(row, human);
    },
    summary(rejected = 0) {
      return {
        ...counts,
        unlabeled: counts.items - counts.labeled,
        rejected,
        filteredOut: { ...filteredOut },
        review: { ...review },
        flags: injection.counts(),
        unpairable: { ...unpairable },
        panels: [...panels.values()],
        scores: describeValues(scoreValues),
        scoresByRank: [...byRank.entries()]
          .sort(([a], [b]) => a - b)
          .map(([rank, values]) => ({ rank, scores: describeValues(values) })),
        agreement: describeValues(agreementValues),
        margins: describeValues(margins),
        confidence: describeValues(confidence),
        roundsUsed: describeValues(rounds),
        usage,
        human: { ...human },
      };
    },
  };
}

function compareWithHuman(row: LabelRow, human: { compared: number; agreed: number; tied: number }): void {
  const preferred = row.meta?.humanPreferred;
  if (typeof preferred !== 'string') return;
  const gold = row.candidates.find((candidate) => candidate.id === preferred);
  const others = row.candidates.filter((candidate) => candidate.id !== preferred && candidate.score !== null);
  if (gold?.score === null || gold === undefined || others.length === 0) return;
  const bestOther = Math.max(...others.map((candidate) => candidate.score as number));
  human.compared += 1;
  if (gold.score > bestOther) human.agreed += 1;
  else if (gold.score === bestOther) human.tied += 1;
}
