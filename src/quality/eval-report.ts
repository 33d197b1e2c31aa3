import type { LabelRow } from '../contracts/index.js';
import { createInjectionCounter, type InjectionCounts } from '../export/index.js';
import { goldAgreement, type JudgeAgreement, judgeAgreement } from './agreement.js';
import { type CalibrationFit, fitCalibration, splitGold, weightedAgreement } from './calibration.js';
import { type DebateDynamics, debateDynamics } from './debate-dynamics.js';
import { consensusProbabilities, type EscalationReport, escalationCurve } from './escalation-curve.js';
import { finalCriticScore, type GoldComparison, goldComparisons, outcomeOf, withPairwiseVotes } from './gold-comparisons.js';
import { krippendorffAlpha } from './krippendorff-alpha.js';
import { type LengthBias, lengthBias } from './length-bias.js';
import { lengthControl } from './length-control.js';
import { type PairwiseTurn, type PositionStats, positionConsistency } from './position-consistency.js';
import { type SelfPreference, selfPreference } from './self-preference.js';
import { round } from './stats.js';
import { type TurnFailures, turnFailures } from './turn-failures.js';

/** Before and after calibration, on the held-out part of the gold set. */
export interface CalibrationReport {
  fit: CalibrationFit;
  heldOutPairs: number;
  before: JudgeAgreement;
  after: JudgeAgreement;
  weightsBefore: Record<string, number>;
}

/** Everything `tribunal eval` measures on a labeled gold set (report.json). */
export interface EvalReport {
  v: 1;
  panel: {
    id: string;
    hash: string;
    aggregation: string;
    mode?: string;
    critics: Array<{ id: string; model: string; weight: number }>;
  };
  items: { labeled: number; gold: number; skipped: number };
  agreement: ReturnType<typeof goldAgreement>;
  /** The consensus with length regressed out of the scores (the slope removed, in points per 1000 characters). */
  lengthControlled: { agreement: JudgeAgreement; slopePer1000Chars: number | null };
  /** Krippendorff's α (interval) between critics on their final scores, units = candidates. */
  interCriticAlpha: number | null;
  lengthBias: LengthBias;
  /** Human labels' own length preference, for comparison: how often the human-preferred answer is the longer one. */
  humanLongerRate: number | null;
  /**
   * The bar a panel must clear before its accuracy says more than "length": both length baselines' accuracy (ties
   * as misses, like the consensus's) and the consensus's margin over the better one.
   */
  lengthBaselines: {
    longer: number | null;
    shorter: number | null;
    better: 'longer' | 'shorter' | null;
    consensusMargin: number | null;
  };
  /**
   * Length-dependence on the gold items themselves: of the pairs of unequal length where the consensus decided, how
   * often the panel preferred the longer answer, and how often the humans did on the same pairs. A pure length judge
   * shows ~100% against the humans' own rate; a panel that follows the humans shows about their rate.
   */
  lengthPreference: { pairs: number; panelLongerRate: number | null; humanLongerRate: number | null };
  position: Record<string, PositionStats>;
  selfPreference: SelfPreference[];
  dynamics: DebateDynamics;
  /**
   * Prompt-injection flags on the gold set (docs/prompt-injection.md), and how many flagged candidates the panel
   * ranked first (scored): an injection that worked shows up there.
   */
  injection: InjectionCounts & { flaggedRankedFirst: number };
  /** Failed critic turns by cause: refusals and content filters are counted apart from malfunctions. */
  failures: TurnFailures;
  calibration?: CalibrationReport;
  /**
   * Agreement with the humans on the pairs the panel keeps versus the share it escalates, per consensus-probability
   * threshold; with `--target-agreement`, the threshold chosen on a calibration split and how it held out.
   */
  escalation: EscalationReport;
  seed: string;
}

/**
 * Computes an eval report from a label run's rows (and, in pairwise mode, its pairwise turns): agreement with the
 * human labels, bias measures, debate dynamics and, when `calibrate` is set, persona weights fitted on part of the
 * gold set and checked on the rest.
 * @example const report = evalReport({ rows: readJsonl('out/labels.jsonl'), seed: '0', calibrate: { heldOut: 0.3 } });
 */
