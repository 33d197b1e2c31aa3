import type { LabelRow } from '../contracts/index.js';
import { krippendorffAlpha } from './krippendorff-alpha.js';
import { round } from './stats.js';

/** Score changes of one critic (or all critics) between rounds. */
export interface ChangeStats {
  /** Turns with a score in this round and the one before. */
  turns: number;
  /** Turns whose score changed by more than 0.05. */
  changed: number;
  meanAbsoluteChange: number | null;
  /** Of the changes, the share that moved toward the other critics' previous-round mean. */
  towardOthers: number | null;
  /**
   * Least-squares slope of change on gap (others' previous-round mean - own previous score): 0 means critics ignore
   * each other, 1 means they adopt the others' mean. A planted "move c of the way" conformity gives c.
   */
  conformity: number | null;
}

/** Debate dynamics of a label run: who changed their score in which round, and whether toward the majority. */
export interface DebateDynamics {
  /** round -> criticId -> changes from the round before. */
  rounds: Record<string, Record<string, ChangeStats>>;
  /** criticId -> changes over every debate round. */
  critics: Record<string, ChangeStats>;
  overall: ChangeStats;
  /** Krippendorff's α (interval) of the critics' scores, per round, units = candidates. */
  alphaByRound: Record<string, number | null>;
}

interface Change {
  change: number;
  gap: number;
}

/**
 * Score changes between consecutive rounds per critic and round, with conformity: the movement toward the
 * leave-one-out mean of the previous round.
 */
export function debateDynamics(rows: readonly LabelRow[]): DebateDynamics {
  const byRoundCritic = new Map<number, Map<string, Change[]>>();
  const byCritic = new Map<string, Change[]>();
  const all: Change[] = [];
  const unitsByRound = new Map<number, number[][]>();
  for (const row of rows)
    for (const candidate of row.candidates) {
      // round -> criticId -> score
      const table = new Map<number, Map<string, number>>();
      for (const [criticId, turns] of Object.entries(candidate.critics))
        for (const turn of turns) {
          if (turn.score === null) continue;
          const scores = table.get(turn.round) ?? new Map<string, number>();
          table.set(turn.round, scores);
          scores.set(criticId, turn.score);
        }
      for (const [roundNumber, scores] of table) {
        const units = unitsByRound.get(roundNumber) ?? [];
        unitsByRound.set(roundNumber, units);
        units.push([...scores.values()]);
        const previous = table.get(roundNumber - 1);
        if (!previous) continue;
        for (const [criticId, score] of scores) {
          const before = previous.get(criticId);
          if (before === undefined) continue;
          const others = [...previous.entries()].filter(([id]) => id !== criticId).map(([, value]) => value);
          if (others.length === 0) continue;
          const othersMean = others.reduce((sum, value) => sum + value, 0) / others.length;
          const change: Change = { change: score - before, gap: othersMean - before };
          all.push(change);
          const list = byCritic.get(criticId) ?? [];
          byCritic.set(criticId, list);
          list.push(change);
          const roundMap = byRoundCritic.get(roundNumber) ?? new Map<string, Change[]>();
          byRoundCritic.set(roundNumber, roundMap);
          const roundList = roundMap.get(criticId) ?? [];
          roundMap.set(criticId, roundList);
          roundList.push(change);
        }
      }
    }
  const sortedEntries = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
  return {
    rounds: Object.fromEntries(
      [...byRoundCritic.entries()]
        .sort(([a], [b]) => a - b)
        .map(([roundNumber, critics]) => [
          String(roundNumber),
          Object.fromEntries(sortedEntries(critics).map(([id, list]) => [id, changeStats(list)])),
        ]),
    ),
    critics: Object.fromEntries(sortedEntries(byCritic).map(([id, list]) => [id, changeStats(list)])),
    overall: changeStats(all),
    alphaByRound: Object.fromEntries(
      [...unitsByRound.entries()]
        .sort(([a], [b]) => a - b)
        .map(([roundNumber, units]) => [String(roundNumber), round(krippendorffAlpha(units))]),
    ),
  };
}

/** Summarises a list of changes. */
export function changeStats(changes: readonly Change[]): ChangeStats {
  const moved = changes.filter((entry) => Math.abs(entry.change) > 0.05);
  const toward = moved.filter((entry) => Math.sign(entry.change) === Math.sign(entry.gap) && entry.gap !== 0).length;
  let numerator = 0;
  let denominator = 0;
  for (const entry of changes) {
    numerator += entry.change * entry.gap;
    denominator += entry.gap * entry.gap;
  }
  return {
    turns: changes.length,
    changed: moved.length,
    meanAbsoluteChange:
      changes.length === 0 ? null : round(changes.reduce((sum, entry) => sum + Math.abs(entry.change), 0) / changes.length),
    towardOthers: moved.length === 0 ? null : round(toward / moved.length),
    conformity: denominator === 0 ? null : round(numerator / denominator),
  };
}
