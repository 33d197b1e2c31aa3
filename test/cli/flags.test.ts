import { describe, expect, it } from 'vitest';
import { inputFormatFlag, integerFlag, numberFlag, pricesFlag } from '../../src/cli/flags.js';

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
    expect(() => inputFormatFlag('csv')).toThrow('--format must be one of native, hh-rlhf, trl, humaneval, got "csv"');
  });
});

describe('--price', () => {
  it('parses MODEL=in:USD,out:USD per flag, with input/output spellings, $ signs, prefixes and = in a path', () => {
    expect(pricesFlag(undefined)).toEqual({});
    expect(
      pricesFlag([
        'openai:my-model=in:0.40,out:1.60',
        'anthropic:proxy=output:$15, input:$3',
        'local:*=in:0,out:0',
        'local:/models/a=b.gguf=in:1,out:2',
      ]),
    ).toEqual({
      'openai:my-model': { input: 0.4, output: 1.6 },
      'anthropic:proxy': { input: 3, output: 15 },
      'local:*': { input: 0, output: 0 },
      'local:/models/a=b.gguf': { input: 1, output: 2 },
    });
  });

  it('names the flag value and the field that is wrong', () => {
    const error = (text: string) => {
      try {
        pricesFlag([text]);
      } catch (caught) {
        expect(caught).toMatchObject({ code: 'CONFIG_INVALID' });
        return (caught as Error).message;
      }
      throw new Error(`--price ${text} was accepted`);
    };
    expect(error('openai:m')).toBe(
      '--price "openai:m": expected MODEL=in:USD,out:USD (US dollars per million input and output tokens), e.g. openai:my-model=in:0.40,out:1.60',
    );
    expect(error('gpt-4=in:1,out:2')).toMatch(/^--price "gpt-4=in:1,out:2": "gpt-4" is not a model id: give "provider:model"/);
    expect(error('openai:a*b=in:1,out:2')).toMatch(/"openai:a\*b" is not a model id/);
    expect(error('openai:m=in:1')).toBe('--price "openai:m=in:1": out: is missing (US dollars per million output tokens)');
    expect(error('openai:m=out:1')).toBe('--price "openai:m=out:1": in: is missing (US dollars per million input tokens)');
    expect(error('openai:m=in:1,out:2,cache:1')).toMatch(/: unknown field "cache"; expected MODEL=in:USD,out:USD/);
    expect(error('openai:m=in:-1,out:2')).toBe(
      '--price "openai:m=in:-1,out:2": in must be a number of US dollars per million input tokens, at least 0, got "-1"',
    );
    expect(error('openai:m=in:abc,out:2')).toMatch(/in must be a number .* got "abc"/);
    expect(error('openai:m=in:1,out:')).toMatch(/out must be a number .* got ""/);
    expect(error('openai:m=in:1,in:2,out:3')).toBe('--price "openai:m=in:1,in:2,out:3": in is given twice');
    expect(() => pricesFlag(['openai:m=in:1,out:2', 'openai:m=in:3,out:4'])).toThrow(
      '--price "openai:m=in:3,out:4": openai:m is priced twice; give one --price per model',
    );
  });
});
