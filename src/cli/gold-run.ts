import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type InputFormat, type LabelRow, TribunalError } from '../contracts/index.js';
import { inputFormatFlag, integerFlag } from './flags.js';

/** The `parseArgs` options that `tribunal eval` and `tribunal ablate` share: a gold set labeled into a directory. */
export const GOLD_RUN_OPTIONS = {
  gold: { type: 'string' },
  out: { type: 'string' },
  panel: { type: 'string' },
  model: { type: 'string' },
  limit: { type: 'string' },
  'max-rejected': { type: 'string' },
  concurrency: { type: 'string' },
  format: { type: 'string' },
  seed: { type: 'string' },
  resamples: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the shared options say, checked. */
export interface GoldRunFlags {
  gold: string;
  outDir: string;
  limit: number | undefined;
  /** `--max-rejected`: rejected gold lines tolerated before the run stops. */
  maxRejected: number | undefined;
  concurrency: number;
  resamples: number;
  seed: string;
  format: InputFormat | undefined;
}

/**
 * Checks the shared options of a gold-set command: `--gold` and `--out` are required (`outPurpose` says what the
 * directory holds), no positional arguments, numbers in range.
 */
export function goldRunFlags(options: {
  values: { [K in keyof typeof GOLD_RUN_OPTIONS]?: string | boolean | undefined };
  positionals: string[];
  cwd: string;
  outPurpose: string;
}): GoldRunFlags {
  const { values, positionals } = options;
  const text = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);
  if (positionals.length > 0) {
    throw new TribunalError('CONFIG_INVALID', `unexpected argument "${positionals[0]}"; give the gold set as --gold FILE`);
  }
  const gold = text(values.gold);
  const out = text(values.out);
  if (!gold) throw new TribunalError('CONFIG_INVALID', '--gold FILE is required: human-labeled pairs (HH-RLHF or TRL)');
  if (!out) throw new TribunalError('CONFIG_INVALID', `--out DIR is required: ${options.outPurpose}`);
  return {
    gold: path.resolve(options.cwd, gold),
    outDir: path.resolve(options.cwd, out),
    limit: integerFlag(text(values.limit), '--limit', { min: 1 }),
    maxRejected: integerFlag(text(values['max-rejected']), '--max-rejected', { min: 0 }),
    concurrency: integerFlag(text(values.concurrency), '--concurrency', { min: 1 }) ?? 8,
    resamples: integerFlag(text(values.resamples), '--resamples', { min: 1, max: 100_000 }) ?? 1000,
    seed: text(values.seed) ?? '0',
    format: inputFormatFlag(text(values.format)),
  };
}

/** The label rows of a run's labels.jsonl. */
export function readLabels(file: string): LabelRow[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LabelRow);
}
