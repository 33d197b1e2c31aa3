import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { TribunalError } from '../contracts/index.js';
import {
  applyOverrides,
  BINARIZATION_STRATEGIES,
  type BinarizationStrategy,
  EXPORT_FILES,
  type ExportResult,
  exportDataset,
  type LengthAdjustment,
  lengthFitter,
  PAIR_FORMATS,
  type PairFormat,
  writeJsonlAtomic,
} from '../export/index.js';
import type { RejectedLine, Store } from '../store/index.js';

/** Where the input lines the importer refused are copied, one JSON object a line. */
export const REJECTED_FILE = 'rejected.jsonl';

/** How a run's labels become files: the pair format, binarization strategy, filters and seed. */
export const ExportSettingsSchema = z.object({
  pairFormat: z.enum(PAIR_FORMATS).default('trl'),
  strategy: z.enum(BINARIZATION_STRATEGIES).default('best-vs-worst'),
  minMargin: z.number().min(0).default(0),
  minAgreement: z.number().min(0).max(1).default(0),
  seed: z.union([z.string(), z.number()]).default(0),
  /** TRL pairs carry the critics' votes, consensus probability, disagreement and suggested label smoothing. */
  uncertainty: z.boolean().optional(),
  /** Drop pairs whose critics' consensus probability is below this. */
  minConsensus: z.number().min(0).max(1).optional(),
  /** Pair on length-controlled consensus scores (the run's score-on-length slope regressed out). */
  lengthControl: z.boolean().optional(),
  /** Drop pairs with a candidate flagged as a prompt-injection attempt. */
  excludeFlagged: z.boolean().optional(),
  /** Drop the pairs of items escalated to a human review (panel `escalate`) that no human verdict answered yet. */
  excludeEscalated: z.boolean().optional(),
});
export type ExportSettings = z.infer<typeof ExportSettingsSchema>;

/** The defaults: TRL pairs, best-vs-worst, no filters, seed 0. */
export const DEFAULT_EXPORT_SETTINGS: ExportSettings = ExportSettingsSchema.parse({});

/** What `exportRun` wrote. */
export interface RunExport extends ExportResult {
  /** `DIR/rejected.jsonl`, or undefined when no input line was refused (a stale file is removed). */
  rejectedFile: string | undefined;
  rejectedLines: number;
  settings: ExportSettings;
}

/**
 * Writes a run's dataset directory from the store: labels.jsonl (done items in input order), the preference pairs
 * (TRL `pairs.jsonl` or OpenAI `pairs.openai.jsonl`), README.md (dataset card) with its figure, and rejected.jsonl.
 * Every file is written atomically, so a crash at any moment leaves the previous file or the new one; temporary
 * files that crashed writers left behind are removed first. The same store and settings always give the same files.
 * @example
 * const { summary } = await exportRun({ store, runId, directory: 'out', settings: { strategy: 'all-pairs' } });
 */
export async function exportRun(options: {
  store: Store;
  runId: string;
  directory: string;
  settings?: Partial<ExportSettings>;
}): Promise<RunExport> {
  const { store, runId, directory } = options;
  const settings = ExportSettingsSchema.parse(options.settings ?? {});
  await removeStaleTemporaryFiles(directory);
  const rejected = await store.listRejectedLines({ runId });
  const rejectedFile = path.resolve(directory, REJECTED_FILE);
  if (rejected.length > 0) {
    await writeJsonlAtomic({ file: rejectedFile, rows: rejected.map(rejectedRow) });
  } else {
    await unlink(rejectedFile).catch(() => undefined);
  }
  let lengthControl: LengthAdjustment | undefined;
  if (settings.lengthControl === true) {
    const fitter = lengthFitter();
    const overrides = await store.listOverrides({ runId });
    for await (const row of applyOverrides({ rows: labelRows(store, runId), overrides })) fitter.add(row);
    lengthControl = fitter.result();
  }
  const result = await exportDataset({
    // Human verdict overrides (the viewer's, over `verdict.override`) ride along as meta.humanOverride / humanPreferred.
    rows: applyOverrides({ rows: labelRows(store, runId), overrides: await store.listOverrides({ runId }) }),
    directory,
    pairFormat: settings.pairFormat,
    strategy: settings.strategy,
    minMargin: settings.minMargin,
    minAgreement: settings.minAgreement,
    seed: settings.seed,
    ...(settings.uncertainty === undefined ? {} : { uncertainty: settings.uncertainty }),
    ...(settings.minConsensus === undefined ? {} : { minConsensus: settings.minConsensus }),
    ...(settings.excludeFlagged === undefined ? {} : { excludeFlagged: settings.excludeFlagged }),
    ...(settings.excludeEscalated === undefined ? {} : { excludeEscalated: settings.excludeEscalated }),
    ...(lengthControl === undefined ? {} : { lengthControl }),
    rejected: rejected.length,
  });
  return { ...result, rejectedFile: rejected.length > 0 ? rejectedFile : undefined, rejectedLines: rejected.length, settings };
}

