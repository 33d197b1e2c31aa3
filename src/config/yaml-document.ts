import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { FileIssue } from '../contracts/index.js';

/** A parsed YAML text that can say which line a field path sits on. */
export interface YamlSource {
  value: unknown;
  /** Problems in the YAML syntax itself, with lines. */
  syntaxIssues: FileIssue[];
  lineOf(path: ReadonlyArray<PropertyKey>): number | undefined;
}

/**
 * Parses YAML keeping positions, so validation errors can name lines.
 * `lineOffset` is added to every line (front matter starts after the opening `---`).
 */
export function parseYamlSource(text: string, lineOffset = 0): YamlSource {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntaxIssues: FileIssue[] = document.errors.map((error) => ({
    field: '',
    line: (error.linePos?.[0]?.line ?? 1) + lineOffset,
    message: `YAML syntax: ${error.message.split('\n')[0]}`,
  }));
  return {
    value: syntaxIssues.length > 0 ? undefined : document.toJS(),
    syntaxIssues,
    lineOf(path) {
      for (let depth = path.length; depth >= 0; depth--) {
        const node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth) as unknown[], true);
        const range = (node as { range?: [number, number, number] } | undefined)?.range;
        if (range) return lineCounter.linePos(range[0]).line + lineOffset;
      }
      return undefined;
    },
  };
}

/**
 * Turns zod issues into file issues with field paths, lines and what was expected. Paths read `a.0.b` unless
 * `formatField` says otherwise (e.g. `fieldPath`: `a[0].b`).
 */
export function zodIssuesToFileIssues(
  issues: ReadonlyArray<z.core.$ZodIssue>,
  source: YamlSource | undefined,
  formatField: (path: ReadonlyArray<PropertyKey>) => string = (path) => path.map(String).join('.'),
): FileIssue[] {
  return issues.map((issue) => {
    const field = formatField(issue.path);
    const line = source?.lineOf(issue.path);
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(', ')}; check the spelling or remove them`;
    } else if (issue.code === 'invalid_key') {
      const key = issue.path[issue.path.length - 1];
      message = `invalid key "${String(key)}": ${issue.issues.map((inner) => inner.message).join('; ')}`;
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      message = `required field is missing (expected ${issue.expected})`;
    }
    return { field: field || '(root)', ...(line === undefined ? {} : { line }), message };
  });
}

/** A field path as JavaScript reads it: keys joined by dots, array indexes in brackets (`models.openai:m.endpoints[2].baseURL`). */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}
