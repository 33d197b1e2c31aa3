import {
  INPUT_FORMATS,
  type InputFormat,
  PAIR_SMOOTHING_COLUMNS,
  type PairSmoothingColumn,
  PriceKeySchema,
  type Prices,
  TribunalError,
} from '../contracts/index.js';

/**
 * Parses a whole-number flag within `[min, max]`; undefined when the flag was not given.
 * @example const limit = integerFlag(values.limit, '--limit', { min: 1 });
 */
export function integerFlag(
  text: string | undefined,
  flag: string,
  range: { min: number; max?: number } = { min: 0 },
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(text.trim()) || value < range.min || value > max) {
    const upper = range.max === undefined ? ' up' : ` to ${range.max}`;
    throw new TribunalError('CONFIG_INVALID', `${flag} must be a whole number from ${range.min}${upper}, got "${text}"`);
  }
  return value;
}

/**
 * Parses a number flag: at least `min` (greater than, with `exclusive`) and at most `max` (below, with
 * `exclusiveMax`); a leading `$` is allowed for money. Undefined when the flag was not given.
 */
export function numberFlag(
  text: string | undefined,
  flag: string,
  range: { min: number; max?: number; exclusive?: boolean; exclusiveMax?: boolean; unit?: string },
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.trim().replace(/^\$/, ''));
  const low = range.exclusive ? value <= range.min : value < range.min;
  const high = range.max !== undefined && (range.exclusiveMax ? value >= range.max : value > range.max);
  if (text.trim() === '' || !Number.isFinite(value) || low || high) {
    const lower = `${range.exclusive ? 'greater than' : 'at least'} ${range.min}`;
    const upper = range.max === undefined ? '' : ` and ${range.exclusiveMax ? 'less than' : 'at most'} ${range.max}`;
    throw new TribunalError(
      'CONFIG_INVALID',
      `${flag} must be a number ${lower}${upper}${range.unit ? ` (${range.unit})` : ''}, got "${text}"`,
    );
  }
  return value;
}

/** Parses `--format`: one of the importers' input formats, or undefined to detect it. */
export function inputFormatFlag(text: string | undefined): InputFormat | undefined {
  if (text === undefined) return undefined;
  if (!(INPUT_FORMATS as readonly string[]).includes(text)) {
    throw new TribunalError('CONFIG_INVALID', `--format must be one of ${INPUT_FORMATS.join(', ')}, got "${text}"`);
  }
  return text as InputFormat;
}

const PRICE_SYNTAX =
  'MODEL=in:USD,out:USD (US dollars per million input and output tokens), e.g. openai:my-model=in:0.40,out:1.60';
const PRICE_FIELDS: Record<string, 'input' | 'output'> = { in: 'input', input: 'input', out: 'output', output: 'output' };

/**
 * Parses repeated `--price MODEL=in:USD,out:USD` flags into a prices table (USD per million tokens; `input:` and
 * `output:` spell the fields too). MODEL is a model id or a prefix ending in `*` (`local:*`). Errors name the flag
 * value and the field.
 * @example pricesFlag(['openai:my-model=in:0.40,out:1.60']); // { 'openai:my-model': { input: 0.4, output: 1.6 } }
 */
export function pricesFlag(texts: readonly string[] | undefined): Prices {
  const prices: Prices = {};
  for (const text of texts ?? []) {
    const fail = (problem: string) => new TribunalError('CONFIG_INVALID', `--price "${text}": ${problem}`);
    // Prices hold no "=": the last one separates the model (a local path may contain one) from its prices.
    const split = text.lastIndexOf('=');
    if (split < 0) throw fail(`expected ${PRICE_SYNTAX}`);
    const model = text.slice(0, split).trim();
    if (!PriceKeySchema.safeParse(model).success) {
      throw fail(
        `"${model}" is not a model id: give "provider:model" (e.g. openai:my-model) or a prefix ending in "*" (e.g. local:*)`,
      );
    }
    if (prices[model]) throw fail(`${model} is priced twice; give one --price per model`);
    const entry: Partial<Record<'input' | 'output', number>> = {};
    for (const part of text.slice(split + 1).split(',')) {
      const colon = part.indexOf(':');
      const name = (colon < 0 ? part : part.slice(0, colon)).trim();
      const field = PRICE_FIELDS[name];
      if (!field) throw fail(`unknown field "${name}"; expected ${PRICE_SYNTAX}`);
      if (entry[field] !== undefined) throw fail(`${name} is given twice`);
      const raw = colon < 0 ? '' : part.slice(colon + 1).trim();
      const value = Number(raw.replace(/^\$/, ''));
      if (raw === '' || !Number.isFinite(value) || value < 0) {
        throw fail(`${name} must be a number of US dollars per million ${field} tokens, at least 0, got "${raw}"`);
      }
      entry[field] = value;
    }
    if (entry.input === undefined) throw fail('in: is missing (US dollars per million input tokens)');
    if (entry.output === undefined) throw fail('out: is missing (US dollars per million output tokens)');
    prices[model] = { input: entry.input, output: entry.output };
  }
  return prices;
}

/** `--pair-smoothing consensus-probability` → the worker's `consensus_probability`. */
export function pairSmoothingFlag(value: string | undefined): PairSmoothingColumn | undefined {
  if (value === undefined) return undefined;
  const column = value.replaceAll('-', '_');
  if (!(PAIR_SMOOTHING_COLUMNS as readonly string[]).includes(column)) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--pair-smoothing must be one of ${PAIR_SMOOTHING_COLUMNS.map((name) => name.replaceAll('_', '-')).join(', ')}, got "${value}"`,
    );
  }
  return column as PairSmoothingColumn;
}
