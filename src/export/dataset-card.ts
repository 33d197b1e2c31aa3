import type { BinarizationStrategy } from './binarize.js';
import type { Distribution } from './distribution.js';
import type { ExportSummary } from './export-summary.js';

/** The two preference-pair file formats an export can write. */
export const PAIR_FORMATS = ['trl', 'openai'] as const;
export type PairFormat = (typeof PAIR_FORMATS)[number];

/** What a dataset card describes. */
export interface DatasetCardOptions {
  summary: ExportSummary;
  binarization: {
    strategy: BinarizationStrategy;
    minMargin: number;
    minAgreement: number;
    seed: string | number;
    /** Pairs with a flagged candidate were dropped (`--exclude-flagged`). */
    excludeFlagged?: boolean;
    /** The pairs of escalated items no human answered were dropped (`--exclude-escalated`). */
    excludeEscalated?: boolean;
  };
  pairFormat: PairFormat;
  /** File names relative to the card. */
  files: { labels: string; pairs: string; figure: string };
  title?: string;
  /** A Hugging Face license id (`apache-2.0`, `mit`, `cc-by-4.0`, ...); default `other`: set it to the input's licence. */
  license?: string;
  /** ISO 639-1 codes of the texts' languages, when known. */
  language?: readonly string[];
  /** A paragraph on where the prompts and candidates came from. */
  description?: string;
}

const STRATEGY_TEXT: Record<BinarizationStrategy, string> = {
  'best-vs-worst': 'the top-scored candidate of each item against its lowest-scored one (one pair per item)',
  'best-vs-random-lower':
    'the top-scored candidate of each item against one picked at random among those scored strictly lower ' +
    '(the UltraFeedback-binarized / Zephyr recipe; the pick is seeded by the seed and the item id, so re-exports are identical)',
  'all-pairs': 'every two candidates of an item whose consensus scores differ',
};

/** The Hugging Face `size_categories` value for a number of rows. */
export function sizeCategory(rows: number): string {
  const bounds: Array<[number, string]> = [
    [1e3, 'n<1K'],
    [1e4, '1K<n<10K'],
    [1e5, '10K<n<100K'],
    [1e6, '100K<n<1M'],
    [1e7, '1M<n<10M'],
    [1e8, '10M<n<100M'],
    [1e9, '100M<n<1B'],
  ];
  for (const [bound, category] of bounds) if (rows < bound) return category;
  return 'n>1B';
}

/**
 * Renders a Hugging Face dataset card (README.md with YAML front matter: license, task categories, size, tags and
 * configs for labels and pairs) describing counts, the panel and its models, the binarization and filters, score and
 * agreement statistics and the figure.
 */
