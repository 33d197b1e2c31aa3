import { FileValidationError, type ModelsFile, ModelsFileSchema, TribunalError } from '../contracts/index.js';
import { readText } from './load-persona.js';
import { fieldPath, parseYamlSource, zodIssuesToFileIssues } from './yaml-document.js';

/** The largest models file accepted (a thousand entries of a hundred endpoints each is far below it). */
export const MODELS_FILE_MAX_BYTES = 2_000_000;

/**
 * Parses a models file: YAML or JSON with a `models:` table mapping `openai:` model ids (or `prefix*`) to the endpoints
 * that serve them. Errors name the file, line and field (`models.openai:m.endpoints[2].baseURL`).
 * @example
 * parseModelsFile('models:\n  openai:qwen:\n    endpoints:\n      - baseURL: http://gpu1:8000/v1\n', 'models.yaml');
 */
export function parseModelsFile(text: string, file: string): ModelsFile {
  const source = parseYamlSource(text);
  if (source.syntaxIssues.length > 0) throw new FileValidationError('CONFIG_INVALID', file, source.syntaxIssues);
  const parsed = ModelsFileSchema.safeParse(source.value ?? {});
  if (!parsed.success) {
    throw new FileValidationError('CONFIG_INVALID', file, zodIssuesToFileIssues(parsed.error.issues, source, fieldPath));
  }
  return parsed.data;
}

/** Reads and validates a models file (`--models FILE`, `TRIBUNAL_MODELS`). */
export async function loadModelsFile(file: string): Promise<ModelsFile> {
  const text = await readText(file, 'CONFIG_INVALID', 'models');
  if (Buffer.byteLength(text) > MODELS_FILE_MAX_BYTES) {
    throw new TribunalError('CONFIG_INVALID', `models file ${file} is larger than ${MODELS_FILE_MAX_BYTES} bytes`, {
      location: { file },
    });
  }
  return parseModelsFile(text, file);
}
