import {
  type Constitution,
  ConstitutionFrontMatterSchema,
  type FileIssue,
  FileValidationError,
  IdSchema,
  type Principle,
  type Result,
} from '../contracts/index.js';
import { contentHash } from './content-hash.js';
import { splitFrontMatter } from './front-matter.js';
import { readText } from './load-persona.js';
import { parseYamlSource, zodIssuesToFileIssues } from './yaml-document.js';

const HEADING = /^##\s+(.+)$/;
const PRINCIPLE_HEADING = /^##\s+([^\s:]+)\s*:\s*(.+?)\s*$/;

/**
 * Parses a constitution: YAML front matter (id, name, version) and a body whose `## id: Title`
 * sections are the principles; text before the first section is the preamble.
 */
export function parseConstitution(text: string, file: string): Result<Constitution, FileValidationError> {
  const split = splitFrontMatter(text);
  if (!split) {
    return {
      success: false,
      error: new FileValidationError('CONSTITUTION_INVALID', file, [
        {
          field: '(front matter)',
          line: 1,
          message: 'a constitution starts with YAML front matter between "---" lines (id, name, version)',
        },
      ]),
    };
  }
  const source = parseYamlSource(split.frontMatter, split.frontMatterLine - 1);
  if (source.syntaxIssues.length > 0)
    return { success: false, error: new FileValidationError('CONSTITUTION_INVALID', file, source.syntaxIssues) };
  const front = ConstitutionFrontMatterSchema.safeParse(source.value ?? {});
  const issues: FileIssue[] = front.success ? [] : zodIssuesToFileIssues(front.error.issues, source);

  const lines = split.body.split('\n');
  const preamble: string[] = [];
  const principles: Array<Principle & { line: number }> = [];
  let current: (Principle & { line: number; lines: string[] }) | undefined;
  const flush = () => {
    if (!current) return;
    const body = current.lines.join('\n').trim();
    if (body.length === 0)
      issues.push({ field: `principles.${current.id}`, line: current.line, message: 'principle has no text under its heading' });
    principles.push({ id: current.id, title: current.title, text: body, line: current.line });
    current = undefined;
  };
  for (const [index, line] of lines.entries()) {
    const lineNumber = split.bodyLine + index;
    if (HEADING.test(line)) {
      flush();
      const match = PRINCIPLE_HEADING.exec(line);
      const id = match?.[1] ?? '';
      if (!match || !IdSchema.safeParse(id).success) {
        issues.push({
          field: 'principles',
          line: lineNumber,
          message: `principle headings look like "## harmless: Do no harm" (a lowercase id, a colon, a title); got "${line.trim()}"`,
        });
        continue;
      }
      if (principles.some((principle) => principle.id === id)) {
        issues.push({
          field: `principles.${id}`,
          line: lineNumber,
          message: `duplicate principle id "${id}"; ids must be unique`,
        });
      }
      current = { id, title: match[2] ?? '', text: '', line: lineNumber, lines: [] };
    } else if (current) {
      current.lines.push(line);
    } else {
      preamble.push(line);
    }
  }
  flush();
  if (principles.length === 0 && !issues.some((issue) => issue.field === 'principles')) {
    issues.push({
      field: 'principles',
      line: split.bodyLine,
      message: 'no principles found; add sections like "## harmless: Do no harm"',
    });
  }
  if (issues.length > 0 || !front.success)
    return { success: false, error: new FileValidationError('CONSTITUTION_INVALID', file, issues) };
  return {
    success: true,
    value: {
      ...front.data,
      preamble: preamble.join('\n').trim(),
      principles: principles.map(({ id, title, text: principleText }) => ({ id, title, text: principleText })),
      file,
      hash: contentHash(text),
    },
  };
}

/** Reads and validates one constitution file; throws FileValidationError or TribunalError. */
export async function loadConstitution(file: string): Promise<Constitution> {
  const text = await readText(file, 'CONSTITUTION_INVALID', 'constitution');
  const result = parseConstitution(text, file);
  if (!result.success) throw result.error;
  return result.value;
}
