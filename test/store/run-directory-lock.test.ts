import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOCK_FILE_NAME,
  LOCK_OWNER_FILE_NAME,
  type LockOwner,
  lockRunDirectory,
  type RunDirectoryLock,
  RunDirectoryLockedError,
} from '../../src/store/index.js';

const HOLDER = path.join(import.meta.dirname, 'fixtures', 'hold-lock.ts');

let held: RunDirectoryLock[] = [];
let children: ChildProcess[] = [];
afterEach(() => {
  for (const lock of held) lock.release();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  held = [];
  children = [];
});

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'tribunal-lock-'));
}

function lock(dir: string, purpose = 'label'): RunDirectoryLock {
  const taken = lockRunDirectory({ dir, purpose });
  held.push(taken);
  return taken;
}

function refusal(dir: string, purpose = 'label'): RunDirectoryLockedError {
  try {
    lock(dir, purpose);
  } catch (error) {
    expect(error).toBeInstanceOf(RunDirectoryLockedError);
    return error as RunDirectoryLockedError;
  }
  throw new Error(`the lock of ${dir} was granted twice`);
}

/**
 * A child process that takes the lock of `dir` (dropping the returned object) and holds it until killed; resolves once it
 * holds it. `collectGarbage`: it collects garbage first.
 */
function holdInChild(dir: string, options: { collectGarbage?: boolean } = {}): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const args = options.collectGarbage
      ? ['--expose-gc', '--import', 'tsx', HOLDER, dir, 'gc']
      : ['--import', 'tsx', HOLDER, dir];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve(child);
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`the lock holder exited early (${code}): ${stderr}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('close');
    child.on('close', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('lockRunDirectory', () => {
  it('grants one holder at a time, names the holder in the refusal, and is free again after release', () => {
    const dir = path.join(tempDir(), 'run');
    const first = lock(dir);
    expect(existsSync(path.join(dir, LOCK_FILE_NAME))).toBe(true);
    const owner = JSON.parse(readFileSync(path.join(dir, LOCK_OWNER_FILE_NAME), 'utf8')) as LockOwner;
    expect(owner).toMatchObject({ pid: process.pid, host: hostname(), purpose: 'label', since: first.owner.since });

    const refused = refusal(dir);
    expect(refused.code).toBe('STORE_FAILED');
    expect(refused.directory).toBe(dir);
    expect(refused.owner).toEqual(first.owner);
    expect(refused.message).toContain(
      `run directory ${dir} is locked by a labeling session (pid ${process.pid} on ${hostname()}, since ${owner.since}`,
    );
    expect(refused.message).toContain('wait for it to finish or stop it');
    expect(refusal(dir, 'export').message).toContain('run `tribunal export` again after it');

    first.release();
    first.release(); // idempotent
    expect(existsSync(path.join(dir, LOCK_OWNER_FILE_NAME))).toBe(false);
    // The lock file stays (deleting it could let two processes lock two files); the next holder takes it.
    expect(existsSync(path.join(dir, LOCK_FILE_NAME))).toBe(true);
    expect(lock(dir).owner.pid).toBe(process.pid);
  });

  it('an owner record a dead process left behind does not block: only the operating-system lock counts', () => {
    const dir = tempDir();
    const stale: LockOwner = {
      pid: 999_999_999,
      host: hostname(),
      since: '2020-01-01T00:00:00.000Z',
      purpose: 'label',
      command: 'x',
    };
    writeFileSync(path.join(dir, LOCK_OWNER_FILE_NAME), JSON.stringify(stale));
    writeFileSync(path.join(dir, LOCK_FILE_NAME), '');
    const taken = lock(dir);
    expect(JSON.parse(readFileSync(path.join(dir, LOCK_OWNER_FILE_NAME), 'utf8'))).toEqual(taken.owner);
  });

  it('refuses while another process holds the lock, and takes it over once that process is killed with SIGKILL', async () => {
    const dir = tempDir();
    const child = await holdInChild(dir);
    const refused = refusal(dir);
    expect(refused.owner?.pid).toBe(child.pid);
    expect(refused.message).toContain(`(pid ${child.pid} on ${hostname()}`);

    await killed(child);
    // The dead holder's record is still there; the lock is not.
    expect((JSON.parse(readFileSync(path.join(dir, LOCK_OWNER_FILE_NAME), 'utf8')) as LockOwner).pid).toBe(child.pid);
    const taken = lock(dir);
    expect(taken.owner.pid).toBe(process.pid);
  });

  it('keeps the lock when the holder drops the returned object and garbage is collected (the connection is not)', async () => {
    const dir = tempDir();
    const child = await holdInChild(dir, { collectGarbage: true });
    expect(refusal(dir).owner?.pid).toBe(child.pid);
  });
});
