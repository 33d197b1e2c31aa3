import type { PoolClient } from 'pg';
import { TribunalError } from '../contracts/index.js';

/**
 * The Postgres schema as a list of migrations; `tribunal_schema_version` holds one row per migration applied. Append
 * new migrations, never edit shipped ones. Tables live in the first schema of the connection's `search_path`
 * (`public` unless the URL says otherwise, e.g. `?options=-c%20search_path%3Dteam_a`), so one database can hold
 * several Tribunal stores.
 *
 * The layout follows the SQLite store's (sqlite-schema.ts) table for table, so both behave alike under the `Store`
 * contract; what differs:
 * - `items` carries the columns of leased claiming for workers on several machines (`claimItems`, `renewLeases`):
 *   `lease_owner` (the worker that holds a running item), `lease_expires_at` (when a claim not renewed by a heartbeat
 *   may be taken over; a claim is `WITH picked AS (SELECT … FOR UPDATE SKIP LOCKED) UPDATE …` over pending items and
 *   running items whose lease expired), `attempts` (counted per claim; the settle of a stale attempt is refused) and
 *   `dead_lettered_at` (set, with the reason in `error`, when an item is given up after too many expired claims; its
 *   state is then `failed`). The partial index `items_by_lease` keeps the search for expired leases cheap. SQLite's
 *   schema version 4 adds the same columns.
 * - Event ids come from the one-row `event_ids` table, whose row lock each appending transaction holds until it
 *   commits: ids are handed out and committed in the same order, so a follower reading `id > cursor` never skips an
 *   event that commits later with a lower id (a plain sequence would allow that with concurrent writers). It also
 *   lets a packed row reserve the ids below its own, as SQLite's AUTOINCREMENT high-water mark does.
 * - Timestamps shown to users are ISO-8601 text, as in SQLite; lease expiry is `timestamptz` compared with `now()`.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'done', 'failed')),
    config       TEXT NOT NULL,
    config_hash  TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    panel_id     TEXT NOT NULL,
    created_seq  BIGSERIAL NOT NULL
  );
  CREATE INDEX runs_by_identity ON runs (input_sha256, panel_id, created_at);

  CREATE TABLE run_configs (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    config_hash   TEXT NOT NULL,
    config        TEXT NOT NULL,
    first_used_at TEXT NOT NULL,
    PRIMARY KEY (run_id, config_hash)
  );

  CREATE TABLE items (
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_id          TEXT NOT NULL,
    line             INTEGER NOT NULL,
    input            TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed', 'rejected')),
    result           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    config_hash      TEXT,
    input_tokens     BIGINT NOT NULL DEFAULT 0,
    output_tokens    BIGINT NOT NULL DEFAULT 0,
    calls            BIGINT NOT NULL DEFAULT 0,
    cost_usd         DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    dead_lettered_at TEXT,
    PRIMARY KEY (run_id, item_id),
    CHECK ((state = 'done') = (result IS NOT NULL))
  );
  CREATE INDEX items_by_state ON items (run_id, state, line);
  CREATE INDEX items_by_lease ON items (run_id, lease_expires_at) WHERE state = 'running';

  CREATE TABLE rejected_lines (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    line   INTEGER NOT NULL,
    code   TEXT NOT NULL,
    field  TEXT,
    reason TEXT NOT NULL,
    raw    TEXT NOT NULL,
    PRIMARY KEY (run_id, line)
  );

  CREATE TABLE event_ids (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_id  BIGINT NOT NULL
  );
  INSERT INTO event_ids (only_row, last_id) VALUES (TRUE, 0);

  -- payload: one event as JSON, or (starting with '[') a packed run of one debate's turn-delta events whose last
  -- event owns the row's id and seq, the others the ids just below it.
  CREATE TABLE events (
    id        BIGINT PRIMARY KEY,
    run_id    TEXT NOT NULL,
    debate_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    type      TEXT NOT NULL,
    at        TEXT NOT NULL,
    payload   TEXT NOT NULL,
    UNIQUE (run_id, debate_id, seq)
  );
  CREATE INDEX events_by_run ON events (run_id, id);

  CREATE TABLE debates (
    run_id         TEXT NOT NULL,
    debate_id      TEXT NOT NULL,
    item_id        TEXT,
    status         TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    last_seq       INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    first_event_id BIGINT NOT NULL,
    last_event_id  BIGINT NOT NULL,
    started_at     TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (run_id, debate_id)
  );
  CREATE INDEX debates_by_start ON debates (run_id, first_event_id);
  CREATE INDEX debates_by_item ON debates (run_id, item_id);

  CREATE TABLE turn_cache (
    key        TEXT PRIMARY KEY,
    turn       TEXT NOT NULL,
    created_at TEXT NOT NULL
  );

  CREATE TABLE verdict_overrides (
    id           BIGSERIAL PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_id      TEXT,
    debate_id    TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('prefer', 'wrong')),
    candidate_id TEXT,
    note         TEXT,
    created_at   TEXT NOT NULL,
    CHECK (item_id IS NOT NULL OR debate_id IS NOT NULL)
  );
  CREATE INDEX verdict_overrides_by_run ON verdict_overrides (run_id, id);

  CREATE TABLE debate_snapshots (
    debate_id  TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    snapshot   TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX debate_snapshots_by_run ON debate_snapshots (run_id);

  -- LangGraph checkpoints (debates on the LangGraph driver), as LangGraph's SqliteSaver lays them out.
  CREATE TABLE langgraph_checkpoints (
    thread_id            TEXT NOT NULL,
    checkpoint_ns        TEXT NOT NULL DEFAULT '',
    checkpoint_id        TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type                 TEXT,
    checkpoint           BYTEA,
    metadata             BYTEA,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
  );
  CREATE TABLE langgraph_writes (
    thread_id     TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    channel       TEXT NOT NULL,
    type          TEXT,
    value         BYTEA,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
  );
  `,
];

/** The schema version this code writes: the number of migrations. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/** The advisory lock (transaction-scoped) that serializes migrations of one database. */
const MIGRATION_LOCK = 0x54524942; // "TRIB"