/** The export settings a run was labeled with (recorded in its config's runtime), or the defaults. */
export function exportSettingsOf(runtime: Record<string, unknown> | undefined): ExportSettings {
  const parsed = ExportSettingsSchema.safeParse(runtime?.export ?? {});
  return parsed.success ? parsed.data : DEFAULT_EXPORT_SETTINGS;
}

/** Checks export flags given as strings (CLI) and returns the settings they override. */
export function parseExportFlags(flags: {
  pairsFormat?: string | undefined;
  strategy?: string | undefined;
  minMargin?: string | undefined;
  minAgreement?: string | undefined;
  seed?: string | undefined;
  uncertainty?: boolean | undefined;
  minConsensus?: string | undefined;
  lengthControl?: boolean | undefined;
  excludeFlagged?: boolean | undefined;
  excludeEscalated?: boolean | undefined;
}): Partial<ExportSettings> {
  const settings: Partial<ExportSettings> = {};
  if (flags.pairsFormat !== undefined) {
    if (!(PAIR_FORMATS as readonly string[]).includes(flags.pairsFormat)) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `--pairs-format must be ${PAIR_FORMATS.join(' or ')}, got "${flags.pairsFormat}"`,
      );
    }
    settings.pairFormat = flags.pairsFormat as PairFormat;
  }
  if (flags.strategy !== undefined) {
    if (!(BINARIZATION_STRATEGIES as readonly string[]).includes(flags.strategy)) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `--strategy must be one of ${BINARIZATION_STRATEGIES.join(', ')}, got "${flags.strategy}"`,
      );
    }
    settings.strategy = flags.strategy as BinarizationStrategy;
  }
  if (flags.minMargin !== undefined) settings.minMargin = number(flags.minMargin, '--min-margin', 0, Number.POSITIVE_INFINITY);
  if (flags.minAgreement !== undefined) settings.minAgreement = number(flags.minAgreement, '--min-agreement', 0, 1);
  if (flags.uncertainty === true) settings.uncertainty = true;
  if (flags.lengthControl === true) settings.lengthControl = true;
  if (flags.excludeFlagged === true) settings.excludeFlagged = true;
  if (flags.excludeEscalated === true) settings.excludeEscalated = true;
  if (flags.minConsensus !== undefined) settings.minConsensus = number(flags.minConsensus, '--min-consensus', 0, 1);
  if (flags.seed !== undefined) settings.seed = /^-?\d+$/.test(flags.seed) ? Number(flags.seed) : flags.seed;
  return settings;
}

function number(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `at least ${min}` : `from ${min} to ${max}`;
    throw new TribunalError('CONFIG_INVALID', `${flag} must be a number ${range}, got "${text}"`);
  }
  return value;
}

async function* labelRows(store: Store, runId: string) {
  for await (const done of store.iterateDone({ runId })) yield done.result;
}

function rejectedRow(line: RejectedLine): Record<string, unknown> {
  return {
    line: line.line,
    code: line.code,
    ...(line.field === undefined ? {} : { field: line.field }),
    reason: line.reason,
    raw: line.raw,
  };
}

/** The output files whose temporary siblings (`.<name>.<pid>.<hex>.tmp`) a crashed writer may leave. */
const OUTPUT_NAMES = new Set<string>([
  EXPORT_FILES.labels,
  EXPORT_FILES.pairs.trl,
  EXPORT_FILES.pairs.openai,
  EXPORT_FILES.card,
  EXPORT_FILES.figure,
  REJECTED_FILE,
]);
const TEMPORARY = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

/** Deletes temporary export files whose writing process is gone (a crash mid-export). */
async function removeStaleTemporaryFiles(directory: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  for (const name of names) {
    const match = TEMPORARY.exec(name);
    if (!match || !OUTPUT_NAMES.has(match[1] ?? '')) continue;
    const pid = Number(match[2]);
    // Ours (being written right now) or another live writer's: leave it.
    if (pid === process.pid || isAlive(pid)) continue;
    await unlink(path.join(directory, name)).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
