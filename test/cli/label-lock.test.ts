import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LOCK_OWNER_FILE_NAME, type LockOwner, STORE_FILE_NAME } from '../../src/store/index.js';
import { ARENA, REPO_ROOT, tempDir } from '../runner/fixtures.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tribunal.js');
/** Latency keeps the first run busy long enough for the second to meet its lock. */
const MODEL = 'fake:judge?latencyMs=100';

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Outcome> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

function label(out: string, items: number): { child: ChildProcess; done: Promise<Outcome> } {
  return start(['label', ARENA, '--limit', String(items), '--model', MODEL, '--out', out, '--concurrency', '2', '--json']);
}

/** Done items in the store, read the way another process would (read-only, while the writer runs); -1 before the items exist. */
function doneItems(out: string): number {
  const file = path.join(out, STORE_FILE_NAME);
  if (!existsSync(file)) return -1;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare("SELECT count(*) AS items, sum(state = 'done') AS done FROM items").get() as {
      items: number;
      done: number | null;
    };
    return row.items === 0 ? -1 : (row.done ?? 0);
  } catch {
    return -1; // the schema is not there yet
  } finally {
    db?.close();
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('tribunal label: one session per run directory', () => {
  it('refuses a second label and an export while a label runs on the directory; both work once it ends', async () => {
    const out = path.join(tempDir('tribunal-lock-'), 'run');
    // Far more items than the test waits for: it stops the first run with Ctrl-C once the others were refused.
    const first = label(out, 60);
    await until(() => doneItems(out) >= 0);

    const [second, exported] = await Promise.all([label(out, 60).done, start(['export', out]).done]);
    expect(second.code, second.stderr).toBe(70);
    expect(second.stderr).toContain(
      `run directory ${out} is locked by a labeling session (pid ${first.child.pid} on ${hostname()}, since `,
    );
    expect(second.stderr).toContain('wait for it to finish or stop it (Ctrl-C stops gracefully)');
    expect(exported.code, exported.stderr).toBe(70);
    expect(exported.stderr).toContain(`is locked by a labeling session (pid ${first.child.pid}`);
    expect(exported.stderr).toContain('run `tribunal export` again after it');

    first.child.kill('SIGINT');
    const finished = await first.done;
    expect(finished.code, finished.stderr).toBe(130);
    expect(JSON.parse(finished.stdout)).toMatchObject({ status: 'stopped', totals: { items: 60 } });
    expect(existsSync(path.join(out, LOCK_OWNER_FILE_NAME))).toBe(false);
    const again = await start(['export', out, '--json']).done;
    expect(again.code, again.stderr).toBe(0);
  });

  it('a run killed with SIGKILL leaves no lock behind: the next run takes the directory over and finishes', async () => {
    const out = path.join(tempDir('tribunal-lock-'), 'run');
    const victim = label(out, 8);
    await until(() => doneItems(out) >= 1);
    victim.child.kill('SIGKILL');
    expect((await victim.done).signal).toBe('SIGKILL');
    // The dead holder's owner record is still there; it does not block.
    const stale = JSON.parse(readFileSync(path.join(out, LOCK_OWNER_FILE_NAME), 'utf8')) as LockOwner;
    expect(stale.pid).toBe(victim.child.pid);

    const rerun = await label(out, 8).done;
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ opening: 'resumed', totals: { items: 8, done: 8 } });
    expect(existsSync(path.join(out, LOCK_OWNER_FILE_NAME))).toBe(false);
  });
});