export function renderDatasetCard(options: DatasetCardOptions): string {
  const { summary, binarization, files } = options;
  const panel = summary.panels[0];
  const scale = panel?.scale;
  const title = options.title ?? `${panel?.id ?? 'Tribunal'} preference labels`;
  const range = scale === undefined ? undefined : scale.max - scale.min;

  const front = [
    '---',
    `license: ${options.license ?? 'other'}`,
    ...(options.language !== undefined && options.language.length > 0
      ? ['language:', ...options.language.map((code) => `- ${code}`)]
      : []),
    'task_categories:',
    '- text-generation',
    '- text-classification',
    'size_categories:',
    `- ${sizeCategory(Math.max(summary.items, summary.pairs))}`,
    'tags:',
    '- rlaif',
    '- preference',
    '- dpo',
    '- reward-modeling',
    '- llm-as-a-judge',
    '- synthetic',
    '- tribunal',
    `pretty_name: ${JSON.stringify(title)}`,
    'configs:',
    '- config_name: pairs',
    `  data_files: ${files.pairs}`,
    '  default: true',
    '- config_name: labels',
    `  data_files: ${files.labels}`,
    '---',
  ];

  const lines: string[] = [
    ...front,
    '',
    `# ${title}`,
    '',
    'Preference data labeled by AI feedback (RLAIF): a panel of critic personas, guided by a constitution, debated each ' +
      'candidate answer over rounds and reached a consensus score per candidate. The scores were then binarized into ' +
      'chosen/rejected pairs.',
    '',
  ];
  if (options.description !== undefined) lines.push(options.description, '');

  lines.push(
    '## Files',
    '',
    '| file | what |',
    '| --- | --- |',
    `| \`${files.labels}\` | one line per item: consensus score, rank and agreement per candidate, every critic's score and rationale per round, failed turns, tokens and cost, panel hash |`,
    `| \`${files.pairs}\` | ${options.pairFormat === 'trl' ? 'preference pairs in TRL format (`prompt`, `chosen`, `rejected`; conversational when the prompt is a chat) with `margin`, `confidence`, `score_chosen`, `score_rejected`, `id`, `chosen_id`, `rejected_id`, `panel_hash`' : 'preference pairs in OpenAI preference fine-tuning format (`input.messages`, `preferred_output`, `non_preferred_output`)'} |`,
    `| \`${files.figure}\` | score and agreement histograms |`,
    '',
    '## Counts',
    '',
    '| | count |',
    '| --- | ---: |',
    `| input lines rejected at import | ${summary.rejected} |`,
    `| items exported | ${summary.items} |`,
    `| items labeled (at least one candidate scored) | ${summary.labeled} |`,
    `| items without any score (every turn failed) | ${summary.unlabeled} |`,
    `| preference pairs | ${summary.pairs} |`,
    `| items that gave at least one pair | ${summary.itemsWithPairs} |`,
    `| pairs filtered out by margin (< ${binarization.minMargin}) | ${summary.filteredOut.margin} |`,
    `| pairs filtered out by agreement (< ${binarization.minAgreement}) | ${summary.filteredOut.agreement} |`,
    ...(binarization.excludeFlagged === true
      ? [`| pairs filtered out as flagged prompt injection (--exclude-flagged) | ${summary.filteredOut.flagged} |`]
      : []),
    ...(summary.review.escalated > 0
      ? [
          `| items escalated to a human review (panel \`escalate\`) | ${summary.review.escalated} |`,
          `| escalated items a human verdict answered | ${summary.review.answered} |`,
        ]
      : []),
    ...(binarization.excludeEscalated === true
      ? [`| pairs filtered out as escalated and unanswered (--exclude-escalated) | ${summary.filteredOut.escalated} |`]
      : []),
    `| items with fewer than two scored candidates | ${summary.unpairable.tooFewScored} |`,
    `| items whose candidates all tied | ${summary.unpairable.allTied} |`,
    '',
    '## Panel',
    '',
  );
  if (summary.panels.length === 0) lines.push('No labels were exported.', '');
  if (summary.panels.length > 1) {
    lines.push(
      `**Warning:** these labels come from ${summary.panels.length} different panel configurations (hashes below); scores may not be comparable.`,
      '',
    );
  }
  for (const each of summary.panels) {
    lines.push(
      `- panel \`${each.id}\`, hash \`${each.hash}\``,
      `- protocol \`${each.protocol}\`, aggregation \`${each.aggregation}\`, scale ${each.scale.min}–${each.scale.max}`,
    );
    if (each.constitution !== undefined) {
      lines.push(
        `- constitution \`${each.constitution.id}\` version ${each.constitution.version}, hash \`${each.constitution.hash}\``,
      );
    }
    lines.push('', '| critic | model | weight |', '| --- | --- | ---: |');
    for (const critic of each.critics) lines.push(`| ${critic.id} | \`${critic.model}\` | ${critic.weight} |`);
    lines.push('');
  }

  lines.push(
    '## Binarization',
    '',
    `Strategy \`${binarization.strategy}\`: ${STRATEGY_TEXT[binarization.strategy]}.` +
      (binarization.strategy === 'best-vs-random-lower' ? ` Seed \`${binarization.seed}\`.` : ''),
    '',
    `- Ties never become pairs, and candidates without a consensus score are never paired.`,
    `- \`margin\` = \`score_chosen - score_rejected\` in panel scale units${range === undefined ? '' : ` (divide by ${range} to normalise to 0–1)`}; ${binarization.minMargin > 0 ? `pairs with margin below **${binarization.minMargin}** are dropped` : 'no minimum margin (any non-tie is kept)'}.`,
    '- `confidence` = the lower agreement of the two candidates, where agreement = 1 − (spread of the final-round critic scores) / (scale range); ' +
      (binarization.minAgreement > 0
        ? `pairs with confidence below **${binarization.minAgreement}** are dropped.`
        : 'no minimum confidence.'),
    '',
    '## Scores',
    '',
    `![Score and agreement distribution](${files.figure})`,
    '',
    '| | n | mean | stdev | min | 25% | median | 75% | max |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    distributionRow('consensus score, all candidates', summary.scores),
    ...summary.scoresByRank.map(({ rank, scores }) => distributionRow(`consensus score, rank ${rank}`, scores)),
    distributionRow('agreement, all candidates', summary.agreement),
    distributionRow('pair margin', summary.margins),
    distributionRow('pair confidence', summary.confidence),
    distributionRow('debate rounds used', summary.roundsUsed),
    '',
  );
  if (summary.human.compared > 0) {
    const rate = summary.human.agreed / summary.human.compared;
    lines.push(
      '## Agreement with human labels',
      '',
      `${summary.human.compared} items carry a human preference (e.g. HH-RLHF's \`chosen\`). The panel scored the ` +
        `human-preferred answer strictly highest in ${summary.human.agreed} of them (${(rate * 100).toFixed(1)}%), tied it in ${summary.human.tied}.`,
      '',
    );
  }
  lines.push(...reviewSection(summary, binarization.excludeEscalated === true));
  lines.push(...injectionSection(summary, binarization.excludeFlagged === true));
  lines.push(
    '## Cost',
    '',
    `${summary.usage.calls} model calls, ${summary.usage.inputTokens} input and ${summary.usage.outputTokens} output tokens, ` +
      `$${summary.usage.costUsd.toFixed(4)} in total; ${summary.failedTurns} critic turns failed (listed with reasons in \`${files.labels}\`).` +
      (summary.usage.estimatedCalls
        ? ` The server reported no token usage for ${summary.usage.estimatedCalls} calls: their tokens are estimated from the text, so the token counts and the cost are estimates.`
        : ''),
    '',
    '## Use',
    '',
    '```python',
    'from datasets import load_dataset',
    '',
    `pairs = load_dataset("json", data_files="${files.pairs}", split="train")`,
    '```',
    '',
    '## Limitations',
    '',
    "Labels are model judgments, not human ones: they inherit the critics' biases (position, length, self-preference) " +
      "and the constitution's priorities. Check agreement with human labels on a sample before training on them.",
    '',
  );
  return lines.join('\n');
}

