import type { InputFormat } from '../contracts/index.js';
import { clipRaw, type ItemRejection, readItems } from '../datasets/index.js';
import type { NewItem, RejectedLine, Store } from '../store/index.js';

/** Items and refused lines written to the store per transaction while importing. */
export const IMPORT_BATCH = 500;

/** Refused lines whose raw text is stored verbatim (clipped); later ones keep line, code and reason only. */
export const REJECTED_RAW_SAMPLE = 100;

/** Refused lines reported one by one through `onRejected`; the rest only count in `rejectedByCode`. */
export const REJECTION_MESSAGES = 20;

/** What importing an input into a run did. */
export interface ImportReport {
  /** Items new to the run (now pending). */
  inserted: number;
  /** Items a previous import of the same run already stored. */
  existing: number;
  /** Lines refused by the importer (bad JSON, bad fields, too long, duplicate ids), new and old. */
  rejectedLines: number;
  /** `rejectedLines` per rejection code. */
  rejectedByCode: Record<string, number>;
  /** New refused lines not reported through `onRejected` (past `REJECTION_MESSAGES`). */
  unreported: number;
}

/**
 * Streams an input file into a run's item queue in batches (one transaction each), idempotently: a resumed run
 * re-imports the same lines and stores nothing twice. Refused lines are stored for `DIR/rejected.jsonl` (the raw
 * text of the first `REJECTED_RAW_SAMPLE` only) and the first `REJECTION_MESSAGES` new ones are reported through
 * `onRejected`; past `maxRejected` refused lines the import stops with `TooManyRejectedError`.
 */
export async function importItems(options: {
  store: Store;
  runId: string;
  file: string;
  format: InputFormat;
  limit?: number | undefined;
  /** Refused lines tolerated before the import stops (`--max-rejected`); default `DEFAULT_MAX_REJECTED`. */
  maxRejected?: number | undefined;
  /** False: native rows without candidates are items too (prompts for `tribunal generate`). Default true. */
  requireCandidates?: boolean | undefined;
  onRejected?: ((rejection: ItemRejection) => void) | undefined;
}): Promise<ImportReport> {
  const { store, runId } = options;
  const known = new Set((await store.listRejectedLines({ runId })).map((line) => line.line));
  const report: ImportReport = { inserted: 0, existing: 0, rejectedLines: 0, rejectedByCode: {}, unreported: 0 };
  const count = (code: string) => {
    report.rejectedLines += 1;
    report.rejectedByCode[code] = (report.rejectedByCode[code] ?? 0) + 1;
  };
  const sampled = (raw: string) => (report.rejectedLines <= REJECTED_RAW_SAMPLE ? raw : '');
  let reported = 0;
  let items: NewItem[] = [];
  let rejected: RejectedLine[] = [];
  const flush = async () => {
    if (items.length > 0) {
      const result = await store.upsertItems({ runId, items });
      report.inserted += result.inserted;
      report.existing += result.existing;
      // Only a changed file can store an id from another line; readItems already refuses repeats within a file.
      const byLine = new Map(items.map((entry) => [entry.line, entry.item]));
      for (const duplicate of result.duplicates) {
        const reason = `id: "${duplicate.itemId}" repeats the item on line ${duplicate.firstLine}: give each item its own id or drop the duplicate`;
        count('duplicate-id');
        const raw = sampled(clipRaw(JSON.stringify(byLine.get(duplicate.line) ?? null)));
        rejected.push({ line: duplicate.line, code: 'duplicate-id', field: 'id', reason, raw });
      }
    }
    if (rejected.length > 0) await store.putRejectedLines({ runId, lines: rejected });
    items = [];
    rejected = [];
  };
  for await (const result of readItems({
    file: options.file,
    format: options.format,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    ...(options.maxRejected === undefined ? {} : { maxRejected: options.maxRejected }),
    ...(options.requireCandidates === undefined ? {} : { requireCandidates: options.requireCandidates }),
  })) {
    if (result.kind === 'item') {
      items.push({ line: result.line, item: result.item });
    } else {
      count(result.code);
      rejected.push({
        line: result.line,
        code: result.code,
        reason: result.reason,
        raw: sampled(result.raw),
        ...(result.field === undefined ? {} : { field: result.field }),
      });
      if (!known.has(result.line)) {
        reported += 1;
        if (reported <= REJECTION_MESSAGES) options.onRejected?.(result);
        else report.unreported += 1;
      }
    }
    if (items.length + rejected.length >= IMPORT_BATCH) await flush();
  }
  await flush();
  return report;
}
