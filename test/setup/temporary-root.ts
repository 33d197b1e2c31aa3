import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Vitest global setup: every temporary directory a test run makes (mkdtemp under os.tmpdir(), in the test workers,
 * the CLI and Python processes they spawn, and Chromium) lands in one folder, removed when the run ends, instead of
 * hundreds of run directories, SQLite stores and checkpoints left in /tmp by every run. Set
 * TRIBUNAL_KEEP_TEST_TMP=1 to keep it for a post-mortem (its path is printed).
 */
export default function setup(): () => void {
  const root = mkdtempSync(path.join(tmpdir(), 'tribunal-tests-'));
  // Workers are forked after global setup, so they (and what they spawn) inherit it.
  process.env.TMPDIR = root;
  return () => {
    if (process.env.TRIBUNAL_KEEP_TEST_TMP === '1') {
      process.stderr.write(`test temporary files kept in ${root}\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
