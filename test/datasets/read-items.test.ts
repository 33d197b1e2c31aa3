import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TribunalError } from '../../src/contracts/index.js';
import {
  detectFormat,
  formatRejection,
  isGzipFile,
  type ReadItemsOptions,
  type ReadResult,
  readItems,
  readLines,
  stableItemId,
  validateInput,
} from '../../src/datasets/index.js';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'tribunal-datasets-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

let counter = 0;
async function fixture(lines: Array<string | object>, options: { gzip?: boolean; name?: string } = {}): Promise<string> {
  counter += 1;
  const file = path.join(directory, options.name ?? `input-${counter}.jsonl`);
  const text = `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;
  await writeFile(file, options.gzip ? gzipSync(text) : text);
  return file;
}

async function readAll(options: ReadItemsOptions): Promise<ReadResult[]> {
  const results: ReadResult[] = [];
  for await (const result of readItems(options)) results.push(result);
  return results;
}

const good = { id: 'ok', prompt: 'What is 2+2?', candidates: ['4', 'five'] };

describe('readItems: malformed lines are rejected with line numbers and reading goes on', () => {
  it.each([
    ['invalid JSON', '{"prompt": "x", "candidates": [', 'invalid-json', undefined, /^invalid JSON \(.*\): fix the line/],
    ['a JSON array', '["not", "an", "object"]', 'not-an-object', undefined, /expected a JSON object/],
    ['missing prompt', { candidates: ['a'] }, 'invalid-field', 'prompt', /^prompt: missing: give "prompt"/],
    ['missing candidates', { prompt: 'p' }, 'invalid-field', 'candidates', /^candidates: missing: give a list/],
    ['empty candidate list', { prompt: 'p', candidates: [] }, 'invalid-field', 'candidates', /candidates is empty/],
    ['candidates not a list', { prompt: 'p', candidates: 'a' }, 'invalid-field', 'candidates', /must be a list/],
    [
      'candidate text not a string',
      { prompt: 'p', candidates: [{ id: 'a', text: 3 }] },
      'invalid-field',
      'candidates.0.text',
      /^candidates\.0\.text: candidate text must be a string/,
    ],
    [
      'prompt of the wrong type',
      { prompt: 42, candidates: ['a'] },
      'invalid-field',
      'prompt',
      /^prompt: expected string or array, got number/,
    ],
    ['empty prompt', { prompt: '', candidates: ['a'] }, 'invalid-field', 'prompt', /^prompt: Too small/],
    [
      'bad message role',
      { messages: [{ role: 'robot', content: 'x' }], candidates: ['a'] },
      'invalid-field',
      'messages.0.role',
      /"system"\|"user"\|"assistant"/,
    ],
    [
      'both prompt and messages',
      { prompt: 'p', messages: [{ role: 'user', content: 'p' }], candidates: ['a'] },
      'invalid-field',
      'messages',
      /not both/,
    ],
    [
      'duplicate candidate ids',
      {
        prompt: 'p',
        candidates: [
          { id: 'x', text: 'a' },
          { id: 'x', text: 'b' },
        ],
      },
      'invalid-field',
      'candidates.1.id',
      /duplicate candidate id "x"/,
    ],
    ['meta not an object', { prompt: 'p', candidates: ['a'], meta: 'm' }, 'invalid-field', 'meta', /meta must be an object/],
    [
      'humanPreferred naming no candidate',
      { prompt: 'p', candidates: ['a'], meta: { humanPreferred: 'zz' } },
      'invalid-field',
      'meta.humanPreferred',
      /c1/,
    ],
    ['id of the wrong type', { id: true, prompt: 'p', candidates: ['a'] }, 'invalid-field', 'id', /id must be/],
  ])('%s', async (_name, bad, code, field, reason) => {
    const file = await fixture([good, bad, { ...good, id: 'after' }]);
    const results = await readAll({ file, format: 'native' });
    expect(results.map((result) => result.kind)).toEqual(['item', 'rejected', 'item']);
    const rejection = results[1];
    if (rejection?.kind !== 'rejected') throw new Error('expected a rejection');
    expect(rejection.line).toBe(2);
    expect(rejection.code).toBe(code);
    expect(rejection.field).toBe(field);
    expect(rejection.reason).toMatch(reason);
    expect(rejection.raw).toBe(typeof bad === 'string' ? bad : JSON.stringify(bad));
    expect(formatRejection({ file, rejection })).toBe(`${file}:2: ${rejection.reason}`);
  });

  it('rejects texts over maxChars, naming the field, and accepts them under a higher bound', async () => {
    const file = await fixture([
      { prompt: 'p', candidates: ['short', 'x'.repeat(50)] },
      { messages: [{ role: 'user', content: 'y'.repeat(60) }], candidates: ['a'] },
    ]);
    const results = await readAll({ file, maxChars: 40 });
    expect(results.map((result) => (result.kind === 'rejected' ? [result.code, result.field] : result.kind))).toEqual([
      ['too-long', 'candidates.1.text'],
      ['too-long', 'prompt.0.content'],
    ]);
    expect(results[0]?.kind === 'rejected' && results[0].reason).toMatch(
      /50 characters, over the limit of 40: shorten it or drop the row$/,
    );
    expect((await readAll({ file, maxChars: 100 })).every((result) => result.kind === 'item')).toBe(true);
  });

  it('clips the raw text of huge bad lines', async () => {
    const file = await fixture([`{"prompt": "${'z'.repeat(5000)}`]);
    const [rejection] = await readAll({ file, format: 'native' });
    expect(rejection?.kind === 'rejected' && rejection.raw).toMatch(/^\{"prompt": "z+… \(5012 chars\)$/);
  });

  it('rejects a repeated id after its first occurrence, naming the first line', async () => {
    const file = await fixture([
      good,
      { ...good, candidates: ['other'] },
      { prompt: 'p', candidates: ['a'] },
      { prompt: 'p', candidates: ['a'] },
    ]);
    const results = await readAll({ file });
    expect(results.map((result) => result.kind)).toEqual(['item', 'rejected', 'item', 'rejected']);
    expect(results[1]?.kind === 'rejected' && results[1].reason).toMatch(/"ok" repeats the item on line 1/);
    expect(results[3]?.kind === 'rejected' && results[3].code).toBe('duplicate-id');
  });

  it('skips blank lines, strips a BOM, handles CRLF, and keeps counting lines', async () => {
    const file = path.join(directory, 'crlf.jsonl');
    await writeFile(file, `\uFEFF${JSON.stringify(good)}\r\n\r\n   \r\n${JSON.stringify({ ...good, id: 'b' })}\r\n`);
    const results = await readAll({ file });
    expect(results.map((result) => [result.kind, result.line])).toEqual([
      ['item', 1],
      ['item', 4],
    ]);
  });

  it('stops after limit items, not counting rejections', async () => {
    const file = await fixture(['nope', ...Array.from({ length: 10 }, (_, index) => ({ ...good, id: `i${index}` }))]);
    const results = await readAll({ file, limit: 3 });
    expect(results.map((result) => result.kind)).toEqual(['rejected', 'item', 'item', 'item']);
    expect(await readAll({ file, limit: 0 })).toEqual([]);
  });
});

