import { join } from 'node:path';
import { TribunalError } from '../contracts/index.js';
import { isPostgresUrl, PostgresStore, redactStoreUrl } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** The database file name inside a run directory. */
export const STORE_FILE_NAME = 'tribunal.sqlite';

/** Options of `openStore`: a run directory (the store is `DIR/tribunal.sqlite`) or an explicit file. */
export type OpenStoreOptions = ({ dir: string; file?: undefined } | { file: string; dir?: undefined }) & {
  /** Open an existing store for reading only, e.g. from a server next to a running label job. */
  readonly?: boolean;
  /** How long a write waits for another process's lock before failing. Default 10 s. */
  busyTimeoutMs?: number;
  /**
   * Where runs live instead of `DIR/tribunal.sqlite`: a `postgres://…` URL (`--store`, or `TRIBUNAL_STORE`). The run
   * directory still holds the outputs (exports, rejected lines, the lock). Undefined or empty: SQLite.
   */
  url?: string | undefined;
};

/**
 * Opens the store of a run directory (creating the directory, the file and the schema when writable), or of an
 * explicit file; `:memory:` gives a throwaway store for tests; with `url`, the Postgres database it names. Failures
 * are `TribunalError('STORE_FAILED')`.
 * @example
 * const store = openStore({ dir: 'runs/hh-sample' });
 * const { run } = await store.createOrResumeRun({ config });
 * await store.resetRunning({ runId: run.id });
 */
export function openStore(options: OpenStoreOptions): Store {
  if (options.url !== undefined && options.url !== '') {
    if (!isPostgresUrl(options.url)) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `--store / TRIBUNAL_STORE must be a postgres:// or postgresql:// URL, not "${redactStoreUrl(options.url).slice(0, 80)}": omit it to keep runs in DIR/${STORE_FILE_NAME}`,
      );
    }
    return PostgresStore.open({ url: options.url, ...(options.readonly === undefined ? {} : { readonly: options.readonly }) });
  }
  const file = options.file ?? join(options.dir ?? '.', STORE_FILE_NAME);
  return SqliteStore.open({
    file,
    ...(options.readonly === undefined ? {} : { readonly: options.readonly }),
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
}
