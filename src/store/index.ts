/**
 * Store: everything a labeling run persists, so that it can be resumed after any crash with nothing lost and
 * nothing done twice: runs and their configs, the item queue with each item's label row, refused input lines,
 * every debate event (a global, increasing log that the server follows), the turn cache that lets a rerun redo
 * only changed work, human verdict overrides, and the checkpoints of debates in flight (the direct driver's
 * snapshots; LangGraph checkpoints of older runs).
 *
 * Code depends on the `Store` interface (and its parts: `RunRegistry`, `ItemQueue`, `EventLog`, `TurnCache`,
 * `VerdictOverrides`, `CheckpointStore`, `RunLocks`); `openStore` returns the SQLite implementation, one file per
 * run directory in WAL mode (see `SqliteStore` for the durability argument), or with a `postgres://` URL the
 * Postgres implementation (`PostgresStore`), which many processes on many machines can share.
 *
 * The label runner's loop:
 * ```ts
 * const store = openStore({ dir: out });
 * const { run } = await store.createOrResumeRun({ config });
 * await store.resetRunning({ runId: run.id });       // items a crash left running
 * await store.upsertItems({ runId: run.id, items }); // idempotent; duplicates reported
 * const writer = new EventWriter({ store });
 * for (const claimed of await store.claimPending({ runId: run.id, limit: 8 })) {
 *   // run the debate with onEvent: (event) => writer.append(event), then:
 *   await writer.markDone({ runId: run.id, itemId: claimed.itemId, result, attempt: claimed.attempt });
 * }
 * await writer.close();
 * await store.close();
 * ```
 */
export {
  DEFAULT_FLUSH_EVENTS,
  DEFAULT_FLUSH_MS,
  type EventSink,
  EventWriter,
  type EventWriterOptions,
} from './event-writer.js';
export { type EventWakeupSubscription, type EventWakeups, pollEvents, wakeupEvents } from './follow-events.js';
export { type OpenStoreOptions, openStore, STORE_FILE_NAME } from './open-store.js';
export { EVENTS_CHANNEL, LISTEN_APPLICATION_NAME } from './postgres-event-listener.js';
export { POSTGRES_SCHEMA_VERSION } from './postgres-schema.js';
export { isPostgresUrl, PostgresStore, type PostgresStoreOptions, redactStoreUrl } from './postgres-store.js';
export { type RunConfig, RunConfigSchema, runConfigHash } from './run-config.js';
export {
  LOCK_FILE_NAME,
  LOCK_OWNER_FILE_NAME,
  type LockOwner,
  lockRunDirectory,
  type RunDirectoryLock,
  RunDirectoryLockedError,
} from './run-directory-lock.js';
export { SCHEMA_VERSION } from './sqlite-schema.js';
export { DEFAULT_BUSY_TIMEOUT_MS, SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { stableJson } from './stable-json.js';
export * from './store.js';
export { sqliteCode, storeFailure } from './store-error.js';
export { TURN_CACHE_KEY_VERSION, type TurnCacheKeyParts, turnCacheKey } from './turn-cache-key.js';
