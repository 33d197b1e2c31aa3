import { addUsage, type Critic, type LabelRow, type ResolvedPanel, type Usage, ZERO_USAGE } from '../contracts/index.js';
import type { JudgeAgreement } from './agreement.js';
import { evalReport } from './eval-report.js';
import { goldComparisons } from './gold-comparisons.js';
import { bootstrap, type Estimate, mean } from './stats.js';

/** The three ways of spending the same model calls that `tribunal ablate` compares. */
export const ABLATION_ARMS = ['single', 'jury', 'debate'] as const;
export type AblationArm = (typeof ABLATION_ARMS)[number];

/** One arm's panel and its planned calls per judged candidate (pointwise) or ordered pair (pairwise). */
export interface AblationPlan {
  arm: AblationArm;
  panel: ResolvedPanel;
  callsPerSubject: number;
  description: string;
}

/**
 * Three panels with the same number of model calls per judged candidate: the debate panel as given (N critics,
 * R rounds, plus a blind vote when set: N × (1 + R [+ 1]) calls), a jury of every persona replicated 1 + R [+ 1]
 * times voting once, and a single judge (`judge`, default the first persona) replicated N × (1 + R [+ 1]) times
 * (self-consistency). Replicas get their own id and persona hash, so the turn cache never merges their calls.
 * A debate that converges early spends fewer calls than planned; the report shows the calls actually made.
 * @example const plans = ablationPlans({ panel: await loadPanel() });
 */
export function ablationPlans(options: { panel: ResolvedPanel; judge?: string }): AblationPlan[] {
  const { panel } = options;
  const critics = panel.critics;
  const rounds = panel.panel.protocol === 'jury' ? 0 : panel.panel.maxRounds + (panel.panel.blindFinalVote ? 1 : 0);
  const perCritic = 1 + rounds;
  const budget = critics.length * perCritic;
  const judge = critics.find((critic) => critic.id === (options.judge ?? critics[0]?.id));
  if (!judge) throw new Error(`ablation: no persona "${options.judge}" on panel ${panel.panel.id}`);
  const juryPanel = (arm: AblationArm, members: Critic[]): ResolvedPanel => ({
    ...panel,
    panel: {
      ...panel.panel,
      id: `${panel.panel.id}-${arm}`,
      protocol: 'jury',
      maxRounds: 0,
      blindFinalVote: false,
      personas: members.map((critic) => critic.id),
    },
    critics: members,
    hash: `${panel.hash}:${arm}:${members.length}`,
  });
  return [
    {
      arm: 'single',
      panel: juryPanel('single', replicate(judge, budget)),
      callsPerSubject: budget,
      description: `${judge.id} alone, sampled ${budget} times`,
    },
    {
      arm: 'jury',
      panel: juryPanel(
        'jury',
        critics.flatMap((critic) => replicate(critic, perCritic)),
      ),
      callsPerSubject: budget,
      description: `${critics.length} personas × ${perCritic} independent votes`,
    },
    {
      arm: 'debate',
      panel: { ...panel, panel: { ...panel.panel } },
      callsPerSubject: budget,
      description: `${critics.length} personas, ${panel.panel.protocol}, ${panel.panel.maxRounds} rounds${panel.panel.blindFinalVote ? ' + blind vote' : ''}`,
    },
  ];
}

/** `count` copies of a critic with distinct ids (`id`, `id-r2`, ...) and persona hashes. */
export function replicate(critic: Critic, count: number): Critic[] {
  return Array.from({ length: count }, (_, index) =>
    index === 0 ? critic : { ...critic, id: `${critic.id}-r${index + 1}`, hash: `${critic.hash}:replica-${index + 1}` },
  );
}

