import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openAtomicWriter, writeFileAtomic, writeJsonlAtomic } from '../../src/export/index.js';

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'tribunal-atomic-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function* rowsThatThrowAfter(count: number) {
  for (let index = 0; index < count; index += 1) yield { index, text: 'x'.repeat(1000) };
  throw new Error('source failed midway');
}

describe('writeJsonlAtomic', () => {
  it('streams rows from an async iterable to one JSON line each', async () => {
    const file = path.join(directory, 'rows.jsonl');
    async function* rows() {
      for (let index = 0; index < 5000; index += 1) yield { index, text: `row ${index} ✓` };
    }
    const result = await writeJsonlAtomic({ file, rows: rows() });
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(5000);
    expect(JSON.parse(lines[4999] ?? '')).toEqual({ index: 4999, text: 'row 4999 ✓' });
    expect(result.rows).toBe(5000);
    expect(result.bytes).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
    expect(await readdir(directory)).toEqual(['rows.jsonl']);
  });

  it('leaves no target file and no temporary file when the rows throw midway', async () => {
    const file = path.join(directory, 'pairs.jsonl');
    await expect(writeJsonlAtomic({ file, rows: rowsThatThrowAfter(300) })).rejects.toThrow('source failed midway');
    expect(await readdir(directory)).toEqual([]);
  });

  it('keeps the previous file whole when a rewrite fails', async () => {
    const file = path.join(directory, 'labels.jsonl');
    await writeFile(file, 'old\n');
    await expect(writeJsonlAtomic({ file, rows: rowsThatThrowAfter(300) })).rejects.toThrow();
    expect(await readFile(file, 'utf8')).toBe('old\n');
    expect(await readdir(directory)).toEqual(['labels.jsonl']);
  });

  it('validates rows with a schema and aborts on the first bad one, naming row and field', async () => {
    const file = path.join(directory, 'checked.jsonl');
    const schema = z.object({ id: z.string(), score: z.number() });
    const rows = [
      { id: 'a', score: 1 },
      { id: 'b', score: 'high' as unknown as number },
    ];
    await expect(writeJsonlAtomic({ file, rows, schema })).rejects.toMatchObject({
      code: 'OUTPUT_INVALID',
      message: expect.stringMatching(/checked\.jsonl: row 2 is invalid at "score".*nothing was written/),
      location: { line: 2, field: 'score' },
    });
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('writeFileAtomic and openAtomicWriter', () => {
  it('writes strings, bytes and chunk streams, replacing the target', async () => {
    const file = path.join(directory, 'README.md');
    await writeFileAtomic({ file, content: 'first' });
    await writeFileAtomic({ file, content: new TextEncoder().encode('second') });
    expect(await readFile(file, 'utf8')).toBe('second');
    await writeFileAtomic({ file, content: ['a', 'b', new TextEncoder().encode('c')] });
    expect(await readFile(file, 'utf8')).toBe('abc');
    expect(await readdir(directory)).toEqual(['README.md']);
  });

  it('writes nothing visible before commit, and abort removes the temporary file', async () => {
    const file = path.join(directory, 'out.jsonl');
    const writer = await openAtomicWriter({ file });
    await writer.write('x'.repeat(200_000));
    expect(await readdir(directory)).toEqual([path.basename(writer.temporaryFile)]);
    expect(path.dirname(writer.temporaryFile)).toBe(directory);
    await writer.abort();
    expect(await readdir(directory)).toEqual([]);
    await expect(writer.write('more')).rejects.toThrow(/after it was aborted/);
  });

  it('fails with STORE_FAILED naming the file when the directory does not exist', async () => {
    const file = path.join(directory, 'missing', 'out.jsonl');
    await expect(writeFileAtomic({ file, content: 'x' })).rejects.toMatchObject({ code: 'STORE_FAILED', location: { file } });
  });
});
