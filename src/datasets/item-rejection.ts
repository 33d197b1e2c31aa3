import type { DatasetItem } from '../contracts/index.js';

/** Why a line was rejected, as a stable code for counting and filtering. */
export type RejectionCode =
  | 'invalid-json'
  | 'not-an-object'
  | 'unrecognized-row'
  | 'invalid-field'
  | 'invalid-utf8'
  | 'too-long'
  | 'too-deep'
  | 'too-large'
  | 'prefix-mismatch'
  | 'duplicate-id';

/** A line that did not become an item: where it is, why, and (the start of) what it said. */
export interface ItemRejection {
  kind: 'rejected';
  line: number;
  code: RejectionCode;
  /** The offending field as a dotted path (`candidates.2.text`), when one field is to blame. */
  field?: string;
  /** What was wrong and what to do about it. */
  reason: string;
  /** The raw line, cut to `RAW_LIMIT` characters. */
  raw: string;
}

/** A line that became an item. */
export interface ItemAccepted {
  kind: 'item';
  line: number;
  item: DatasetItem;
}

/** What `readItems` yields for each non-blank line. */
export type ReadResult = ItemAccepted | ItemRejection;

/** Rejections keep at most this many characters of the raw line, so a file of huge bad lines stays cheap to report. */
export const RAW_LIMIT = 2_000;

/** Cuts a raw line to `RAW_LIMIT` characters, marking the cut. */
export function clipRaw(text: string): string {
  return text.length <= RAW_LIMIT ? text : `${text.slice(0, RAW_LIMIT)}… (${text.length} chars)`;
}

/** Renders a rejection as `file:line: field: reason` for terminals and logs. */
export function formatRejection(options: { file: string; rejection: ItemRejection }): string {
  const { file, rejection } = options;
  return `${file}:${rejection.line}: ${rejection.reason}`;
}
