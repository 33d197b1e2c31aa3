import { type GoldComparison, type GoldOutcome, outcomeOf } from './gold-comparisons.js';
import { bootstrap, cohensKappa, type Estimate, mean } from './stats.js';

/** Agreement of one judge (the consensus, one critic, or a baseline) with the human labels. */
export interface JudgeAgreement {
  /** Share of decided pairs (not abstained) where the judge preferred the human's choice; ties count as misses. */
  accuracy: Estimate;
  /** Ties count as half right. */
  accuracyTiesHalf: number | null;
  /** Cohen's κ between judge (A, B or tie) and human (A or B), A and B assigned by a seeded coin per item. */
  kappa: Estimate;
  counts: Record<GoldOutcome, number>;
}

/**
 * Accuracy, Cohen's κ (with seeded bootstrap intervals), ties and abstentions of one judge's outcomes on gold pairs.
 * @example judgeAgreement({ comparisons, outcome: (c) => c.consensus, seed: 'eval' })
 */
export function judgeAgreement(options: {
  comparisons: readonly GoldComparison[];
  outcome: (comparison: GoldComparison) => GoldOutcome;
  seed: string;
  resamples?: number;
}): JudgeAgreement {
  const counts: Record<GoldOutcome, number> = { agree: 0, disagree: 0, tie: 0, abstain: 0 };
  const decided: Array<{ outcome: GoldOutcome; preferredIsA: boolean }> = [];
  for (const comparison of options.comparisons) {
    const outcome = options.outcome(comparison);
    counts[outcome]++;
    if (outcome !== 'abstain') decided.push({ outcome, preferredIsA: comparison.preferredIsA });
  }
  const resamples = options.resamples ?? 1000;
  const accuracy = bootstrap({
    data: decided,
    statistic: (sample) => mean(sample.map((entry) => (entry.outcome === 'agree' ? 1 : 0))),
    seed: `${options.seed}:accuracy`,
    resamples,
  });
  const kappa = bootstrap({ data: decided, statistic: kappaOf, seed: `${options.seed}:kappa`, resamples });
  return {
    accuracy,
    accuracyTiesHalf: mean(decided.map((entry) => (entry.outcome === 'agree' ? 1 : entry.outcome === 'tie' ? 0.5 : 0))),
    kappa,
    counts,
  };
}

function kappaOf(sample: ReadonlyArray<{ outcome: GoldOutcome; preferredIsA: boolean }>): number | null {
  const human = sample.map((entry) => (entry.preferredIsA ? 'A' : 'B'));
  const judge = sample.map((entry) => {
    if (entry.outcome === 'tie') return 'tie';
    const pickedPreferred = entry.outcome === 'agree';
    return pickedPreferred === entry.preferredIsA ? 'A' : 'B';
  });
  return cohensKappa(judge, human);
}

/**
 * Agreement of the consensus, of each critic and of the two length baselines ("longer answer wins", "shorter answer
 * wins") with the human labels. Where people prefer the shorter answer (HH-RLHF harmless: the chosen answer is the
 * longer one in 43% of pairs), the shorter-answer baseline is the bar to beat.
 */
export function goldAgreement(options: { comparisons: readonly GoldComparison[]; seed: string; resamples?: number }): {
  consensus: JudgeAgreement;
  critics: Record<string, JudgeAgreement>;
  longerAnswer: JudgeAgreement;
  shorterAnswer: JudgeAgreement;
} {
  const { comparisons, seed } = options;
  const resamples = options.resamples ?? 1000;
  const criticIds = [...new Set(comparisons.flatMap((comparison) => Object.keys(comparison.critics)))].sort();
  return {
    consensus: judgeAgreement({ comparisons, outcome: (c) => c.consensus, seed: `${seed}:consensus`, resamples }),
    critics: Object.fromEntries(
      criticIds.map((criticId) => [
        criticId,
        judgeAgreement({
          comparisons,
          outcome: (c) => c.critics[criticId] ?? 'abstain',
          seed: `${seed}:critic:${criticId}`,
          resamples,
        }),
      ]),
    ),
    longerAnswer: judgeAgreement({
      comparisons,
      outcome: (c) => outcomeOf(c.lengths.preferred, c.lengths.other),
      seed: `${seed}:longer`,
      resamples,
    }),
    shorterAnswer: judgeAgreement({
      comparisons,
      outcome: (c) => outcomeOf(c.lengths.other, c.lengths.preferred),
      seed: `${seed}:shorter`,
      resamples,
    }),
  };
}
