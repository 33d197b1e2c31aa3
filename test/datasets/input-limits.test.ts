import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_REJECTED,
  firstInvalidUtf8,
  INPUT_LIMITS,
  jsonDepth,
  type ReadItemsOptions,
  type ReadResult,
  readItems,
  readLines,
  TooManyRejectedError,
  validateInput,
} from '../../src/datasets/index.js';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'tribunal-limits-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

let counter = 0;
async function fixture(content: string | Buffer, options: { gzip?: boolean } = {}): Promise<string> {
  counter += 1;
  const file = path.join(directory, `input-${counter}.jsonl`);
  await writeFile(file, options.gzip ? gzipSync(content) : content);
  return file;
}

async function readAll(options: ReadItemsOptions): Promise<ReadResult[]> {
  const results: ReadResult[] = [];
  for await (const result of readItems(options)) results.push(result);
  return results;
}

const good = JSON.stringify({ id: 'ok', prompt: 'What is 2+2?', candidates: ['4', 'five'] });
const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('input limits: depth and size of every field are bounded, and a line over a bound is quarantined', () => {
  it.each([
    ['meta nested 5000 deep', `{"prompt":"p","candidates":["a"],"meta":{"x":${deep(5000)}}}`],
    ['a candidate nested 20000 deep', `{"prompt":"p","candidates":[${deep(20000)}]}`],
    ['an object nested 5000 deep', `{"prompt":"p","candidates":["a"],"meta":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
  ])('%s is rejected as too-deep with its line number, and the next line is read', async (_name, line) => {
    for (const format of ['native', 'trl', 'hh-rlhf'] as const) {
      const results = await readAll({ file: await fixture(`${good}\n${line}\n${good.replace('"ok"', '"ok2"')}\n`), format });
      expect(results[1]).toMatchObject({ kind: 'rejected', line: 2, code: 'too-deep' });
      expect(results[1]?.kind === 'rejected' && results[1].reason).toMatch(/more than 32 levels deep/);
      expect(results).toHaveLength(3);
    }
  });

  it('--strict (validateInput) reports a deep line instead of crashing', async () => {
    const file = await fixture(`${good}\n{"prompt":"p","candidates":["a"],"meta":{"x":${deep(5000)}}}\n`);
    const report = await validateInput({ file });
    expect(report.rejections).toMatchObject([{ line: 2, code: 'too-deep' }]);
    expect(report.error?.code).toBe('INPUT_INVALID');
  });

  it('accepts nesting up to the bound and counts brackets inside strings as text', () => {
    expect(jsonDepth('"[[[[["')).toBe(0);
    expect(jsonDepth('{"a":"\\"[[[","b":[1,[2]]}')).toBe(3);
    expect(jsonDepth(deep(40), 32)).toBe(33);
    const meta = `${'{"a":'.repeat(INPUT_LIMITS.maxDepth - 1)}1${'}'.repeat(INPUT_LIMITS.maxDepth - 1)}`;
    expect(jsonDepth(`{"meta":${meta}}`)).toBe(INPUT_LIMITS.maxDepth);
  });

  it('rejects a meta over 64 KB as too-large instead of copying it into labels', async () => {
    const big = JSON.stringify({ prompt: 'p', candidates: ['a'], meta: { blob: 'x'.repeat(INPUT_LIMITS.maxMetaChars) } });
    const [result] = await readAll({ file: await fixture(`${big}\n`) });
    expect(result).toMatchObject({ kind: 'rejected', line: 1, code: 'too-large', field: 'meta' });
    const small = JSON.stringify({ prompt: 'p', candidates: ['a'], meta: { blob: 'x'.repeat(1000) } });
    expect((await readAll({ file: await fixture(`${small}\n`) }))[0]?.kind).toBe('item');
  });

  it.each([
    ['item id', { id: 'i'.repeat(600), prompt: 'p', candidates: ['a'] }, 'too-long', 'id'],
    ['candidate id', { prompt: 'p', candidates: [{ id: 'c'.repeat(600), text: 'a' }] }, 'too-long', 'candidates.0.id'],
    ['candidate model', { prompt: 'p', candidates: [{ text: 'a', model: 'm'.repeat(600) }] }, 'too-long', 'candidates.0.model'],
    ['candidate count', { prompt: 'p', candidates: Array.from({ length: 65 }, (_, i) => `a${i}`) }, 'too-large', 'candidates'],
    [
      'message count',
      { messages: Array.from({ length: 1001 }, () => ({ role: 'user', content: 'hi' })), candidates: ['a'] },
      'too-large',
      'prompt',
    ],
  ])('rejects an over-long %s naming the field', async (_name, row, code, field) => {
    const [result] = await readAll({ file: await fixture(`${JSON.stringify(row)}\n`) });
    expect(result).toMatchObject({ kind: 'rejected', line: 1, code, field });
  });

  it('cuts a line over maxLineBytes while reading and rejects it with its length', async () => {
    const long = `{"prompt":"p","candidates":["${'x'.repeat(5000)}"]}`;
    const lines: Array<{ line: number; text: string; overLongBytes?: number }> = [];
    for await (const line of readLines({ file: await fixture(`${long}\n${good}\n`), maxLineBytes: 1000 })) lines.push(line);
    expect(lines[0]?.text).toHaveLength(1000);
    expect(lines[0]?.overLongBytes).toBe(long.length);
    expect(lines[1]).toEqual({ line: 2, text: good });
  });
});

describe('invalid UTF-8 is reported by line, never silently replaced', () => {
  it('rejects a line with invalid bytes as invalid-utf8 naming the byte, and reads on', async () => {
    const latin1 = Buffer.from('{"prompt":"caf\xe9","candidates":["a"]}', 'latin1');
    const file = await fixture(
      Buffer.concat([Buffer.from(`${good}\n`), latin1, Buffer.from(`\n${good.replace('"ok"', '"b"')}\n`)]),
    );
    const results = await readAll({ file });
    expect(results.map((result) => result.kind)).toEqual(['item', 'rejected', 'item']);
    expect(results[1]).toMatchObject({ line: 2, code: 'invalid-utf8' });
    expect(results[1]?.kind === 'rejected' && results[1].reason).toMatch(/byte 15 of the line\): re-encode the file as UTF-8/);
  });

  it('keeps valid multi-byte text, in gzip too, even when a chunk boundary splits a character', async () => {
    const text = Array.from({ length: 3000 }, (_, index) =>
      JSON.stringify({ id: `u${index}`, prompt: 'Größe 日本語 😀', candidates: ['ça va'] }),
    ).join('\n');
    const results = await readAll({ file: await fixture(text, { gzip: true }) });
    expect(results.every((result) => result.kind === 'item' && result.item.prompt === 'Größe 日本語 😀')).toBe(true);
    expect(results).toHaveLength(3000);
  });

  it('finds the first invalid byte per RFC 3629 (overlongs, surrogates, truncated sequences)', () => {
    expect(firstInvalidUtf8(Buffer.from('aé😀', 'utf8'))).toBe(7);
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xc0, 0x80]))).toBe(1);
    expect(firstInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(0);
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xe2, 0x82]))).toBe(2);
    expect(firstInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0);
  });
});

describe('rejections are bounded (--max-rejected)', () => {
  it('stops reading at the first rejection past maxRejected, with counts per reason', async () => {
    const bad = Array.from({ length: 50 }, (_, index) => (index % 2 === 0 ? 'not json' : '{"prompt":"p"}')).join('\n');
    const file = await fixture(`${good}\n${bad}\n${good.replace('"ok"', '"late"')}\n`, { gzip: true });
    const seen: ReadResult[] = [];
    const error = await (async () => {
      for await (const result of readItems({ file, maxRejected: 10, limit: 20 })) seen.push(result);
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TooManyRejectedError);
    expect(error).toMatchObject({
      code: 'INPUT_INVALID',
      location: { file, line: 12 },
      byCode: { 'invalid-json': 6, 'invalid-field': 5 },
    });
    expect((error as Error).message).toMatch(
      /more than 10 lines rejected \(reading stopped at line 12; invalid-json: 6, invalid-field: 5\).*--max-rejected/,
    );
    expect(seen.filter((result) => result.kind === 'rejected')).toHaveLength(10);
  });

  it('has a default bound, and --strict validation is bounded too', async () => {
    expect(DEFAULT_MAX_REJECTED).toBe(1000);
    const file = await fixture(`${'x\n'.repeat(30)}`);
    await expect(validateInput({ file, maxRejected: 5 })).rejects.toBeInstanceOf(TooManyRejectedError);
    const report = await validateInput({ file, maxRejected: 30 });
    expect(report.error?.issues).toHaveLength(21);
    expect(report.error?.issues.at(-1)?.message).toBe('… and 10 more rejected lines');
  });
});

describe('a directory as input', () => {
  it('is refused with INPUT_INVALID naming it, not a stack trace', async () => {
    await expect(readAll({ file: directory, format: 'native' })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: `input ${directory} is a directory: give a JSONL file (plain or gzipped)`,
    });
  });
});