describe('native rows', () => {
  it('names bare-text candidates c1..cN, keeps object ids and models, and merges meta', async () => {
    const file = await fixture([
      {
        id: 7,
        messages: [{ role: 'user', content: 'hi' }],
        candidates: ['a', { text: 'b', model: 'm' }, { id: 'z', text: 'c' }],
        meta: { topic: 't', humanPreferred: 'z' },
      },
    ]);
    const [result] = await readAll({ file });
    expect(result).toEqual({
      kind: 'item',
      line: 1,
      item: {
        id: '7',
        prompt: [{ role: 'user', content: 'hi' }],
        candidates: [
          { id: 'c1', text: 'a' },
          { id: 'c2', text: 'b', model: 'm' },
          { id: 'z', text: 'c' },
        ],
        meta: { topic: 't', humanPreferred: 'z', source: 'native', conversational: true },
      },
    });
  });

  it('gives rows without an id a content hash that survives reordering', async () => {
    const rows = [
      { prompt: 'one', candidates: ['a', 'b'] },
      { prompt: 'two', candidates: ['a', 'b'] },
    ];
    const forward = await readAll({ file: await fixture(rows) });
    const backward = await readAll({ file: await fixture([...rows].reverse()) });
    const ids = (results: ReadResult[]) => results.map((result) => (result.kind === 'item' ? result.item.id : '')).sort();
    expect(ids(forward)).toEqual(ids(backward));
    const first = forward[0];
    expect(first?.kind === 'item' && first.item.id).toBe(
      stableItemId({
        prompt: 'one',
        candidates: [
          { id: 'c1', text: 'a' },
          { id: 'c2', text: 'b' },
        ],
      }),
    );
    expect(ids(forward)[0]).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('gzip detection by magic bytes', () => {
  const rows = [good, { ...good, id: 'second' }];

  it('gunzips a gzipped file whatever its name, and reads a plain file named .gz as text', async () => {
    const gzippedPlainName = await fixture(rows, { gzip: true, name: 'looks-plain.jsonl' });
    const plainGzName = await fixture(rows, { name: 'looks-gzipped.jsonl.gz' });
    expect(await isGzipFile(gzippedPlainName)).toBe(true);
    expect(await isGzipFile(plainGzName)).toBe(false);
    for (const file of [gzippedPlainName, plainGzName]) {
      expect((await readAll({ file })).map((result) => result.kind === 'item' && result.item.id)).toEqual(['ok', 'second']);
    }
  });

  it('streams a large gzipped file in many chunks', async () => {
    const count = 30_000;
    const text = Array.from({ length: count }, (_, index) =>
      JSON.stringify({ id: `r${index}`, prompt: `p${index}`, candidates: ['a', 'b'] }),
    ).join('\n');
    const file = path.join(directory, 'large.jsonl.gz');
    await writeFile(file, gzipSync(text));
    let items = 0;
    let lastLine = 0;
    for await (const result of readItems({ file })) {
      if (result.kind === 'item') items += 1;
      lastLine = result.line;
    }
    expect(items).toBe(count);
    expect(lastLine).toBe(count);
  });

  it('throws INPUT_INVALID naming the file when a gzip stream is truncated', async () => {
    const text = Array.from({ length: 5000 }, (_, index) => JSON.stringify({ ...good, id: `t${index}` })).join('\n');
    const zipped = gzipSync(text);
    const file = path.join(directory, 'truncated.jsonl.gz');
    await writeFile(file, zipped.subarray(0, Math.floor(zipped.length / 2)));
    const error = await readAll({ file, format: 'native' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect(error).toMatchObject({ code: 'INPUT_INVALID', location: { file } });
    expect((error as Error).message).toMatch(/cannot decompress after line \d+: .*truncated or corrupt/);
  });

  it('throws INPUT_INVALID naming the file when it does not exist', async () => {
    const file = path.join(directory, 'missing.jsonl');
    await expect(readAll({ file })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining(file) });
    await expect(readLines({ file }).next()).rejects.toBeInstanceOf(TribunalError);
  });
});

describe('detectFormat and validateInput', () => {
  it('votes over the first recognisable rows, skipping junk, and defaults to native', async () => {
    const trl = { prompt: 'p', chosen: 'a', rejected: 'b' };
    expect(await detectFormat({ file: await fixture(['junk', '{}', trl, trl, good]) })).toEqual({
      format: 'trl',
      sampled: 3,
      detected: true,
    });
    expect(await detectFormat({ file: await fixture(['junk', '{}']) })).toEqual({
      format: 'native',
      sampled: 0,
      detected: false,
    });
    expect((await detectFormat({ file: await fixture([good, trl, trl], {}), sampleRows: 1 })).format).toBe('native');
  });

  it('lets the format option override detection', async () => {
    const file = await fixture([{ prompt: 'p', chosen: 'a', rejected: 'b' }]);
    const [result] = await readAll({ file, format: 'native' });
    expect(result?.kind === 'rejected' && result.field).toBe('candidates');
  });

  it('scans the whole file and returns every rejection as one FileValidationError', async () => {
    const file = await fixture([good, 'bad json', { prompt: 'p' }, { ...good, id: 'fine' }]);
    const report = await validateInput({ file });
    expect(report).toMatchObject({ file, format: 'native', rows: 4, items: 2 });
    expect(report.rejections.map((rejection) => rejection.line)).toEqual([2, 3]);
    expect(report.error?.code).toBe('INPUT_INVALID');
    expect(report.error?.issues).toEqual([
      { field: '', line: 2, message: expect.stringMatching(/^invalid JSON/) },
      { field: 'candidates', line: 3, message: expect.stringMatching(/^candidates: missing/) },
    ]);
    expect(report.error?.message).toContain(`${file} is invalid:`);
    const clean = await validateInput({ file: await fixture([good]) });
    expect(clean.error).toBeUndefined();
    expect(clean.rejections).toEqual([]);
  });
});

describe('readItems with requireCandidates: false (prompts for tribunal generate)', () => {
  it('accepts native rows without candidates, hashing the prompt alone for a missing id', async () => {
    const file = await fixture([
      { id: 'a', prompt: 'first' },
      { messages: [{ role: 'user', content: 'second' }], meta: { topic: 'x' } },
      good,
      { id: 'b', prompt: 'p', meta: { humanPreferred: 'c1' } },
      { id: 'c' },
      { id: 'd', prompt: 'p', candidates: [] },
    ]);
    const results = await readAll({ file, format: 'native', requireCandidates: false });
    expect(results[0]).toMatchObject({ kind: 'item', item: { id: 'a', prompt: 'first', candidates: [] } });
    expect(results[1]).toMatchObject({
      kind: 'item',
      item: {
        id: stableItemId({ prompt: [{ role: 'user', content: 'second' }], candidates: [] }),
        candidates: [],
        meta: { topic: 'x', conversational: true },
      },
    });
    expect(results[2]).toMatchObject({ kind: 'item', item: { id: 'ok', candidates: [{ text: '4' }, { text: 'five' }] } });
    // a human label of candidates the row does not have, a missing prompt, an empty list: still refused
    expect(results[3]).toMatchObject({ kind: 'rejected', field: 'meta.humanPreferred' });
    expect(results[4]).toMatchObject({ kind: 'rejected', field: 'prompt' });
    expect(results[5]).toMatchObject({ kind: 'rejected', field: 'candidates' });
    // the default still requires candidates
    expect((await readAll({ file, format: 'native' }))[0]).toMatchObject({ kind: 'rejected', field: 'candidates' });
  });
});
