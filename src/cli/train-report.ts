import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type HeldOutMetrics, type TrainerDataReport, TribunalError } from '../contracts/index.js';
import { type Style, table } from './terminal.js';
import { formatNumber, formatPercent } from './train-progress.js';

/** The held-out metrics table of `tribunal train` and `tribunal train eval`. */
export function heldOutTable(metrics: HeldOutMetrics, style: Style): string {
  const group = (name: 'chosen_longer' | 'chosen_shorter' | 'same_length') => {
    const count = metrics[`count/${name}`] ?? 0;
    return `${formatPercent(metrics[`accuracy/${name}`])} (${count} pair${count === 1 ? '' : 's'})`;
  };
  return table(
    [
      ['metric', 'value', ''],
      ['accuracy', formatPercent(metrics.accuracy), 'pairs where the chosen answer scores higher'],
      ['loss', formatNumber(metrics.loss, 4), 'the training loss on held-out pairs'],
      ['ECE', formatNumber(metrics.ece, 4), 'expected calibration error of σ(r+ − r−); 0 is perfect'],
      ['Brier', formatNumber(metrics.brier, 4), 'mean (σ(r+ − r−) − 1)²; 0.25 is a coin flip at σ = 0.5'],
      ['mean margin', formatNumber(metrics.mean_margin, 4), 'mean r+ − r−'],
      ['accuracy, chosen longer', group('chosen_longer'), 'the chosen answer has more tokens'],
      ['accuracy, chosen shorter', group('chosen_shorter'), 'the chosen answer has fewer tokens'],
      ['accuracy, same length', group('same_length'), ''],
      ...(metrics.ties
        ? [
            [
              'ties',
              `${metrics.ties} of ${metrics.pairs}`,
              `both answers scored the same${metrics.identical_answers ? ` (${metrics.identical_answers} identical answers)` : ''}; wrong in accuracy, p = 0.5 in ECE`,
            ],
          ]
        : []),
    ],
    style,
  );
}

/** The length baselines on an evaluation's pairs and the model's margin over the better one (null: unknown). */
export interface LengthBaselines {
  /** Accuracy of always preferring the answer with more tokens (same length counts half), on the same pairs. */
  longerAnswerBaseline: number | null;
  /** Accuracy of always preferring the answer with fewer tokens (same length counts half), on the same pairs. */
  shorterAnswerBaseline: number | null;
  /** The model's accuracy minus the better of the two length baselines (on HH the shorter answer often wins). */
  marginOverLengthBaseline: number | null;
}

/**
 * Accuracy of always preferring the answer with more tokens on the same pairs (ties count half): the bar a
 * reward model must clear before its accuracy says more than "longer is better". Null without the length counts.
 */
export function longerAnswerBaseline(metrics: HeldOutMetrics): number | null {
  const longer = metrics['count/chosen_longer'];
  const shorter = metrics['count/chosen_shorter'];
  const same = metrics['count/same_length'];
  if (longer === undefined || shorter === undefined || same === undefined) return null;
  const total = longer + shorter + same;
  return total === 0 ? null : (longer + same / 2) / total;
}

/**
 * Accuracy of always preferring the answer with fewer tokens on the same pairs (same length counts half). On
 * HH-RLHF harmless the human-chosen answer is the shorter one in 55–57% of pairs, so this, not the longer-answer
 * baseline, is the bar there.
 */
export function shorterAnswerBaseline(metrics: HeldOutMetrics): number | null {
  const longer = longerAnswerBaseline(metrics);
  return longer === null ? null : 1 - longer;
}

/** Both length baselines and the model's margin over the better one (null where a number is missing). */
export function lengthBaselines(metrics: HeldOutMetrics | null): LengthBaselines {
  const longer = metrics ? longerAnswerBaseline(metrics) : null;
  const shorter = metrics ? shorterAnswerBaseline(metrics) : null;
  const accuracy = metrics?.accuracy;
  return {
    longerAnswerBaseline: longer,
    shorterAnswerBaseline: shorter,
    marginOverLengthBaseline:
      longer === null || shorter === null || accuracy == null ? null : accuracy - Math.max(longer, shorter),
  };
}

