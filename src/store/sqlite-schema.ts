import type { Database } from 'better-sqlite3';
import { TribunalError } from '../contracts/index.js';

/** `PRAGMA application_id` of a Tribunal store ("TRIB"), so a foreign SQLite file is refused instead of altered. */
export const APPLICATION_ID = 0x54524942;

/**
 * The schema as a list of migrations; `PRAGMA user_version` counts the ones applied. Append new migrations,
 * never edit shipped ones. Tables `checkpoints` and `writes` belong to LangGraph's SqliteSaver, which creates them.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'done', 'failed')),
    config       TEXT NOT NULL,
    config_hash  TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    panel_id     TEXT NOT NULL
  );
  CREATE INDEX runs_by_identity ON runs (input_sha256, panel_id, created_at);

  -- Every config a run was labeled under, so a label's config_hash can be traced to its config.
  CREATE TABLE run_configs (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    config_hash   TEXT NOT NULL,
    config        TEXT NOT NULL,
    first_used_at TEXT NOT NULL,
    PRIMARY KEY (run_id, config_hash)
  ) WITHOUT ROWID;

  CREATE TABLE items (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_id       TEXT NOT NULL,
    line          INTEGER NOT NULL,
    input         TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed', 'rejected')),
    result        TEXT,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    config_hash   TEXT,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    calls         INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id),
    -- An item is done exactly when it has a result: never one without the other.
    CHECK ((state = 'done') = (result IS NOT NULL))
  );
  CREATE INDEX items_by_state ON items (run_id, state, line);

  CREATE TABLE rejected_lines (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    line   INTEGER NOT NULL,
    code   TEXT NOT NULL,
    field  TEXT,
    reason TEXT NOT NULL,
    raw    TEXT NOT NULL,
    PRIMARY KEY (run_id, line)
  ) WITHOUT ROWID;

  -- The event log: AUTOINCREMENT keeps ids increasing and never reused, so followers can poll by id.
  CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id    TEXT NOT NULL,
    debate_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    type      TEXT NOT NULL,
    at        TEXT NOT NULL,
    payload   TEXT NOT NULL,
    UNIQUE (run_id, debate_id, seq)
  );
  CREATE INDEX events_by_run ON events (run_id, id);

  -- One row per debate, maintained with each append, so listing debates never scans the events.
  CREATE TABLE debates (
    run_id         TEXT NOT NULL,
    debate_id      TEXT NOT NULL,
    item_id        TEXT,
    status         TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    last_seq       INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    first_event_id INTEGER NOT NULL,
    last_event_id  INTEGER NOT NULL,
    started_at     TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (run_id, debate_id)
  ) WITHOUT ROWID;
  CREATE INDEX debates_by_start ON debates (run_id, first_event_id);

  CREATE TABLE turn_cache (
    key        TEXT PRIMARY KEY,
    turn       TEXT NOT NULL,
    created_at TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE verdict_overrides (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
  `,
  `
  -- Version 2, no table changes: a row of events may hold a run of one debate's turn-delta events (payload a JSON
  -- array of the events; seq, at and id those of the last one, whose predecessors own the ids just below it, which
  -- the writer reserves). Older Tribunals would misread such rows, so the version keeps them out.
  SELECT 1;
  `,
  `
  -- The direct driver's checkpoints: one snapshot per debate in flight (the engine's DebateSnapshot as JSON).
  CREATE TABLE debate_snapshots (
    debate_id  TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    snapshot   TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX debate_snapshots_by_run ON debate_snapshots (run_id);
  `,
  `
  -- Version 4: leased claims (claimItems/renewLeases), as in the Postgres schema: who holds a running item, until when
  -- (ISO-8601 UTC text, which sorts as time), and when an item was given up after too many expired claims.
  ALTER TABLE items ADD COLUMN lease_owner TEXT;
  ALTER TABLE items ADD COLUMN lease_expires_at TEXT;
  ALTER TABLE items ADD COLUMN dead_lettered_at TEXT;
  CREATE INDEX items_by_lease ON items (run_id, lease_expires_at) WHERE state = 'running';
  `,
];

/** The schema version this code writes: the number of migrations. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The oldest schema version this code reads without migrating it (read-only openers): version 1 stores hold no packed
 * rows, and readers never ask for debate snapshots.
 */
export const MIN_READABLE_SCHEMA_VERSION = 1;

/** Tables a Tribunal store may hold before its first migration (LangGraph creates its own on first use). */
const FOREIGN_TABLES_ALLOWED = new Set(['checkpoints', 'writes']);

/** Reads the schema version and refuses files that are not Tribunal stores or come from a newer Tribunal. */
export function checkSchema(options: { db: Database; file: string }): number {
  const { db, file } = options;
  const version = db.pragma('user_version', { simple: true }) as number;
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  if (applicationId !== 0 && applicationId !== APPLICATION_ID) {
    throw new TribunalError(
      'STORE_FAILED',
      `store ${file}: this SQLite file belongs to another application (application_id ${applicationId}): point --out at a Tribunal run directory`,
      { location: { file } },
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new TribunalError(
      'STORE_FAILED',
      `store ${file}: schema version ${version} is newer than this Tribunal understands (${SCHEMA_VERSION}): upgrade Tribunal to open it`,
      { location: { file } },
    );
  }
  if (version === 0 && applicationId === 0) {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    const foreign = tables
      .map((table) => table.name)
      .filter((name) => !FOREIGN_TABLES_ALLOWED.has(name) && !name.startsWith('sqlite_'));
    if (foreign.length > 0) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${file}: this SQLite file already holds tables (${foreign.slice(0, 5).join(', ')}) and is not a Tribunal store: point --out at another directory`,
        { location: { file } },
      );
    }
  }
  return version;
}

/**
 * Applies the migrations not yet applied, each in its own IMMEDIATE transaction that re-reads the version, so two
 * processes opening a new store at once migrate it once.
 */
export function migrate(options: { db: Database; file: string }): void {
  const { db } = options;
  checkSchema(options);
  for (let index = 0; index < MIGRATIONS.length; index++) {
    const step = db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > index) return;
      db.exec(MIGRATIONS[index] ?? '');
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${index + 1}`);
    });
    step.immediate();
  }
}
