import { describe, expect, it } from 'vitest';
import { inputFormatFlag, integerFlag, numberFlag } from '../../src/cli/flags.js';

describe('flag parsers', () => {
  it('parse whole numbers within a range and name the flag otherwise', () => {
    expect(integerFlag(undefined, '--limit', { min: 1 })).toBeUndefined();
    expect(integerFlag(' 12 ', '--limit', { min: 1 })).toBe(12);
    expect(() => integerFlag('0', '--limit', { min: 1 })).toThrow('--limit must be a whole number from 1 up, got "0"');
    expect(() => integerFlag('2.5', '--max-rounds', { min: 0, max: 10 })).toThrow('from 0 to 10');
    expect(() => integerFlag('11', '--max-rounds', { min: 0, max: 10 })).toThrow('got "11"');
  });

  it('parse numbers with inclusive or exclusive bounds, and dollars', () => {
    expect(numberFlag('$2.50', '--max-cost', { min: 0, exclusive: true, unit: 'US dollars' })).toBe(2.5);
    expect(() => numberFlag('0', '--max-cost', { min: 0, exclusive: true, unit: 'US dollars' })).toThrow(
      '--max-cost must be a number greater than 0 (US dollars), got "0"',
    );
    expect(numberFlag('0.3', '--held-out', { min: 0, max: 1, exclusive: true, exclusiveMax: true })).toBe(0.3);
    expect(() => numberFlag('1', '--held-out', { min: 0, max: 1, exclusive: true, exclusiveMax: true })).toThrow('less than 1');
    expect(() => numberFlag('abc', '--lr', { min: 0, exclusive: true })).toThrow(
      '--lr must be a number greater than 0, got "abc"',
    );
  });
});

describe('--format', () => {
  it('accepts the importers formats and names the choices otherwise', () => {
    expect(inputFormatFlag(undefined)).toBeUndefined();
    expect(inputFormatFlag('hh-rlhf')).toBe('hh-rlhf');
    expect(() => inputFormatFlag('csv')).toThrow('--format must be one of native, hh-rlhf, trl, got "csv"');
  });
});
