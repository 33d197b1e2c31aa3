import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  type LabelRow,
  LabelRowSchema,
  OpenAiPreferenceRowSchema,
  PreferencePairSchema,
  TribunalError,
} from '../contracts/index.js';
import { type BinarizationStrategy, type BinarizeResult, binarize } from './binarize.js';
import { type DatasetCardOptions, type PairFormat, renderDatasetCard } from './dataset-card.js';
import { renderScoreDistributionSvg } from './distribution-svg.js';
import { createSummaryCollector, type ExportSummary } from './export-summary.js';
import { type LengthAdjustment, lengthControlledRow } from './length-control.js';
import { toOpenAiPair } from './openai-pair.js';
import { pairUncertainty } from './pair-uncertainty.js';
import { toTrlPair } from './trl-pair.js';
import { type AtomicWriter, jsonLine, openAtomicWriter, writeFileAtomic } from './write-atomic.js';

/** File names an export writes inside its directory. */
export const EXPORT_FILES = {
  labels: 'labels.jsonl',
  pairs: { trl: 'pairs.jsonl', openai: 'pairs.openai.jsonl' } satisfies Record<PairFormat, string>,
  card: 'README.md',
  figure: 'score-distribution.svg',
} as const;

/** Options of `exportDataset`. */
export interface ExportDatasetOptions {
  /** Label rows, streamed (e.g. from the store); read once. */
  rows: Iterable<LabelRow> | AsyncIterable<LabelRow>;
  /** Created when missing; existing export files in it are replaced atomically. */
  directory: string;
  /** Default `trl`. */
  pairFormat?: PairFormat;
  /** Default `best-vs-worst`. */
  strategy?: BinarizationStrategy;
  minMargin?: number;
  minAgreement?: number;
  seed?: string | number;
  /** Drop pairs with a candidate flagged as a prompt-injection attempt (see `binarize`). */
  excludeFlagged?: boolean;
  /**
   * Drop the pairs of items escalated to a human review (panel `escalate`) that no human verdict answered yet;
   * labels.jsonl keeps them, marked with `review`. Default false: they are exported, marked.
   */
  excludeEscalated?: boolean;
  /** Write TRL pairs in conversational form even for text prompts. */
  conversational?: boolean;
  /** Add the critics' vote distribution, consensus probability, disagreement and suggested label smoothing to TRL pairs. */
  uncertainty?: boolean;
  /**
   * Drop pairs whose consensus probability (weighted share of critics preferring the chosen answer) is below this;
   * counted with the agreement filter. Pairs without per-critic scores (pairwise mode) are kept. Default 0.
   */
  minConsensus?: number;
  /**
   * Pair on length-controlled scores (see `lengthControlledRow`): pairs' scores and margins are then the adjusted
   * ones; labels.jsonl keeps the panel's scores.
   */
  lengthControl?: LengthAdjustment;
  /** Input lines rejected at import, for the card's counts. */
  rejected?: number;
  /** Title, license, language and description for the dataset card. */
  card?: Pick<DatasetCardOptions, 'title' | 'license' | 'language' | 'description'>;
}

/** What an export wrote. */
export interface ExportResult {
  summary: ExportSummary;
  files: { labels: string; pairs: string; card: string; figure: string };
}

/**
 * Writes a dataset directory from label rows in one streaming pass: labels.jsonl, the binarized pairs (TRL
 * `pairs.jsonl` or OpenAI `pairs.openai.jsonl`), a README.md dataset card and score-distribution.svg. Each file is
 * written atomically; if anything fails, no partial file is left and earlier files of the same name are kept.
 * @example
 * const { summary } = await exportDataset({ rows, directory: 'out', strategy: 'best-vs-random-lower', minMargin: 1, seed: 7 });
 */
