import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TribunalError } from '../contracts/index.js';
import { sqliteCode, storeFailure } from './store-error.js';

/** The lock file of a run directory: an empty SQLite database whose file lock is the run directory's lock. */
export const LOCK_FILE_NAME = 'tribunal.lock';
/** Who holds the lock: written by the holder once it has the lock, for the refusal message of the next process. */
export const LOCK_OWNER_FILE_NAME = 'tribunal.lock.json';

/** The process holding a run directory's lock, as its owner file records it. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What holds it: `label` (a labeling session), `export`, `train` or `eval` (the trainer worker). */
  purpose: string;
  /** The holder's command line, for the message. */
  command: string;
}

/** What holds a lock, by purpose, for the refusal message. */
const HOLDERS: Record<string, string> = {
  label: 'a labeling session',
  export: '`tribunal export`',
  train: 'a training run',
  eval: 'an evaluation',
  generate: 'a generation session',
};

/** What the refused process can do, by its own purpose. */
const NEXT_STEPS: Record<string, string> = {
  label: 'wait for it to finish or stop it (Ctrl-C stops gracefully), then rerun to continue; or give another --out directory',
  export: 'a labeling session exports when it ends; run `tribunal export` again after it',
  train:
    'wait for it to finish or stop it (Ctrl-C stops after a checkpoint), then run the same command to resume; or give another --out directory',
  eval: 'wait for it to finish, or give another --out directory',
  generate: 'wait for it to finish or stop it (Ctrl-C stops gracefully), then rerun to continue; or give another --out directory',
};

/** A run directory is locked by another process (or another session of this one). */
export class RunDirectoryLockedError extends TribunalError {
  readonly directory: string;
  /** The holder as its owner file says; undefined while the holder has not written it yet. */
  readonly owner: LockOwner | undefined;

  constructor(options: { directory: string; owner: LockOwner | undefined; purpose: string }) {
    const { directory, owner } = options;
    const holder = owner
      ? `${HOLDERS[owner.purpose] ?? 'a labeling session'} (pid ${owner.pid} on ${owner.host}, since ${owner.since}: ${owner.command})`
      : 'another process (it has not recorded its pid yet)';
    const then = NEXT_STEPS[options.purpose] ?? NEXT_STEPS.label;
    super(
      'STORE_FAILED',
      `run directory ${directory} is locked by ${holder}: ${then}. A lock dies with its process (even on kill -9), so there is never a lock file to delete by hand`,
      { location: { file: path.join(directory, LOCK_FILE_NAME) } },
    );
    this.name = 'RunDirectoryLockedError';
    this.directory = directory;
    this.owner = owner;
  }
}

/** A held run-directory lock; `release()` is idempotent. */
export interface RunDirectoryLock {
  readonly directory: string;
  readonly owner: LockOwner;
  release(): void;
}

/**
 * Takes the exclusive lock of a run directory (creating the directory), or throws `RunDirectoryLockedError` at once
 * when another process, or another session in this process, holds it. Hold it for the whole labeling session (or
 * export) and release it at the end.
 *
 * The lock is SQLite's own file lock on `DIR/tribunal.lock`: a dedicated connection opens an exclusive transaction and
 * keeps it open. The operating system drops that lock when the process ends, however it ends (kill -9, OOM, a
 * crash), so a dead holder never blocks the next run and there is no staleness to guess: no pid liveness test, no
 * pid reuse, no race between two processes taking over a stale lock file. SQLite also refuses a second connection of
 * the same process. The holder then writes `DIR/tribunal.lock.json` (pid, host, start time, command) so a refused
 * process can say who holds the lock; a record a dead holder left behind is overwritten by the next holder and is
 * only ever read while the lock is really held. The lock file itself is never deleted: unlinking it while another
 * process has it open would let two processes lock two different files. Readers of the store (`tribunal serve`)
 * never touch the lock.
 * @example
 * const lock = lockRunDirectory({ dir: 'runs/hh', purpose: 'label' });
 * try { await label(); } finally { lock.release(); }
 */
export function lockRunDirectory(options: { dir: string; purpose: string }): RunDirectoryLock {
  const directory = path.resolve(options.dir);
  const file = path.join(directory, LOCK_FILE_NAME);
  const ownerFile = path.join(directory, LOCK_OWNER_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    mkdirSync(directory, { recursive: true });
    db = new Database(file, { timeout: 0 });
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db?.close();
    if (sqliteCode(error) === 'SQLITE_BUSY') {
      throw new RunDirectoryLockedError({ directory, owner: readOwner(ownerFile), purpose: options.purpose });
    }
    throw storeFailure({ file, action: 'locking the run directory', cause: error });
  }
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    purpose: options.purpose,
    command: commandLine(),
  };
  try {
    writeFileSync(ownerFile, `${JSON.stringify(owner)}\n`);
  } catch (error) {
    db.close();
    throw storeFailure({ file: ownerFile, action: 'recording the lock owner', cause: error });
  }
  const held = db;
  // A strong reference until release: better-sqlite3 closes a connection that is garbage collected, and with it the
  // operating-system lock, so a caller that dropped the returned object would lose the lock silently at some GC.
  HELD_CONNECTIONS.add(held);
  let released = false;
  return {
    directory,
    owner,
    release() {
      if (released) return;
      released = true;
      // Remove the owner record first, while the lock still keeps the next holder from writing its own.
      if (sameOwner(readOwner(ownerFile), owner)) rmSync(ownerFile, { force: true });
      held.close();
      HELD_CONNECTIONS.delete(held);
    },
  };
}

/** The connections of the locks this process holds (see `lockRunDirectory`: they must not be garbage collected). */
const HELD_CONNECTIONS = new Set<Database.Database>();

/** The owner record, or undefined when it is missing or not (yet) whole. */
function readOwner(file: string): LockOwner | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.since !== 'string') return undefined;
    return {
      pid: value.pid,
      host: value.host,
      since: value.since,
      purpose: typeof value.purpose === 'string' ? value.purpose : 'label',
      command: typeof value.command === 'string' ? value.command : '',
    };
  } catch {
    return undefined;
  }
}

function sameOwner(left: LockOwner | undefined, right: LockOwner): boolean {
  return left !== undefined && left.pid === right.pid && left.host === right.host && left.since === right.since;
}

/** `tribunal label in.jsonl --out x`, from argv (the script's base name, then its arguments), at most 300 characters. */
function commandLine(): string {
  const [, script, ...args] = process.argv;
  const name = script ? path.basename(script).replace(/\.(c|m)?(j|t)s$/, '') : 'node';
  const line = [name, ...args].join(' ');
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
