import { type DatasetItem, type FileIssue, FileValidationError, type InputFormat, TribunalError } from '../contracts/index.js';
import { detectFormat } from './detect-format.js';
import { hhRlhfFormat } from './hh-rlhf-format.js';
import { humanEvalFormat } from './humaneval-format.js';
import { INPUT_LIMITS, jsonDepth } from './input-limits.js';
import { clipRaw, type ItemRejection, type ReadResult } from './item-rejection.js';
import { nativeFormat, nativePromptFormat } from './native-format.js';
import { type NumberedLine, readLines } from './read-lines.js';
import { fieldFailure, type RowParseResult, type RowParser } from './row-parser.js';
import { trlFormat } from './trl-format.js';

/** Longest prompt message or candidate text accepted by default, in characters. */
export const DEFAULT_MAX_CHARS = 100_000;

/** Rejected lines tolerated by default before reading stops with `TooManyRejectedError` (`--max-rejected`). */
export const DEFAULT_MAX_REJECTED = 1_000;

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
  /**
   * Stop with `TooManyRejectedError` at the first rejection past this many (`--max-rejected`), so a file of bad
   * lines is never read, stored or reported without end. Default `DEFAULT_MAX_REJECTED`.
   */
  maxRejected?: number;
  /** False: native rows without candidates are valid (items with none), for reading prompts. Default true. */
  requireCandidates?: boolean;
}

/** Reading stopped because more lines were rejected than `maxRejected` allows. */
export class TooManyRejectedError extends TribunalError {
  readonly file: string;
  readonly maxRejected: number;
  /** Rejections per code, the one that passed the bound included. */
  readonly byCode: Readonly<Record<string, number>>;

