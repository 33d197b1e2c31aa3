import { FileValidationError, type Prices, PricesSchema, TribunalError } from '../contracts/index.js';
import { readText } from './load-persona.js';
import { parseYamlSource, zodIssuesToFileIssues } from './yaml-document.js';

/** The largest prices file accepted (a table of thousands of models is far below it). */
export const PRICES_FILE_MAX_BYTES = 1_000_000;

/**
 * Parses a prices file: YAML or JSON mapping model ids (or `prefix*`) to `{ input, output }` in USD per million
 * tokens, the same shape as a panel's `prices:` block. Errors name the file, line and field.
 * @example
 * parsePrices('openai:my-model: { input: 0.4, output: 1.6 }\n', 'prices.yaml');
 */
export function parsePrices(text: string, file: string): Prices {
  const source = parseYamlSource(text);
  if (source.syntaxIssues.length > 0) throw new FileValidationError('CONFIG_INVALID', file, source.syntaxIssues);
  const parsed = PricesSchema.safeParse(source.value ?? {});
  if (!parsed.success) throw new FileValidationError('CONFIG_INVALID', file, zodIssuesToFileIssues(parsed.error.issues, source));
  return parsed.data;
}

/** Reads and validates a prices file (`--prices FILE`). */
export async function loadPrices(file: string): Promise<Prices> {
  const text = await readText(file, 'CONFIG_INVALID', 'prices');
  if (Buffer.byteLength(text) > PRICES_FILE_MAX_BYTES) {
    throw new TribunalError('CONFIG_INVALID', `prices file ${file} is larger than ${PRICES_FILE_MAX_BYTES} bytes`, {
      location: { file },
    });
  }
  return parsePrices(text, file);
}