/** "Always picking the longer answer scores X, the shorter Y; the model is Z points above the better (…)". */
export function lengthBaselineLine(summary: LengthBaselines): string | undefined {
  const { longerAnswerBaseline: longer, shorterAnswerBaseline: shorter, marginOverLengthBaseline: margin } = summary;
  if (longer === null || shorter === null) return undefined;
  const better = longer >= shorter ? 'longer' : 'shorter';
  return (
    `Always picking the longer answer scores ${formatPercent(longer)} on these pairs, the shorter ${formatPercent(shorter)}` +
    (margin === null
      ? '.'
      : `; the model is ${Math.abs(margin * 100).toFixed(1)} points ${margin >= 0 ? 'above' : 'below'} the better of ` +
        `the two (${better}).`)
  );
}

/**
 * What tokenisation did to a split, when it did anything worth a word: `12 of 40 pairs dropped as longer than
 * --max-length, 3 prompts cut (truncation keep_answers); 2 with an empty answer, 1 with identical answers`.
 */
export function dataNote(report: TrainerDataReport | null | undefined): string | undefined {
  if (!report) return undefined;
  const total = report.pairs + report.dropped;
  const cuts = [
    report.dropped > 0 ? `${report.dropped} of ${total} pairs dropped as longer than --max-length` : '',
    report.answer_cut > 0 ? `${report.answer_cut} with an answer cut` : '',
    report.prompt_cut > 0 ? `${report.prompt_cut} with the prompt's start cut` : '',
  ].filter(Boolean);
  const odd = [
    report.empty_answers > 0 ? `${report.empty_answers} with an empty answer` : '',
    report.identical_answers > 0 ? `${report.identical_answers} with identical answers` : '',
  ].filter(Boolean);
  if (cuts.length === 0 && odd.length === 0) return undefined;
  return [cuts.length > 0 ? `${cuts.join(', ')} (truncation ${report.policy})` : '', odd.join(', ')].filter(Boolean).join('; ');
}

/** A warning when accuracy depends on whether the chosen answer is the longer one (both groups of 10 or more). */
export function lengthBias(metrics: HeldOutMetrics): string | undefined {
  const longer = metrics['accuracy/chosen_longer'];
  const shorter = metrics['accuracy/chosen_shorter'];
  if (longer == null || shorter == null) return undefined;
  if ((metrics['count/chosen_longer'] ?? 0) < 10 || (metrics['count/chosen_shorter'] ?? 0) < 10) return undefined;
  const gap = (longer - shorter) * 100;
  if (Math.abs(gap) < 15) return undefined;
  return `Possible length bias: held-out accuracy is ${Math.abs(gap).toFixed(0)} points ${gap > 0 ? 'higher' : 'lower'} when the chosen answer is the longer one.`;
}

/**
 * The pairs file a path given with `flag` names: the file itself, or the `pairs.jsonl` of a `tribunal label` run
 * directory. INPUT_INVALID names the path otherwise.
 */
export async function readableFile(file: string, flag: string): Promise<string> {
  const stats = await stat(file).catch((error: Error) => {
    throw new TribunalError('INPUT_INVALID', `${flag} ${file}: cannot read it (${error.message})`, {
      cause: error,
      location: { file },
    });
  });
  if (stats.isDirectory()) {
    const pairs = path.join(file, 'pairs.jsonl');
    if (
      await stat(pairs).then(
        (found) => found.isFile(),
        () => false,
      )
    )
      return pairs;
    throw new TribunalError(
      'INPUT_INVALID',
      `${flag} ${file} is a directory without pairs.jsonl: give a pairs file, or the --out directory of a "tribunal label" run`,
      { location: { file } },
    );
  }
  if (!stats.isFile()) throw new TribunalError('INPUT_INVALID', `${flag} ${file} is not a file`, { location: { file } });
  return file;
}

/** A run name from a pairs file name: `hh.jsonl.gz` → `hh`; a label run's `runs/arena/pairs.jsonl` → `arena`. */
export function pairsName(file: string): string {
  const name = path
    .basename(file)
    .replace(/\.gz$/, '')
    .replace(/\.jsonl?$/, '');
  if (name === 'pairs' && path.basename(path.dirname(file)) !== '') return path.basename(path.dirname(file));
  return name || 'pairs';
}
