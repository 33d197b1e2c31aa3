import { join } from 'node:path';
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
};

/**
 * Opens the store of a run directory (creating the directory, the file and the schema when writable), or of an
 * explicit file; `:memory:` gives a throwaway store for tests. Failures are `TribunalError('STORE_FAILED')`.
 * @example
 * const store = openStore({ dir: 'runs/hh-sample' });
 * const { run } = await store.createOrResumeRun({ config });
 * await store.resetRunning({ runId: run.id });
 */
export function openStore(options: OpenStoreOptions): Store {
  const file = options.file ?? join(options.dir ?? '.', STORE_FILE_NAME);
  return SqliteStore.open({
    file,
    ...(options.readonly === undefined ? {} : { readonly: options.readonly }),
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
}
