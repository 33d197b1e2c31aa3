import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { openStore } from '../../src/store/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { nativeItem, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

async function run(command: string, args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main([command, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

const rejectionMessages = (err: string) => err.split('\n').filter((line) => line.includes('rejected /')).length;

describe('rejected input lines are bounded (issue 10, item 11)', () => {
  it('a gzip of one repeated bad line stops at --max-rejected with exit 1, a bounded store and bounded stderr', async () => {
    const dir = tempDir();
    const input = path.join(dir, 'bad.jsonl.gz');
    writeFileSync(input, gzipSync(`${'{"prompt": "p", "candidates": [\n'.repeat(200_000)}`));
    const out = path.join(dir, 'out');
    const result = await run('label', [input, '--out', out, '--model', 'fake:judge', '--limit', '20']);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`${input}: more than 1000 lines rejected (reading stopped at line 1001; invalid-json: 1001)`);
    expect(result.err).toContain('raise --max-rejected');
    expect(rejectionMessages(result.err)).toBe(20);
    expect(result.err.length).toBeLessThan(20_000);
    const store = openStore({ dir: out });
    try {
      const [runRow] = await store.listRuns();
      const lines = runRow === undefined ? [] : await store.listRejectedLines({ runId: runRow.id });
      expect(lines.length).toBeLessThanOrEqual(1000);
      expect(lines.filter((line) => line.raw !== '')).toHaveLength(100);
    } finally {
      await store.close();
    }
  });

  it('prints the first 20 rejections, then a summary by reason; rejected.jsonl keeps every line, raw text for the first 100', async () => {
    const dir = tempDir();
    const bad = Array.from({ length: 150 }, (_, index) => (index % 3 === 0 ? '{"prompt": "p"}' : `nope ${index}`));
    const input = writeInput(dir, [nativeItem(1), ...bad, nativeItem(2)]);
    const out = path.join(dir, 'out');
    const result = await run('label', [
      input,
      '--out',
      out,
      '--model',
      'fake:judge',
      '--max-rounds',
      '0',
      '--max-rejected',
      '150',
    ]);
    expect(result.code).toBe(0);
    expect(rejectionMessages(result.err)).toBe(20);
    expect(result.out).toContain(
      '130 more rejected lines not shown (all rejected lines by reason: invalid-json: 100, invalid-field: 50); see rejected.jsonl',
    );
    const rows = readJsonl<{ line: number; raw: string }>(path.join(out, 'rejected.jsonl'));
    expect(rows.map((row) => row.line)).toEqual(bad.map((_, index) => index + 2));
    expect(rows.slice(0, 100).every((row) => row.raw !== '')).toBe(true);
    expect(rows.slice(100).every((row) => row.raw === '')).toBe(true);
  });

  it('--max-rejected is checked like every number flag', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1)]);
    expect((await run('label', [input, '--out', dir, '--max-rejected', '-1'])).code).toBe(2);
  });
});

describe('hostile input lines are quarantined, never crash a command (issue 10, items 9 and 12)', () => {
  const deepMeta = `{"prompt":"p","candidates":["a","b"],"meta":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`;

  it('label: a meta nested 5000 deep is one rejected line; the other items are labeled', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), deepMeta, nativeItem(2)]);
    const out = path.join(dir, 'out');
    const result = await run('label', [input, '--out', out, '--model', 'fake:judge', '--max-rounds', '0']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('2/2 items labeled');
    expect(readJsonl(path.join(out, 'rejected.jsonl'))).toEqual([expect.objectContaining({ line: 2, code: 'too-deep' })]);
    const strict = await run('label', [input, '--out', path.join(dir, 'strict'), '--model', 'fake:judge', '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/line 2.*more than 32 levels deep/);
  });

  it('eval --gold: a deep line is rejected, not a crash', async () => {
    const dir = tempDir();
    const pair = (index: number) => ({ prompt: `Question ${index}?`, chosen: `Good ${index}.`, rejected: `Bad ${index}.` });
    const deep = `{"prompt":"q","chosen":"a","rejected":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const gold = writeInput(dir, [pair(1), deep, pair(2)]);
    const result = await run('eval', [
      '--gold',
      gold,
      '--out',
      path.join(dir, 'out'),
      '--model',
      'fake:judge',
      '--max-rounds',
      '0',
    ]);
    expect(result.code).toBe(0);
    expect(result.err).toContain(`rejected ${gold}:2: nested more than 32 levels deep`);
  });

  it('a directory as input exits 1 with a sentence, not a stack trace', async () => {
    const dir = tempDir();
    const result = await run('label', [dir, '--out', path.join(dir, 'out'), '--model', 'fake:judge']);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`input ${dir} is a directory: give the path of a JSONL file`);
    expect(result.err).not.toMatch(/\n\s+at /);
  });
});
