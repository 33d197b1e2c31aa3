import { readFile } from 'node:fs/promises';
import { FileValidationError, type Persona, PersonaFrontMatterSchema, type Result, TribunalError } from '../contracts/index.js';
import { contentHash } from './content-hash.js';
import { splitFrontMatter } from './front-matter.js';
import { parseYamlSource, zodIssuesToFileIssues } from './yaml-document.js';

/** Parses persona Markdown (YAML front matter + body); `file` names it in errors. */
export function parsePersona(text: string, file: string): Result<Persona, FileValidationError> {
  const split = splitFrontMatter(text);
  if (!split) {
    return {
      success: false,
      error: new FileValidationError('PERSONA_INVALID', file, [
        {
          field: '(front matter)',
          line: 1,
          message: 'a persona file starts with YAML front matter between "---" lines (id, name, description, focus, rubric, ...)',
        },
      ]),
    };
  }
  const source = parseYamlSource(split.frontMatter, split.frontMatterLine - 1);
  if (source.syntaxIssues.length > 0) {
    return { success: false, error: new FileValidationError('PERSONA_INVALID', file, source.syntaxIssues) };
  }
  const parsed = PersonaFrontMatterSchema.safeParse(source.value ?? {});
  if (!parsed.success) {
    return {
      success: false,
      error: new FileValidationError('PERSONA_INVALID', file, zodIssuesToFileIssues(parsed.error.issues, source)),
    };
  }
  if (parsed.data.kind === 'verifier' && !parsed.data.tools.includes('run-python')) {
    return {
      success: false,
      error: new FileValidationError('PERSONA_INVALID', file, [
        {
          field: 'kind',
          line: source.lineOf(['kind']) ?? split.frontMatterLine,
          message: 'a verifier scores from the execution result, so it needs the tool: add "tools: [run-python]"',
        },
      ]),
    };
  }
  const body = split.body.trim();
  if (body.length === 0) {
    return {
      success: false,
      error: new FileValidationError('PERSONA_INVALID', file, [
        {
          field: '(body)',
          line: split.bodyLine,
          message: "the body after the front matter is the persona's voice and instructions; it must not be empty",
        },
      ]),
    };
  }
  return { success: true, value: { ...parsed.data, body, file, hash: contentHash(text) } };
}

/** Reads and validates one persona file; throws FileValidationError or TribunalError. */
export async function loadPersona(file: string): Promise<Persona> {
  const text = await readText(file, 'PERSONA_INVALID', 'persona');
  const result = parsePersona(text, file);
  if (!result.success) throw result.error;
  return result.value;
}

/** Reads a text file, turning "not found" into a clear TribunalError. */
export async function readText(
  file: string,
  code: 'PERSONA_INVALID' | 'CONSTITUTION_INVALID' | 'PANEL_INVALID' | 'CONFIG_INVALID',
  what: string,
): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    throw new TribunalError(code, `${what} file ${file} ${reason}`, { cause: error, location: { file } });
  }
}