  constructor(file: string, maxRejected: number, byCode: Readonly<Record<string, number>>, line: number) {
    const counts = Object.entries(byCode)
      .sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b))
      .map(([code, count]) => `${code}: ${count}`)
      .join(', ');
    super(
      'INPUT_INVALID',
      `${file}: more than ${maxRejected} lines rejected (reading stopped at line ${line}; ${counts}): ` +
        'fix the input (the first rejections say what is wrong) or raise --max-rejected',
      { location: { file, line } },
    );
    this.name = 'TooManyRejectedError';
    this.file = file;
    this.maxRejected = maxRejected;
    this.byCode = { ...byCode };
  }
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
  const maxRejected = options.maxRejected ?? DEFAULT_MAX_REJECTED;
  if (limit <= 0) return;
  const format = options.format ?? (await detectFormat({ file })).format;
  const parser = format === 'native' && options.requireCandidates === false ? nativePromptFormat : ROW_PARSERS[format];
  const firstLineOfId = new Map<string, number>();
  const rejectedByCode: Record<string, number> = {};
  let rejected = 0;
  let items = 0;
  const refuse = (line: number, text: string, failure: Extract<RowParseResult, { success: false }>): ItemRejection => {
    rejected += 1;
    rejectedByCode[failure.code] = (rejectedByCode[failure.code] ?? 0) + 1;
    if (rejected > maxRejected) throw new TooManyRejectedError(file, maxRejected, rejectedByCode, line);
    return rejection(line, text, failure);
  };

  for await (const numbered of readLines({ file, maxLineBytes: INPUT_LIMITS.maxLineBytes })) {
    const { line, text } = numbered;
    if (text.trim() === '' && numbered.overLongBytes === undefined && numbered.invalidUtf8At === undefined) continue;
    const result = parseLine(parser, numbered, maxChars);
    if (!result.success) {
      yield refuse(line, text, result);
      continue;
    }
    const { item } = result;
    const firstLine = firstLineOfId.get(item.id);
    if (firstLine !== undefined) {
      yield refuse(line, text, {
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

/** Rejections a `validateInput` error lists; the rest are counted. */
export const REJECTIONS_LISTED = 20;

/** What a full scan of an input file found. */
export interface InputReport {
  file: string;
  format: InputFormat;
  /** Non-blank lines read. */
  rows: number;
  items: number;
  rejections: ItemRejection[];
  /** The rejections as one error (the first `REJECTIONS_LISTED`, then a count), when there is any (for `--strict`). */
  error?: FileValidationError;
}

/**
 * Scans a whole input file and collects every rejection, for `--strict` runs that refuse to start on a bad file;
 * past `maxRejected` rejections it throws `TooManyRejectedError` instead.
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
    const issues: FileIssue[] = rejections
      .slice(0, REJECTIONS_LISTED)
      .map((rejection) => ({ field: rejection.field ?? '', line: rejection.line, message: rejection.reason }));
    const unlisted = rejections.length - issues.length;
    if (unlisted > 0) issues.push({ field: '', message: `… and ${unlisted} more rejected lines` });
    report.error = new FileValidationError('INPUT_INVALID', options.file, issues);
  }
  return report;
}

function parseLine(parser: RowParser, numbered: NumberedLine, maxChars: number): RowParseResult {
  const { text } = numbered;
  if (numbered.overLongBytes !== undefined) {
    return {
      success: false,
      code: 'too-long',
      reason: `line is ${numbered.overLongBytes} bytes, over the limit of ${INPUT_LIMITS.maxLineBytes}: shorten the row or drop it`,
    };
  }
  if (numbered.invalidUtf8At !== undefined) {
    return {
      success: false,
      code: 'invalid-utf8',
      reason: `not valid UTF-8 (first bad byte at byte ${numbered.invalidUtf8At + 1} of the line): re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or fix the line`,
    };
  }
  // JSON.parse itself survives deep nesting; what comes after it (validation, hashing, JSON.stringify) recurses.
  const depth = jsonDepth(text, INPUT_LIMITS.maxDepth);
  if (depth > INPUT_LIMITS.maxDepth) {
    return {
      success: false,
      code: 'too-deep',
      reason: `nested more than ${INPUT_LIMITS.maxDepth} levels deep: flatten the row (meta included) or drop it`,
    };
  }
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
  return findOverLimit(result.item) ?? findTooLong(result.item, maxChars) ?? result;
}

/** Checks the counts and sizes `INPUT_LIMITS` bounds (the texts' own bound is `maxChars`). */
function findOverLimit(item: DatasetItem): RowParseResult | undefined {
  const limits = INPUT_LIMITS;
  if (item.id.length > limits.maxIdChars) {
    return fieldFailure(
      'too-long',
      'id',
      `${item.id.length} characters, over the limit of ${limits.maxIdChars}: use a shorter id`,
    );
  }
  if (item.candidates.length > limits.maxCandidates) {
    return fieldFailure(
      'too-large',
      'candidates',
      `${item.candidates.length} candidates, over the limit of ${limits.maxCandidates}: split the item`,
    );
  }
  if (Array.isArray(item.prompt) && item.prompt.length > limits.maxMessages) {
    return fieldFailure(
      'too-large',
      'prompt',
      `${item.prompt.length} messages, over the limit of ${limits.maxMessages}: shorten the conversation`,
    );
  }
  for (const [index, candidate] of item.candidates.entries()) {
    if (candidate.id.length > limits.maxIdChars) {
      return fieldFailure(
        'too-long',
        `candidates.${index}.id`,
        `${candidate.id.length} characters, over the limit of ${limits.maxIdChars}: use a shorter id`,
      );
    }
    if (candidate.model !== undefined && candidate.model.length > limits.maxModelChars) {
      return fieldFailure(
        'too-long',
        `candidates.${index}.model`,
        `${candidate.model.length} characters, over the limit of ${limits.maxModelChars}: use a shorter model name`,
      );
    }
  }
  const metaChars = JSON.stringify(item.meta).length;
  if (metaChars > limits.maxMetaChars) {
    return fieldFailure(
      'too-large',
      'meta',
      `${metaChars} characters as JSON, over the limit of ${limits.maxMetaChars}: keep bulky data outside the input file`,
    );
  }
  return undefined;
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
        reason: `${field}: ${text.length} characters, over the limit of ${maxChars}: shorten it or drop the row`,
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