/** One arm's result: agreement with gold and what it cost. */
export interface AblationResult {
  arm: AblationArm;
  description: string;
  plannedCallsPerSubject: number;
  items: number;
  usage: Usage;
  agreement: JudgeAgreement;
  interCriticAlpha: number | null;
  /**
   * Accuracy minus the single judge's on the items both decided, with a paired bootstrap interval (null for the
   * single arm itself): an interval that excludes 0 is a real difference.
   */
  versusSingle: Estimate | null;
}

/** Agreement with gold and cost of each arm, from its label rows. */
export function ablationResults(options: {
  arms: ReadonlyArray<{ plan: AblationPlan; rows: readonly LabelRow[] }>;
  seed: string;
  resamples?: number;
}): AblationResult[] {
  const correctByArm = new Map<AblationArm, Map<string, number>>();
  for (const { plan, rows } of options.arms) {
    const correct = new Map<string, number>();
    for (const comparison of goldComparisons({ rows, seed: options.seed }).comparisons)
      if (comparison.consensus !== 'abstain') correct.set(comparison.itemId, comparison.consensus === 'agree' ? 1 : 0);
    correctByArm.set(plan.arm, correct);
  }
  const single = correctByArm.get('single');
  return options.arms.map(({ plan, rows }) => {
    const report = evalReport({
      rows,
      seed: options.seed,
      ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
    });
    const own = correctByArm.get(plan.arm);
    const paired =
      plan.arm === 'single' || !single || !own
        ? null
        : [...own.entries()].flatMap(([itemId, value]) => {
            const baseline = single.get(itemId);
            return baseline === undefined ? [] : [value - baseline];
          });
    return {
      arm: plan.arm,
      description: plan.description,
      plannedCallsPerSubject: plan.callsPerSubject,
      items: rows.length,
      usage: rows.reduce((total, row) => addUsage(total, row.usage), ZERO_USAGE),
      agreement: report.agreement.consensus,
      interCriticAlpha: report.interCriticAlpha,
      versusSingle:
        paired === null
          ? null
          : bootstrap({
              data: paired,
              statistic: mean,
              seed: `${options.seed}:versus-single:${plan.arm}`,
              ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
            }),
    };
  });
}

/** The readable ablation table (ablation.md). */
export function ablationMarkdown(results: readonly AblationResult[]): string {
  const pct = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  const lines = [
    '# Equal-budget ablation: single judge vs jury vs debate',
    '',
    'Each arm judges the same gold items with the same planned number of model calls per candidate; ' +
      'a debate that converges early spends less. Intervals are 95% bootstrap intervals over items.',
    '',
    '| arm | setup | planned calls / candidate | calls | tokens | cost | accuracy | 95% CI | Cohen κ | ties | abstain | critic α | vs single (95% CI) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((result) => {
      const { accuracy, kappa, counts } = result.agreement;
      const ci = accuracy.low === null || accuracy.high === null ? 'n/a' : `${pct(accuracy.low)}–${pct(accuracy.high)}`;
      return `| ${result.arm} | ${result.description} | ${result.plannedCallsPerSubject} | ${result.usage.calls} | ${result.usage.inputTokens + result.usage.outputTokens} | $${result.usage.costUsd.toFixed(4)} | ${pct(accuracy.value)} | ${ci} | ${kappa.value === null ? 'n/a' : kappa.value.toFixed(3)} | ${counts.tie} | ${counts.abstain} | ${result.interCriticAlpha ?? 'n/a'} | ${versus(result.versusSingle)} |`;
    }),
    '',
    'ChatEval reports that multi-persona debate beats a single judge only when the personas differ: compare the arms ' +
      "only where the intervals do not overlap. Critic α is Krippendorff's α between the arm's critics (replicas included): near 1 they say the same thing.",
    '',
  ];
  return `${lines.join('\n')}\n`;
}

function versus(estimate: Estimate | null): string {
  if (estimate === null || estimate.value === null) return '—';
  const points = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}`;
  return estimate.low === null || estimate.high === null
    ? `${points(estimate.value)} pts`
    : `${points(estimate.value)} pts (${points(estimate.low)} to ${points(estimate.high)})`;
}