export function evalReport(options: {
  rows: readonly LabelRow[];
  pairwiseTurns?: readonly PairwiseTurn[];
  seed?: string;
  resamples?: number;
  calibrate?: { heldOut: number; bias?: boolean } | undefined;
  /** Choose the escalation threshold that reaches this agreement (see `escalationCurve`). */
  targetAgreement?: { agreement: number; heldOut: number; delta?: number } | undefined;
}): EvalReport {
  const seed = options.seed ?? '0';
  const resamples = options.resamples ?? 1000;
  const { rows } = options;
  const scored = goldComparisons({ rows, seed });
  const { skipped } = scored;
  const comparisons =
    options.pairwiseTurns && options.pairwiseTurns.length > 0
      ? withPairwiseVotes({ comparisons: scored.comparisons, rows, turns: options.pairwiseTurns })
      : scored.comparisons;
  const first = rows[0]?.panel;
  const critics = first?.critics ?? [];
  const units: number[][] = [];
  for (const row of rows)
    for (const candidate of row.candidates) {
      const scores = critics
        .map((critic) => finalCriticScore(candidate, critic.id))
        .filter((score): score is number => score !== null);
      units.push(scores);
    }
  const control = lengthControl(rows);
  const agreement = goldAgreement({ comparisons, seed, resamples });
  const longer = comparisons.filter((comparison) => comparison.lengths.preferred !== comparison.lengths.other);
  const report: EvalReport = {
    v: 1,
    panel: {
      id: first?.id ?? 'unknown',
      hash: first?.hash ?? '',
      aggregation: first?.aggregation ?? 'unknown',
      critics: critics.map((critic) => ({ id: critic.id, model: critic.model, weight: critic.weight })),
    },
    items: { labeled: rows.length, gold: comparisons.length, skipped },
    agreement,
    lengthControlled: {
      agreement: judgeAgreement({
        comparisons,
        outcome: (comparison) =>
          outcomeOf(
            control.scores.get(comparison.itemId)?.get(comparison.preferred) ?? null,
            control.scores.get(comparison.itemId)?.get(comparison.other) ?? null,
          ),
        seed: `${seed}:length-controlled`,
        resamples,
      }),
      slopePer1000Chars: round(control.slopePerChar * 1000),
    },
    interCriticAlpha: round(krippendorffAlpha(units)),
    lengthBias: lengthBias(rows),
    humanLongerRate:
      longer.length === 0
        ? null
        : round(longer.filter((comparison) => comparison.lengths.preferred > comparison.lengths.other).length / longer.length),
    lengthBaselines: lengthBaselines(agreement),
    lengthPreference: lengthPreference(comparisons),
    position: positionConsistency(options.pairwiseTurns ?? []),
    selfPreference: selfPreference(rows),
    dynamics: debateDynamics(rows),
    injection: injectionCounts(rows),
    failures: turnFailures(rows),
    escalation: escalationCurve({
      comparisons,
      probabilities: consensusProbabilities(rows),
      seed,
      resamples,
      target: options.targetAgreement,
    }),
    seed,
  };
  if (options.calibrate && first) {
    const { train, test } = splitGold({ comparisons, heldOut: options.calibrate.heldOut, seed });
    const criticIds = critics.map((critic) => critic.id);
    const fit = fitCalibration({
      comparisons: train,
      criticIds,
      scaleRange: first.scale.max - first.scale.min,
      bias: options.calibrate.bias ?? true,
    });
    const weightsBefore = Object.fromEntries(critics.map((critic) => [critic.id, critic.weight]));
    report.calibration = {
      fit,
      heldOutPairs: test.length,
      weightsBefore,
      before: weightedAgreement({ comparisons: test, weights: weightsBefore, seed: `${seed}:before`, resamples }),
      after: weightedAgreement({ comparisons: test, weights: fit.weights, seed: `${seed}:after`, resamples }),
    };
  }
  return report;
}

function injectionCounts(rows: readonly LabelRow[]): EvalReport['injection'] {
  const counter = createInjectionCounter();
  let flaggedRankedFirst = 0;
  for (const row of rows) {
    counter.add(row);
    const flagged = row.flags?.candidates ?? {};
    for (const candidate of row.candidates)
      if (candidate.rank === 1 && candidate.score !== null && flagged[candidate.id] !== undefined) flaggedRankedFirst += 1;
  }
  return { ...counter.counts(), flaggedRankedFirst };
}

/** Both length baselines' accuracy, the better one, and the consensus's accuracy minus it. */
export function lengthBaselines(agreement: ReturnType<typeof goldAgreement>): EvalReport['lengthBaselines'] {
  const longer = agreement.longerAnswer.accuracy.value;
  const shorter = agreement.shorterAnswer.accuracy.value;
  const consensus = agreement.consensus.accuracy.value;
  if (longer === null || shorter === null) return { longer, shorter, better: null, consensusMargin: null };
  const better = longer >= shorter ? 'longer' : 'shorter';
  const bar = Math.max(longer, shorter);
  return { longer, shorter, better, consensusMargin: consensus === null ? null : round(consensus - bar) };
}

/** The panel's and the humans' longer-answer rates on the same gold pairs (unequal lengths, consensus decided). */
export function lengthPreference(comparisons: readonly GoldComparison[]): EvalReport['lengthPreference'] {
  let pairs = 0;
  let panelLonger = 0;
  let humanLonger = 0;
  for (const comparison of comparisons) {
    const { preferred, other } = comparison.lengths;
    if (preferred === other || (comparison.consensus !== 'agree' && comparison.consensus !== 'disagree')) continue;
    pairs++;
    const humanPickedLonger = preferred > other;
    if (humanPickedLonger) humanLonger++;
    if ((comparison.consensus === 'agree') === humanPickedLonger) panelLonger++;
  }
  return {
    pairs,
    panelLongerRate: pairs === 0 ? null : round(panelLonger / pairs),
    humanLongerRate: pairs === 0 ? null : round(humanLonger / pairs),
  };
}