/**
 * Applies the migrations not yet applied, in one transaction under an advisory lock, so two processes opening a new
 * store at once migrate it once. Refuses a schema newer than this code (`location` names the store in messages).
 */
export async function migratePostgres(options: { client: PoolClient; location: string; readonly: boolean }): Promise<number> {
  const { client, location } = options;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const { rows: tables } = await client.query<{ name: string | null }>(
      "SELECT to_regclass('tribunal_schema_version')::text AS name",
    );
    if (tables[0]?.name == null && !options.readonly) {
      await client.query('CREATE TABLE tribunal_schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    }
    const current =
      tables[0]?.name == null && options.readonly
        ? 0
        : ((await client.query<{ version: number | null }>('SELECT max(version) AS version FROM tribunal_schema_version')).rows[0]
            ?.version ?? 0);
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${location}: schema version ${current} is newer than this Tribunal understands (${POSTGRES_SCHEMA_VERSION}): upgrade Tribunal to open it`,
      );
    }
    if (options.readonly && current < POSTGRES_SCHEMA_VERSION) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${location}: schema version ${current} is older than this Tribunal reads (${POSTGRES_SCHEMA_VERSION}) and a read-only opener does not migrate: open it once read-write (e.g. resume a run) first`,
      );
    }
    for (let index = current; index < POSTGRES_MIGRATIONS.length; index++) {
      await client.query(POSTGRES_MIGRATIONS[index] ?? '');
      await client.query('INSERT INTO tribunal_schema_version (version, applied_at) VALUES ($1, $2)', [
        index + 1,
        new Date().toISOString(),
      ]);
    }
    await client.query('COMMIT');
    return POSTGRES_SCHEMA_VERSION;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
