import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { main } from '../../src/cli/main.js';
import { TribunalError } from '../../src/contracts/index.js';
import { fileWriteFailure } from '../../src/export/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { nativeItem, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

async function cli(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

/** No stack trace and no "internal error": the message is for a user. */
function expectClearError(err: string): void {
  expect(err).not.toContain('internal error');
  expect(err).not.toMatch(/\n\s+at /);
}

describe('clear errors for bad inputs', () => {
  it('a directory as input is INPUT_INVALID (exit 1) naming it, for label, label --dry-run and eval', async () => {
    const dir = tempDir();
    const folder = path.join(dir, 'data');
    mkdirSync(folder);
    const runs = [
      ['label', folder, '--out', path.join(dir, 'out'), '--model', 'fake:judge'],
      ['label', folder, '--out', path.join(dir, 'out'), '--model', 'fake:judge', '--dry-run'],
      ['eval', '--gold', folder, '--out', path.join(dir, 'eval'), '--model', 'fake:judge'],
    ];
    for (const args of runs) {
      const result = await cli(args);
      expect(result.code, result.err).toBe(EXIT.invalid);
      expect(result.err).toContain(`input ${folder} is a directory: give the path of a JSONL file`);
      expectClearError(result.err);
    }
    const missing = await cli(['label', path.join(dir, 'nope.jsonl'), '--out', path.join(dir, 'out'), '--model', 'fake:judge']);
    expect(missing.code).toBe(EXIT.invalid);
    expect(missing.err).toContain('does not exist');
  });

  it('an empty input (empty, blank lines, empty gzip) says so and exits 1', async () => {
    const dir = tempDir();
    const inputs = {
      'empty.jsonl': '',
      'blank.jsonl': '\n\n   \n',
      'empty.jsonl.gz': gzipSync(Buffer.alloc(0)),
    };
    for (const [name, content] of Object.entries(inputs)) {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      const result = await cli(['label', file, '--out', path.join(dir, `out-${name}`), '--model', 'fake:judge']);
      expect(result.code, result.err).toBe(EXIT.invalid);
      expect(result.err).toContain(`${file} holds no items (it is empty or blank): nothing to label`);
      expectClearError(result.err);
      const estimated = await cli(['label', file, '--out', path.join(dir, `dry-${name}`), '--model', 'fake:judge', '--dry-run']);
      expect(estimated.code).toBe(EXIT.invalid);
      expect(estimated.err).toContain(`${file} holds no item to label: it is empty`);
      const evaluated = await cli(['eval', '--gold', file, '--out', path.join(dir, `eval-${name}`), '--model', 'fake:judge']);
      expect(evaluated.code).toBe(EXIT.invalid);
      expect(evaluated.err).toContain('holds no items');
    }
  });

  it('an input whose every line is rejected says so, writes rejected.jsonl, and exits 1; a rerun after fixing it works', async () => {
    const dir = tempDir();
    const input = writeInput(dir, ['{oops', '{"id": "x", "prompt": "no candidates"}', 'plain text']);
    const out = path.join(dir, 'out');
    const result = await cli(['label', input, '--out', out, '--model', 'fake:judge']);
    expect(result.code, result.err).toBe(EXIT.invalid);
    expect(result.err).toContain(`${input} holds no valid item: all 3 of its lines were rejected`);
    expect(result.err).toContain(path.join(out, 'rejected.jsonl'));
    expectClearError(result.err);
    expect(readJsonl<{ line: number }>(path.join(out, 'rejected.jsonl')).map((row) => row.line)).toEqual([1, 2, 3]);
    const estimated = await cli(['label', input, '--out', out, '--model', 'fake:judge', '--dry-run']);
    expect(estimated.code).toBe(EXIT.invalid);
    expect(estimated.err).toContain('holds no item to label: all 3 of its lines would be rejected');

    // Fixed input, same directory: a new run labels it.
    const fixed = writeInput(dir, [nativeItem(1, 2)], 'fixed.jsonl');
    const rerun = await cli(['label', fixed, '--out', out, '--model', 'fake:judge', '--max-rounds', '0']);
    expect(rerun.code, rerun.err).toBe(EXIT.ok);
    expect(rerun.out).toContain('1/1 items labeled');
  });
});

describe('a full disk during export', () => {
  it('a real ENOSPC (from /dev/full) becomes STORE_FAILED saying "free space and rerun"', () => {
    let cause: unknown;
    try {
      writeFileSync('/dev/full', 'x');
    } catch (error) {
      cause = error;
    }
    expect((cause as { code?: string }).code).toBe('ENOSPC');
    const failure = fileWriteFailure({ file: '/runs/out/labels.jsonl', cause });
    expect(failure).toBeInstanceOf(TribunalError);
    expect(failure.code).toBe('STORE_FAILED');
    expect(failure.message).toMatch(/^cannot write \/runs\/out\/labels\.jsonl: the disk is full: free space and rerun/);
    expect(failure.location).toEqual({ file: '/runs/out/labels.jsonl' });
  });

  // Needs a small file system to fill: a tmpfs, mounted where the test may (root on Linux); skipped elsewhere.
  const mountPoint = tempDir('tribunal-full-disk-');
  it.runIf(canMount(mountPoint))(
    '`tribunal export` on a full disk exits with "free space and rerun", no stack, no temporary file',
    async () => {
      mountTmpfs(mountPoint);
      try {
        const dir = tempDir();
        const out = path.join(dir, 'out');
        const input = writeInput(
          dir,
          Array.from({ length: 60 }, (_, index) => nativeItem(index + 1, 3)),
        );
        expect((await cli(['label', input, '--out', out, '--model', 'fake:judge', '--max-rounds', '0'])).code).toBe(EXIT.ok);
        const run = path.join(mountPoint, 'run');
        cpSync(out, run, { recursive: true });
        rmSync(path.join(run, 'labels.jsonl'));
        // Leave 64 KiB: the store opens (its shared-memory file takes 32 KiB), labels.jsonl does not fit.
        expect(statSync(path.join(out, 'labels.jsonl')).size).toBeGreaterThan(128 * 1024);
        const { bavail, bsize } = statfsSync(mountPoint);
        writeFileSync(path.join(mountPoint, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - 64 * 1024)));
        const result = await cli(['export', run]);
        expect(result.code).toBe(EXIT.internal);
        expect(result.err).toContain(`cannot write ${path.join(run, 'labels.jsonl')}: the disk is full: free space and rerun`);
        expectClearError(result.err);
        expect(readdirSync(run).filter((name) => name.endsWith('.tmp'))).toEqual([]);
        expect(existsSync(path.join(run, 'labels.jsonl'))).toBe(false);
      } finally {
        execFileSync('umount', [mountPoint]);
      }
    },
  );
});

/** Mounts a 4 MiB tmpfs at `dir`. */
function mountTmpfs(dir: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
}

/** Whether this process may mount a tmpfs (root on Linux): mounts one at `dir` and unmounts it at once. */
function canMount(dir: string): boolean {
  if (process.platform !== 'linux') return false;
  try {
    mountTmpfs(dir);
  } catch {
    return false;
  }
  execFileSync('umount', [dir]);
  return true;
}
