import { type DatasetItem, FileValidationError, type InputFormat } from '../contracts/index.js';
import { detectFormat } from './detect-format.js';
import { hhRlhfFormat } from './hh-rlhf-format.js';
import { humanEvalFormat } from './humaneval-format.js';
import { clipRaw, type ItemRejection, type ReadResult } from './item-rejection.js';
import { nativeFormat } from './native-format.js';
import { readLines } from './read-lines.js';
import type { RowParseResult, RowParser } from './row-parser.js';
import { trlFormat } from './trl-format.js';

/** Longest prompt message or candidate text accepted by default, in characters. */
export const DEFAULT_MAX_CHARS = 100_000;

/** The row parser for each input format. */
export const ROW_PARSERS: Readonly<Record<InputFormat, RowParser>> = {
  native: nativeFormat,
  'hh-rlhf': hhRlhfFormat,
  trl: trlFormat,
  humaneval: humanEvalFormat,
};

/** Options shared by `readItems` and `validateInput`. */
export interface ReadItemsOptions {
  /** A JSONL file, gzipped or not (told apart by magic bytes, not by name). */
  file: string;
  /** Overrides format detection. */
  format?: InputFormat;
  /** Longest accepted prompt message or candidate text; longer ones reject the row. Default `DEFAULT_MAX_CHARS`. */
  maxChars?: number;
  /** Stop after this many items (rejections do not count). */
  limit?: number;
}

/**
 * Streams a JSONL input file as items and rejections, one per non-blank line, in file order; bad lines are
 * reported with their line number and reading goes on. Duplicate item ids are rejected after the first.
 * @example
 * for await (const result of readItems({ file: 'input.jsonl.gz' })) {
 *   if (result.kind === 'item') queue.push(result.item);
 *   else console.warn(`line ${result.line}: ${result.reason}`);
 * }
 */
export async function* readItems(options: ReadItemsOptions): AsyncGenerator<ReadResult> {
  const { file } = options;
  const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return;
  const format = options.format ?? (await detectFormat({ file })).format;
  const parser = ROW_PARSERS[format];
  const firstLineOfId = new Map<string, number>();
  let items = 0;

  for await (const { line, text } of readLines({ file })) {
    if (text.trim() === '') continue;
    const result = parseLine(parser, text, maxChars);
    if (!result.success) {
      yield rejection(line, text, result);
      continue;
    }
    const { item } = result;
    const firstLine = firstLineOfId.get(item.id);
    if (firstLine !== undefined) {
      yield rejection(line, text, {
        success: false,
        code: 'duplicate-id',
        field: 'id',
        reason: `id: "${item.id}" repeats the item on line ${firstLine}: give each item its own id or drop the duplicate`,
      });
      continue;
    }
    firstLineOfId.set(item.id, line);
    yield { kind: 'item', line, item };
    items += 1;
    if (items >= limit) return;
  }
}

/** What a full scan of an input file found. */
export interface InputReport {
  file: string;
  format: InputFormat;
  /** Non-blank lines read. */
  rows: number;
  items: number;
  rejections: ItemRejection[];
  /** Every rejection as one error, when there is any (for `--strict`). */
  error?: FileValidationError;
}

/**
 * Scans a whole input file and collects every rejection, for `--strict` runs that refuse to start on a bad file.
 * @example
 * const report = await validateInput({ file: 'input.jsonl' });
 * if (report.error) throw report.error;
 */
export async function validateInput(options: Omit<ReadItemsOptions, 'limit'>): Promise<InputReport> {
  const format = options.format ?? (await detectFormat({ file: options.file })).format;
  const rejections: ItemRejection[] = [];
  let items = 0;
  for await (const result of readItems({ ...options, format })) {
    if (result.kind === 'item') items += 1;
    else rejections.push(result);
  }
  const report: InputReport = { file: options.file, format, rows: items + rejections.length, items, rejections };
  if (rejections.length > 0) {
    report.error = new FileValidationError(
      'INPUT_INVALID',
      options.file,
      rejections.map((rejection) => ({ field: rejection.field ?? '', line: rejection.line, message: rejection.reason })),
    );
  }
  return report;
}

function parseLine(parser: RowParser, text: string, maxChars: number): RowParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return {
      success: false,
      code: 'invalid-json',
      reason: `invalid JSON (${(error as Error).message}): fix the line or remove it`,
    };
  }
  const result = parser.parse(value);
  if (!result.success) return result;
  const tooLong = findTooLong(result.item, maxChars);
  return tooLong === undefined ? result : tooLong;
}

function findTooLong(item: DatasetItem, maxChars: number): RowParseResult | undefined {
  const texts: Array<[string, string]> =
    typeof item.prompt === 'string'
      ? [['prompt', item.prompt]]
      : item.prompt.map((message, index): [string, string] => [`prompt.${index}.content`, message.content]);
  for (const [index, candidate] of item.candidates.entries()) texts.push([`candidates.${index}.text`, candidate.text]);
  for (const [field, text] of texts) {
    if (text.length > maxChars) {
      return {
        success: false,
        code: 'too-long',
        field,
        reason: `${field}: ${text.length} characters, over the limit of ${maxChars}: shorten it or raise maxChars (--max-chars)`,
      };
    }
  }
  return undefined;
}

function rejection(line: number, text: string, failure: Extract<RowParseResult, { success: false }>): ItemRejection {
  const result: ItemRejection = { kind: 'rejected', line, code: failure.code, reason: failure.reason, raw: clipRaw(text) };
  if (failure.field !== undefined) result.field = failure.field;
  return result;
}
