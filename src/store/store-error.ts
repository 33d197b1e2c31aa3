import { TribunalError } from '../contracts/index.js';

/** What went wrong and what to do, by SQLite result code (the primary code, before any `_` extension). */
const ADVICE: Readonly<Record<string, string>> = {
  SQLITE_BUSY:
    'the database stayed locked by another connection past the busy timeout: is another `tribunal label` writing to this directory? Wait for it or stop it, then retry',
  SQLITE_LOCKED: 'the database is locked by another statement of this process: retry; if it persists, report a bug',
  SQLITE_CORRUPT:
    'the file is corrupt: move it (with its -wal and -shm files) aside and rerun to start over, or restore a backup; `sqlite3 FILE .recover` may save the data',
  SQLITE_NOTADB: 'this is not an SQLite database: point --out at a Tribunal run directory, or move the file aside',
  SQLITE_READONLY:
    'the database cannot be written: check the permissions of the file and its directory (SQLite needs to create -wal and -shm files next to it)',
  SQLITE_CANTOPEN: 'the file cannot be opened: check that the directory exists and is writable, and that the path is right',
  SQLITE_PERM: 'the operating system refused access: check the permissions of the file and its directory',
  SQLITE_FULL: 'the disk is full: free space and rerun (committed work is kept)',
  SQLITE_IOERR: 'a disk I/O error occurred: check the disk and free space, then rerun (committed work is kept)',
  SQLITE_CONSTRAINT: 'a stored row broke a constraint: this is a bug in Tribunal, please report it',
};

/** The SQLite result code of an error from better-sqlite3, or undefined for other errors. */
export function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('SQLITE_')) {
    return error.code;
  }
  return undefined;
}

/**
 * Wraps a failure of the store in `TribunalError('STORE_FAILED')` whose message names the file, the action and
 * what to do; a `TribunalError` passes through unchanged.
 */
export function storeFailure(options: { file: string; action: string; cause: unknown }): TribunalError {
  const { file, action, cause } = options;
  if (cause instanceof TribunalError) return cause;
  const code = sqliteCode(cause);
  // SQLITE_READONLY_DIRECTORY -> SQLITE_READONLY: extended codes share the advice of their primary code.
  const primary = code?.split('_').slice(0, 2).join('_');
  const advice = (primary && ADVICE[primary]) ?? (code ? undefined : nodeAdvice(cause));
  const detail = cause instanceof Error ? cause.message : String(cause);
  const message = `store ${file}: ${action} failed (${code ?? 'error'}: ${detail})${advice ? `: ${advice}` : ''}`;
  return new TribunalError('STORE_FAILED', message, { cause, location: { file } });
}

/** What went wrong and what to do, by Postgres SQLSTATE or Node socket error code. */
const POSTGRES_ADVICE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing accepts connections at that address: is the Postgres server running, and are host and port right?',
  ENOENT: 'no Postgres socket at that path: is the server running, and is the socket directory (host=) right?',
  ENOTFOUND: 'the host name does not resolve: check the host in the store URL',
  ETIMEDOUT: 'the server did not answer in time: check the network and the host in the store URL',
  '28P01': 'the password was refused: check the user and password in the store URL (or PGPASSWORD)',
  '28000': 'the server refused this user: check pg_hba.conf and the user in the store URL',
  '3D000': 'the database does not exist: create it (createdb NAME) or fix the database name in the store URL',
  '42501': 'the user lacks a privilege: grant it CREATE and USAGE on the schema, or use the owner of the database',
  '53300': 'the server has no free connection slots: raise max_connections or run fewer workers',
  '57P01': 'the server was shut down: restart it and rerun (committed work is kept)',
  '40P01': 'a deadlock between writers: rerun (committed work is kept); if it repeats, report a bug',
  '23505': 'a stored row broke a uniqueness constraint: this is a bug in Tribunal, please report it',
};

/**
 * Wraps a failure of the Postgres store in `TribunalError('STORE_FAILED')` naming the store (its URL without the
 * password), the action and what to do; a `TribunalError` passes through unchanged.
 */
export function postgresFailure(options: { location: string; action: string; cause: unknown }): TribunalError {
  const { location, action, cause } = options;
  if (cause instanceof TribunalError) return cause;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  const advice = code === undefined ? undefined : POSTGRES_ADVICE[code];
  const detail = cause instanceof Error ? cause.message : String(cause);
  const message = `store ${location}: ${action} failed (${code ?? 'error'}: ${detail})${advice ? `: ${advice}` : ''}`;
  return new TribunalError('STORE_FAILED', message, { cause });
}

/** Advice for file-system errors raised by Node before SQLite is involved (creating the directory). */
function nodeAdvice(cause: unknown): string | undefined {
  const code = cause instanceof Error && 'code' in cause ? cause.code : undefined;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'check that the directory is writable';
  if (code === 'ENOSPC') return 'the disk is full: free space and rerun';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way of the directory: choose another --out';
  return undefined;
}