export async function exportDataset(options: ExportDatasetOptions): Promise<ExportResult> {
  const pairFormat = options.pairFormat ?? 'trl';
  const binarization = {
    strategy: options.strategy ?? 'best-vs-worst',
    minMargin: options.minMargin ?? 0,
    minAgreement: options.minAgreement ?? 0,
    seed: options.seed ?? 0,
    excludeFlagged: options.excludeFlagged ?? false,
    excludeEscalated: options.excludeEscalated ?? false,
  };
  const names = {
    labels: EXPORT_FILES.labels,
    pairs: EXPORT_FILES.pairs[pairFormat],
    card: EXPORT_FILES.card,
    figure: EXPORT_FILES.figure,
  };
  const files = {
    labels: path.resolve(options.directory, names.labels),
    pairs: path.resolve(options.directory, names.pairs),
    card: path.resolve(options.directory, names.card),
    figure: path.resolve(options.directory, names.figure),
  };
  await mkdir(options.directory, { recursive: true });

  const collector = createSummaryCollector();
  const writers: AtomicWriter[] = [];
  try {
    const labels = await openAtomicWriter({ file: files.labels });
    writers.push(labels);
    const pairs = await openAtomicWriter({ file: files.pairs });
    writers.push(pairs);
    const seen = new Set<string>();
    let index = 0;
    let pairIndex = 0;
    for await (const row of options.rows) {
      await labels.write(`${jsonLine({ file: files.labels, row, index, schema: LabelRowSchema })}\n`);
      index += 1;
      if (seen.has(row.id)) {
        throw new TribunalError(
          'INPUT_INVALID',
          `label rows repeat item id "${row.id}"; export one run (or deduplicate) at a time`,
          {
            location: { file: files.labels, line: index, field: 'id' },
          },
        );
      }
      seen.add(row.id);
      const pairRow = options.lengthControl ? lengthControlledRow(row, options.lengthControl) : row;
      const binarized = binarize({ row: pairRow, ...binarization });
      if ((options.minConsensus ?? 0) > 0) dropLowConsensus({ row: pairRow, binarized, minConsensus: options.minConsensus ?? 0 });
      let escalatedDropped = 0;
      if (options.excludeEscalated === true && row.review?.escalated === true && row.review.answered !== true) {
        escalatedDropped = binarized.pairs.length;
        binarized.pairs = [];
      }
      collector.add(row, binarized, { escalated: escalatedDropped });
      for (const pair of binarized.pairs) {
        const line =
          pairFormat === 'trl'
            ? jsonLine({
                file: files.pairs,
                row: toTrlPair({
                  row: pairRow,
                  pair,
                  ...(options.conversational === undefined ? {} : { conversational: options.conversational }),
                  ...(options.uncertainty === undefined ? {} : { uncertainty: options.uncertainty }),
                }),
                index: pairIndex,
                schema: PreferencePairSchema,
              })
            : jsonLine({
                file: files.pairs,
                row: toOpenAiPair({ row: pairRow, pair }),
                index: pairIndex,
                schema: OpenAiPreferenceRowSchema,
              });
        await pairs.write(`${line}\n`);
        pairIndex += 1;
      }
    }
    const summary = collector.summary(options.rejected ?? 0);
    const scale = summary.panels[0]?.scale ?? { min: 1, max: 10 };
    const figure = renderScoreDistributionSvg({ scores: collector.scoreValues, agreement: collector.agreementValues, scale });
    const card = renderDatasetCard({
      ...options.card,
      summary,
      binarization,
      pairFormat,
      files: { labels: names.labels, pairs: names.pairs, figure: names.figure },
    });
    await labels.commit();
    await pairs.commit();
    await writeFileAtomic({ file: files.figure, content: figure });
    await writeFileAtomic({ file: files.card, content: card });
    return { summary, files };
  } catch (error) {
    await Promise.all(writers.map((writer) => writer.abort()));
    throw error;
  }
}

/** Removes pairs whose critics' consensus probability is below `minConsensus`, counting them as agreement-filtered. */
function dropLowConsensus(options: { row: LabelRow; binarized: BinarizeResult; minConsensus: number }): void {
  const { row, binarized } = options;
  const kept = binarized.pairs.filter((pair) => {
    const uncertainty = pairUncertainty({ row, chosen: pair.chosen, rejected: pair.rejected });
    return uncertainty === undefined || uncertainty.consensusProbability >= options.minConsensus;
  });
  binarized.filtered.agreement += binarized.pairs.length - kept.length;
  binarized.pairs = kept;
}
