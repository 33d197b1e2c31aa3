import { INPUT_FORMATS, type InputFormat, TribunalError } from '../contracts/index.js';

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