/** The card's human-review section (panel `escalate`): how many items the panel escalated, answered or open. */
function reviewSection(summary: ExportSummary, excluded: boolean): string[] {
  const { escalated, answered } = summary.review;
  if (escalated === 0) return [];
  const open = escalated - answered;
  return [
    '## Human review',
    '',
    `The panel was unsure of ${escalated} items (consensus probability below its \`escalate\` threshold); each row ` +
      `carries \`review\`. A human verdict answered ${answered} of them (\`meta.humanOverride\`); ${open} are still open. ` +
      (excluded
        ? `The pairs of open items were dropped (${summary.filteredOut.escalated}).`
        : 'The pairs of open items were kept; export with `--exclude-escalated` to drop them.'),
    '',
  ];
}

/** The card's prompt-injection section: what was flagged and whether flagged pairs were kept. */
function injectionSection(summary: ExportSummary, excluded: boolean): string[] {
  const { flags } = summary;
  const lines = ['## Prompt injection', ''];
  if (flags.rows === 0) {
    lines.push(
      'No prompt or candidate was flagged as addressing the judge (see docs/prompt-injection.md for what is detected).',
      '',
    );
    return lines;
  }
  lines.push(
    `${flags.rows} items have texts that address the judge instead of the user (heuristic detector, docs/prompt-injection.md): ` +
      `${flags.candidates} candidates and ${flags.prompts} prompts; each row lists them under \`flags\`. ` +
      (excluded
        ? `Pairs with a flagged candidate were dropped (${summary.filteredOut.flagged}).`
        : 'Pairs with flagged candidates were kept; export with `--exclude-flagged` to drop them.'),
    '',
    '| flag | texts |',
    '| --- | ---: |',
    ...Object.entries(flags.byFlag)
      .filter(([, count]) => count > 0)
      .map(([flag, count]) => `| ${flag} | ${count} |`),
    '',
  );
  return lines;
}

function distributionRow(label: string, distribution: Distribution): string {
  const cells = [
    distribution.mean,
    distribution.stdev,
    distribution.min,
    distribution.q25,
    distribution.median,
    distribution.q75,
    distribution.max,
  ];
  return `| ${label} | ${distribution.count} | ${cells.map((value) => (value === null ? '–' : value.toFixed(2))).join(' | ')} |`;
}
