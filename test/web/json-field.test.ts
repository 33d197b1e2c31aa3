import { describe, expect, it } from 'vitest';
import { JsonField } from '../../src/web/json-field.js';

/** Feeds `text` in chunks of `size` characters and returns everything decoded. */
function decode(text: string, size: number, field = 'rationale'): { out: string; decoder: JsonField } {
  const decoder = new JsonField(field);
  let out = '';
  for (let index = 0; index < text.length; index += size) out += decoder.push(text.slice(index, index + size));
  return { out, decoder };
}

describe('JsonField (viewer and terminal transcript)', () => {
  const value = 'Line one\nsays "hi" \\ and é\u2014 done';
  const json = JSON.stringify({ score: 7, rationale: value, confidence: 0.8 });

  it.each([1, 2, 3, 7, json.length])('decodes the field exactly whatever the chunking (%i chars)', (size) => {
    const { out, decoder } = decode(json, size);
    expect(out).toBe(value);
    expect(decoder.started).toBe(true);
    expect(decoder.complete).toBe(true);
  });

  it('escapes split across chunks wait for the rest, and \\u escapes decode', () => {
    const decoder = new JsonField('rationale');
    expect(decoder.push('{"rationale": "a\\')).toBe('a');
    expect(decoder.push('n')).toBe('\n');
    expect(decoder.push('\\u00')).toBe('');
    expect(decoder.push('e9"')).toBe('é');
    expect(decoder.complete).toBe(true);
    expect(decoder.push('more "text"')).toBe('');
  });

  it('ignores a quoted field name inside another string and reports nothing before the field starts', () => {
    const { out, decoder } = decode(JSON.stringify({ note: 'the "rationale": "fake"', rationale: 'real' }), 4);
    expect(out).toBe('real');
    expect(decoder.complete).toBe(true);
    const absent = new JsonField('rationale');
    expect(absent.push('{"score": 3}')).toBe('');
    expect(absent.started).toBe(false);
    expect(absent.complete).toBe(false);
  });
});
