import type { z } from 'zod';
import type { DatasetItem, InputFormat } from '../contracts/index.js';
import type { RejectionCode } from './item-rejection.js';

/** The outcome of parsing one JSON value as a row of some format. */
export type RowParseResult =
  | { success: true; item: DatasetItem }
  | { success: false; code: RejectionCode; field?: string; reason: string };

/** Turns one parsed JSON line of one input format into a dataset item, or says why it cannot. */
export interface RowParser {
  format: InputFormat;
  parse(value: unknown): RowParseResult;
}

/** A failed parse blaming one field; the reason is prefixed with the field so messages name it. */
export function fieldFailure(code: RejectionCode, field: string | undefined, reason: string): RowParseResult {
  return field === undefined ? { success: false, code, reason } : { success: false, code, field, reason: `${field}: ${reason}` };
}

/** Maps the first zod issue of a failed row parse to a rejection naming the field (the deepest one, for unions). */
export function zodFailure(format: InputFormat, error: z.ZodError, value: unknown): RowParseResult {
  const first = error.issues[0];
  if (first === undefined) return { success: false, code: 'invalid-field', reason: `not a valid ${format} row` };
  const { path, message } = explainIssue(first, value);
  const field = path.length === 0 ? undefined : path.map(String).join('.');
  return fieldFailure('invalid-field', field, `${message} (${format} format)`);
}

type Issue = z.core.$ZodIssue;

/** Descends into union issues to the branch that got furthest, so `{ text: 3 }` blames `text`, not the whole union. */
function explainIssue(issue: Issue, root: unknown): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { path: issue.path, message: issue.message };
  const branches = issue.errors.map((issues) => issues[0]).filter((branch): branch is Issue => branch !== undefined);
  const deepest = Math.max(...branches.map((branch) => branch.path.length));
  if (deepest > 0) {
    const best = branches.find((branch) => branch.path.length === deepest) as Issue;
    const inner = explainIssue(best, valueAt(root, issue.path));
    return { path: [...issue.path, ...inner.path], message: inner.message };
  }
  if (!/^Invalid input$/.test(issue.message)) return { path: issue.path, message: issue.message };
  const expected = [...new Set(branches.map((branch) => (branch.code === 'invalid_type' ? branch.expected : branch.message)))];
  return { path: issue.path, message: `expected ${expected.join(' or ')}, got ${describeValue(valueAt(root, issue.path))}` };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path)
    value = isPlainObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** True for a JSON object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
