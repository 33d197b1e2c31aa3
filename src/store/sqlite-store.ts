import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import Database, { type Statement } from 'better-sqlite3';
import { type DatasetItem, type DebateEvent, type LabelRow, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { pollEvents } from './follow-events.js';
import { isPacked, MAX_PACKED_EVENTS, unpackRows } from './packed-events.js';
import { type RunConfig, RunConfigSchema, runConfigHash } from './run-config.js';
import { checkSchema, MIN_READABLE_SCHEMA_VERSION, migrate, SCHEMA_VERSION } from './sqlite-schema.js';
import {
  type AppendEventsOptions,
  type AppendEventsResult,
  type CachedTurn,
  CachedTurnSchema,
  type ClaimedItem,
  type ClaimItemsOptions,
  type ClaimItemsResult,
  DEAD_LETTERED,
  DEFAULT_MAX_ATTEMPTS,
  type DebateRecord,
  type DebateSnapshotWrite,
  type DoneItem,
  type DuplicateItem,
  type EventsAfterOptions,
  type FollowEventsOptions,
  type GeneratedItem,
  type ItemError,
  type ItemErrorCount,
  type ItemRecord,
  type ItemState,
  type MarkDoneOptions,
  type MarkFailedOptions,
  type MarkGeneratedOptions,
  type NewItem,
  type NewVerdictOverride,
  OVERRIDE_KINDS,
  type OverrideKind,
  type PruneResult,
  type RejectedLine,
  type RenewLeasesOptions,
  RUN_STATUSES,
  type RunLock,
  type RunOpening,
  type RunRecord,
  type RunStatus,
  type RunTotals,
  type Store,
  type StoredEvent,
  type UpsertItemsResult,
  type VerdictOverride,
} from './store.js';
import { storeFailure } from './store-error.js';

/**
 * The reason a dead-lettered item carries, as an SQL expression over its row (SQLite and Postgres both concatenate
 * with ||): how often it was claimed and who held it last.
 */
export const DEAD_LETTER_MESSAGE_SQL = `'claimed ' || attempts || ' times and every lease expired without a settle (last held by ' || coalesce(lease_owner, 'unknown') || '): the item may crash or hang its worker; rerun with --retry-failed to try it again'`;

/** Run locks held in this process, by store location and run id, with the holder's purpose. */
const heldRunLocks = new Map<string, string>();

/** Default time a write waits for another connection's lock before failing with SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/** Options of `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** The database file, or `:memory:` for a throwaway store (tests). */
  file: string;
  /** Open an existing store for reading only (a viewer or server next to a running label job). */
  readonly?: boolean;
  /** How long a write waits for another connection's lock. Default 10 s. */
  busyTimeoutMs?: number;
}

interface RunRow {
  id: string;
  created_at: string;
  updated_at: string;
  status: RunStatus;
  config: string;
  config_hash: string;
  input_sha256: string;
  panel_id: string;
}

interface ItemRow {
  item_id: string;
  line: number;
  input: string;
  state: ItemState;
  result: string | null;
  error: string | null;
  attempts: number;
  config_hash: string | null;
  updated_at: string;
}

interface DebateRow {
  run_id: string;
  debate_id: string;
  item_id: string | null;
  status: DebateRecord['status'];
  last_seq: number;
  events: number;
  first_event_id: number;
  last_event_id: number;
  started_at: string | null;
  updated_at: string;
}

interface OverrideRow {
  id: number;
  run_id: string;
  item_id: string | null;
  debate_id: string | null;
  kind: OverrideKind;
  candidate_id: string | null;
  note: string | null;
  created_at: string;
}

/** Per-debate changes gathered while appending one batch. */
interface DebateChange {
  runId: string;
  debateId: string;
  itemId: string | null;
  status: DebateRecord['status'] | null;
  startedAt: string | null;
  lastSeq: number;
  events: number;
  firstId: number;
  lastId: number;
}

/**
 * The SQLite implementation of `Store`: one database file in WAL mode with `synchronous=NORMAL`.
 *
 * Durability: in WAL mode a commit appends its pages to the `-wal` file with write(2) before the call returns, so
 * a committed transaction survives the process dying at any instant (kill -9, OOM, a crash): the data is in the
 * operating system's cache and the next opener replays the WAL. `NORMAL` skips the fsync at each commit (the WAL is
 * fsynced at checkpoints), so only an operating-system crash or power loss can lose the last transactions, and
 * even then the file stays consistent. `FULL` would close that window at the price of one fsync per batch. Every
 * multi-row change (a batch of events, an item with its result and last events) is one transaction: after any
 * crash it is there entirely or not at all.
 *
 * Concurrency: one writer at a time (others wait up to `busyTimeoutMs`), any number of readers in other processes
 * that see each commit as a whole. Event ids are assigned inside the single writer's transaction, so they grow in
 * commit order and a follower polling `id > last` never skips one.
 */
export class SqliteStore implements Store {
  readonly location: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement<unknown[], unknown>>();
  private saver: Promise<SqliteSaver> | undefined;
  private closed = false;
  private lockScope: string | undefined;

  private constructor(options: { db: Database.Database; file: string; readonly: boolean }) {
    this.db = options.db;
    this.location = options.file;
    this.readonly = options.readonly;
  }

  /**
   * Opens (creating and migrating when writable) the store in `file`.
   * @example
   * const store = SqliteStore.open({ file: 'out/tribunal.sqlite' });
   */
  static open(options: SqliteStoreOptions): SqliteStore {
    const { file } = options;
    const readonly = options.readonly ?? false;
    const memory = file === ':memory:';
    let db: Database.Database | undefined;
    try {
      if (!readonly && !memory) mkdirSync(dirname(file), { recursive: true });
      db = new Database(file, {
        readonly,
        fileMustExist: readonly,
        timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      });
      if (readonly) {
        const version = checkSchema({ db, file });
        if (version < MIN_READABLE_SCHEMA_VERSION) {
          throw new TribunalError(
            'STORE_FAILED',
            `store ${file}: schema version ${version} is older than this Tribunal reads (${MIN_READABLE_SCHEMA_VERSION}..${SCHEMA_VERSION}) and a read-only store cannot be migrated: open it once read-write (e.g. resume the run) first`,
            { location: { file } },
          );
        }
      } else {
        const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
        if (!memory && mode !== 'wal') {
          throw new TribunalError(
            'STORE_FAILED',
            `store ${file}: could not switch to WAL mode (got "${mode}"); the file system may lack shared memory (NFS?): put the run directory on a local disk`,
            { location: { file } },
          );
        }
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        migrate({ db, file });
      }
      return new SqliteStore({ db, file, readonly });
    } catch (error) {
      db?.close();
      throw storeFailure({ file, action: readonly ? 'opening read-only' : 'opening', cause: error });
    }
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Runs
  // -------------------------------------------------------------------------------------------------------------------

  async createOrResumeRun(options: { runId?: string; config: RunConfig }): Promise<RunOpening> {
    const parsed = RunConfigSchema.safeParse(options.config);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
      throw new TribunalError('CONFIG_INVALID', `run config is invalid: ${issues.join('; ')}`);
    }
    const config = parsed.data;
    const configHash = runConfigHash(config);
    const configJson = JSON.stringify(config);
    return this.write('creating or resuming a run', () => {
      const now = timestamp();
      const existing =
        options.runId === undefined
          ? this.statement<RunRow>(
              'SELECT * FROM runs WHERE input_sha256 = ? AND panel_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1',
            ).get(config.input.sha256, config.panel.id)
          : this.statement<RunRow>('SELECT * FROM runs WHERE id = ?').get(options.runId);
      const recordConfig = (runId: string) =>
        this.statement('INSERT OR IGNORE INTO run_configs (run_id, config_hash, config, first_used_at) VALUES (?, ?, ?, ?)').run(
          runId,
          configHash,
          configJson,
          now,
        );

      if (existing === undefined) {
        const runId = options.runId ?? newRunId();
        this.statement(
          `INSERT INTO runs (id, created_at, updated_at, status, config, config_hash, input_sha256, panel_id)
           VALUES (?, ?, ?, 'running', ?, ?, ?, ?)`,
        ).run(runId, now, now, configJson, configHash, config.input.sha256, config.panel.id);
        recordConfig(runId);
        return { outcome: 'created' as const, run: this.runRecord(this.requireRunRow(runId)) };
      }

      if (existing.input_sha256 !== config.input.sha256 || existing.panel_id !== config.panel.id) {
        throw new TribunalError(
          'CONFIG_INVALID',
          `run ${existing.id} labels another input or panel (input sha256 ${existing.input_sha256.slice(0, 12)}…, panel ${existing.panel_id}) than the one given (${config.input.sha256.slice(0, 12)}…, ${config.panel.id}): omit the run id to start a new run in the same directory`,
        );
      }
      this.statement("UPDATE runs SET status = 'running', updated_at = ?, config = ?, config_hash = ? WHERE id = ?").run(
        now,
        configJson,
        configHash,
        existing.id,
      );
      recordConfig(existing.id);
      if (existing.config_hash === configHash) {
        return { outcome: 'resumed' as const, run: this.runRecord(this.requireRunRow(existing.id)) };
      }
      const requeued = this.statement(
        `UPDATE items SET state = 'pending', result = NULL, error = NULL, attempts = 0, config_hash = NULL,
           input_tokens = 0, output_tokens = 0, calls = 0, cost_usd = 0, dead_lettered_at = NULL, updated_at = ?
         WHERE run_id = ? AND state IN ('done', 'failed', 'rejected') AND config_hash IS NOT ?`,
      ).run(now, existing.id, configHash).changes;
      return {
        outcome: 'reconfigured' as const,
        run: this.runRecord(this.requireRunRow(existing.id)),
        previousConfigHash: existing.config_hash,
        requeued,
      };
    });
  }

  async getRun(options: { runId: string }): Promise<RunRecord | undefined> {
    return this.read('reading a run', () => {
      const row = this.statement<RunRow>('SELECT * FROM runs WHERE id = ?').get(options.runId);
      return row && this.runRecord(row);
    });
  }

  async listRuns(): Promise<RunRecord[]> {
    return this.read('listing runs', () =>
      this.statement<RunRow>('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC')
        .all()
        .map((row) => this.runRecord(row)),
    );
  }

  async setRunStatus(options: { runId: string; status: RunStatus }): Promise<void> {
    if (!RUN_STATUSES.includes(options.status)) {
      throw new TribunalError('INTERNAL', `setRunStatus: unknown status "${options.status}"`);
    }
    this.write('setting a run status', () => {
      const { changes } = this.statement('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?').run(
        options.status,
        timestamp(),
        options.runId,
      );
      if (changes === 0) throw this.noSuchRun(options.runId);
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Items
  // -------------------------------------------------------------------------------------------------------------------

  async upsertItems(options: { runId: string; items: readonly NewItem[] }): Promise<UpsertItemsResult> {
    return this.write('storing items', () => {
      this.requireRunRow(options.runId);
      const now = timestamp();
      const insert = this.statement(
        "INSERT OR IGNORE INTO items (run_id, item_id, line, input, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
      );
      const lineOf = this.statement<{ line: number }>('SELECT line FROM items WHERE run_id = ? AND item_id = ?');
      let inserted = 0;
      let existing = 0;
      const duplicates: DuplicateItem[] = [];
      for (const { line, item } of options.items) {
        if (insert.run(options.runId, item.id, line, JSON.stringify(item), now).changes === 1) {
          inserted += 1;
          continue;
        }
        const firstLine = lineOf.get(options.runId, item.id)?.line ?? line;
        if (firstLine === line) existing += 1;
        else duplicates.push({ itemId: item.id, line, firstLine });
      }
      return { inserted, existing, duplicates };
    });
  }

  async claimPending(options: { runId: string; limit: number }): Promise<ClaimedItem[]> {
    if (options.limit <= 0) return [];
    return this.write('claiming items', () => {
      const rows = this.statement<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'attempts'>>(
        `UPDATE items SET state = 'running', attempts = attempts + 1, updated_at = ?
         WHERE run_id = ? AND item_id IN (
           SELECT item_id FROM items WHERE run_id = ? AND state = 'pending' ORDER BY line LIMIT ?
         )
         RETURNING item_id, line, input, attempts`,
      ).all(timestamp(), options.runId, options.runId, Math.floor(options.limit));
      rows.sort((left, right) => left.line - right.line);
      return rows.map((row) => ({
        itemId: row.item_id,
        line: row.line,
        item: JSON.parse(row.input) as DatasetItem,
        attempt: row.attempts,
      }));
    });
  }

  async claimItems(options: ClaimItemsOptions): Promise<ClaimItemsResult> {
    if (options.limit <= 0) return { items: [], deadLettered: 0 };
    const at = options.now ?? new Date();
    const now = at.toISOString();
    const expires = new Date(at.getTime() + Math.max(0, options.leaseMs)).toISOString();
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    return this.write('claiming items', () => {
      const deadLettered = this.statement(
        `UPDATE items SET state = 'failed', result = NULL,
           error = json_object('code', '${DEAD_LETTERED}', 'message', ${DEAD_LETTER_MESSAGE_SQL}),
           config_hash = (SELECT config_hash FROM runs WHERE id = items.run_id),
           dead_lettered_at = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
         WHERE run_id = ? AND state = 'running' AND lease_expires_at < ? AND attempts >= ?`,
      ).run(now, now, options.runId, now, maxAttempts).changes;
      const rows = this.statement<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'attempts'>>(
        `UPDATE items SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?, updated_at = ?
         WHERE run_id = ? AND item_id IN (
           SELECT item_id FROM items
           WHERE run_id = ? AND (state = 'pending' OR (state = 'running' AND lease_expires_at < ?))
           ORDER BY line LIMIT ?
         )
         RETURNING item_id, line, input, attempts`,
      ).all(options.owner, expires, now, options.runId, options.runId, now, Math.floor(options.limit));
      rows.sort((left, right) => left.line - right.line);
      const items = rows.map((row) => ({
        itemId: row.item_id,
        line: row.line,
        item: JSON.parse(row.input) as DatasetItem,
        attempt: row.attempts,
      }));
      return { items, deadLettered };
    });
  }

  async renewLeases(options: RenewLeasesOptions): Promise<number> {
    if (options.items.length === 0) return 0;
    const at = options.now ?? new Date();
    const expires = new Date(at.getTime() + Math.max(0, options.leaseMs)).toISOString();
    return this.write('renewing leases', () => {
      const renew = this.statement(
        `UPDATE items SET lease_expires_at = ?
         WHERE run_id = ? AND item_id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?`,
      );
      let renewed = 0;
      for (const item of options.items) {
        renewed += renew.run(expires, options.runId, item.itemId, options.owner, item.attempt).changes;
      }
      return renewed;
    });
  }

  async markDone(options: MarkDoneOptions): Promise<boolean> {
    return this.settleDone({
      ...options,
      action: 'marking an item done',
      resultJson: JSON.stringify(options.result),
      usage: options.result.usage ?? ZERO_USAGE,
    });
  }

  async markGenerated(options: MarkGeneratedOptions): Promise<boolean> {
    return this.settleDone({ ...options, action: 'marking an item generated', resultJson: JSON.stringify(options.generation) });
  }

  /** Settles a running item as done with its result (a label row or a generation) and usage, and its last events. */
  private settleDone(options: {
    action: string;
    runId: string;
    itemId: string;
    attempt?: number | undefined;
    configHash?: string | undefined;
    resultJson: string;
    usage: Usage;
    events?: readonly DebateEvent[] | undefined;
    snapshots?: readonly DebateSnapshotWrite[] | undefined;
    debateId?: string | undefined;
  }): boolean {
    const { usage } = options;
    return this.write(options.action, () => {
      if (options.events && options.events.length > 0) this.insertEvents(options.events);
      if (options.snapshots && options.snapshots.length > 0) this.upsertSnapshots(options.snapshots);
      const { changes } = this.statement(
        `UPDATE items SET state = 'done', result = ?, error = NULL,
           config_hash = (SELECT config_hash FROM runs WHERE id = items.run_id),
           input_tokens = ?, output_tokens = ?, calls = ?, cost_usd = ?, updated_at = ?
         WHERE run_id = ? AND item_id = ? AND state = 'running' AND (? IS NULL OR attempts = ?)
           AND (? IS NULL OR (SELECT config_hash FROM runs WHERE id = items.run_id) = ?)`,
      ).run(
        options.resultJson,
        usage.inputTokens,
        usage.outputTokens,
        usage.calls,
        usage.costUsd,
        timestamp(),
        options.runId,
        options.itemId,
        options.attempt ?? null,
        options.attempt ?? null,
        options.configHash ?? null,
        options.configHash ?? null,
      );
      if (changes === 1 && options.debateId !== undefined) {
        this.statement('DELETE FROM debate_snapshots WHERE debate_id = ?').run(options.debateId);
      }
      return changes === 1;
    });
  }

  async *iterateGenerated(options: { runId: string; pageSize?: number }): AsyncGenerator<GeneratedItem> {
    const pageSize = Math.max(1, options.pageSize ?? 256);
    let after = { line: Number.MIN_SAFE_INTEGER, itemId: '' };
    for (;;) {
      const rows = this.read('reading generated items', () =>
        this.statement<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'result'>>(
          `SELECT item_id, line, input, result FROM items
           WHERE run_id = ? AND state = 'done' AND (line, item_id) > (?, ?)
           ORDER BY line, item_id LIMIT ?`,
        ).all(options.runId, after.line, after.itemId, pageSize),
      );
      for (const row of rows) {
        yield {
          itemId: row.item_id,
          line: row.line,
          item: JSON.parse(row.input) as DatasetItem,
          generation: JSON.parse(row.result ?? 'null') as unknown,
        };
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < pageSize) return;
      after = { line: last.line, itemId: last.item_id };
    }
  }

  async markFailed(options: MarkFailedOptions): Promise<boolean> {
    const errorJson = JSON.stringify({ code: options.error.code, message: options.error.message });
    if (!['pending', 'failed', 'rejected'].includes(options.state)) {
      throw new TribunalError('INTERNAL', `markFailed: state must be pending, failed or rejected, not "${options.state}"`);
    }
    return this.write('marking an item failed', () => {
      if (options.events && options.events.length > 0) this.insertEvents(options.events);
      if (options.snapshots && options.snapshots.length > 0) this.upsertSnapshots(options.snapshots);
      const { changes } = this.statement(
        `UPDATE items SET state = ?, result = NULL, error = ?,
           config_hash = CASE WHEN ? = 'pending' THEN NULL ELSE (SELECT config_hash FROM runs WHERE id = items.run_id) END,
           updated_at = ?
         WHERE run_id = ? AND item_id = ? AND state = 'running' AND (? IS NULL OR attempts = ?)`,
      ).run(
        options.state,
        errorJson,
        options.state,
        timestamp(),
        options.runId,
        options.itemId,
        options.attempt ?? null,
        options.attempt ?? null,
      );
      return changes === 1;
    });
  }

  async resetRunning(options: { runId: string }): Promise<number> {
    return this.write('resetting running items', () => {
      return this.statement("UPDATE items SET state = 'pending', updated_at = ? WHERE run_id = ? AND state = 'running'").run(
        timestamp(),
        options.runId,
      ).changes;
    });
  }

  async requeueFailed(options: { runId: string }): Promise<number> {
    return this.write('requeueing failed items', () => {
      return this.statement(
        "UPDATE items SET state = 'pending', error = NULL, config_hash = NULL, dead_lettered_at = NULL, updated_at = ? WHERE run_id = ? AND state = 'failed'",
      ).run(timestamp(), options.runId).changes;
    });
  }

  async pendingCount(options: { runId: string }): Promise<number> {
    return this.read('counting pending items', () => {
      const row = this.statement<{ count: number }>(
        "SELECT count(*) AS count FROM items WHERE run_id = ? AND state = 'pending'",
      ).get(options.runId);
      return row?.count ?? 0;
    });
  }

  async itemErrors(options: { runId: string; state: 'failed' | 'rejected' }): Promise<ItemErrorCount[]> {
    return this.read('counting item errors', () => {
      const rows = this.statement<{ item_id: string; line: number; error: string | null }>(
        'SELECT item_id, line, error FROM items WHERE run_id = ? AND state = ? ORDER BY line',
      ).all(options.runId, options.state);
      const counts = new Map<string, ItemErrorCount>();
      for (const row of rows) {
        const error = parseItemError(row.error);
        const entry = counts.get(error.code);
        if (entry) entry.items += 1;
        else
          counts.set(error.code, {
            code: error.code,
            items: 1,
            example: { itemId: row.item_id, line: row.line, message: error.message },
          });
      }
      return [...counts.values()].sort((a, b) => b.items - a.items || a.example.line - b.example.line);
    });
  }

  async getItem(options: { runId: string; itemId: string }): Promise<ItemRecord | undefined> {
    return this.read('reading an item', () => {
      const row = this.statement<ItemRow>('SELECT * FROM items WHERE run_id = ? AND item_id = ?').get(
        options.runId,
        options.itemId,
      );
      if (row === undefined) return undefined;
      return {
        itemId: row.item_id,
        line: row.line,
        item: JSON.parse(row.input) as DatasetItem,
        state: row.state,
        result: row.result === null ? undefined : (JSON.parse(row.result) as LabelRow),
        error: row.error === null ? undefined : (JSON.parse(row.error) as ItemError),
        attempts: row.attempts,
        configHash: row.config_hash ?? undefined,
        updatedAt: row.updated_at,
      };
    });
  }

  async *iterateDone(options: { runId: string; pageSize?: number }): AsyncGenerator<DoneItem> {
    const pageSize = Math.max(1, options.pageSize ?? 256);
    let after = { line: Number.MIN_SAFE_INTEGER, itemId: '' };
    for (;;) {
      const rows = this.read('reading done items', () =>
        this.statement<Pick<ItemRow, 'item_id' | 'line' | 'result' | 'config_hash' | 'updated_at'>>(
          `SELECT item_id, line, result, config_hash, updated_at FROM items
           WHERE run_id = ? AND state = 'done' AND (line, item_id) > (?, ?)
           ORDER BY line, item_id LIMIT ?`,
        ).all(options.runId, after.line, after.itemId, pageSize),
      );
      for (const row of rows) {
        yield {
          itemId: row.item_id,
          line: row.line,
          result: JSON.parse(row.result ?? 'null') as LabelRow,
          configHash: row.config_hash ?? '',
          updatedAt: row.updated_at,
        };
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < pageSize) return;
      after = { line: last.line, itemId: last.item_id };
    }
  }

  async putRejectedLines(options: { runId: string; lines: readonly RejectedLine[] }): Promise<number> {
    return this.write('storing rejected lines', () => {
      const insert = this.statement(
        'INSERT OR IGNORE INTO rejected_lines (run_id, line, code, field, reason, raw) VALUES (?, ?, ?, ?, ?, ?)',
      );
      let inserted = 0;
      for (const line of options.lines) {
        inserted += insert.run(options.runId, line.line, line.code, line.field ?? null, line.reason, line.raw).changes;
      }
      return inserted;
    });
  }

  async listRejectedLines(options: { runId: string }): Promise<RejectedLine[]> {
    return this.read('listing rejected lines', () =>
      this.statement<{ line: number; code: string; field: string | null; reason: string; raw: string }>(
        'SELECT line, code, field, reason, raw FROM rejected_lines WHERE run_id = ? ORDER BY line',
      )
        .all(options.runId)
        .map((row) => ({
          line: row.line,
          code: row.code,
          reason: row.reason,
          raw: row.raw,
          ...(row.field === null ? {} : { field: row.field }),
        })),
    );
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------------------------------

  async appendEvents(options: AppendEventsOptions): Promise<AppendEventsResult> {
    const snapshots = options.snapshots ?? [];
    if (options.events.length === 0 && snapshots.length === 0) {
      return { inserted: 0, ignored: 0, lastId: await this.latestEventId() };
    }
    const appended = this.write('appending events', () => {
      if (snapshots.length > 0) this.upsertSnapshots(snapshots);
      return options.events.length > 0 ? this.insertEvents(options.events) : undefined;
    });
    return appended ?? { inserted: 0, ignored: 0, lastId: await this.latestEventId() };
  }

  async eventsAfter(options: EventsAfterOptions): Promise<StoredEvent[]> {
    const limit = Math.max(0, Math.floor(options.limit));
    const afterId = options.afterId ?? 0;
    return this.read('reading events', () => {
      let rows: { id: number; payload: string }[];
      if (options.debateId !== undefined) {
        if (options.runId === undefined) {
          throw new TribunalError('INTERNAL', 'eventsAfter: a debateId needs its runId');
        }
        rows = this.statement<{ id: number; payload: string }>(
          `SELECT id, payload FROM events WHERE run_id = ? AND debate_id = ? AND seq > ? AND id > ?
           ORDER BY seq LIMIT ?`,
        ).all(options.runId, options.debateId, options.afterSeq ?? -1, afterId, limit);
      } else if (options.runId !== undefined) {
        rows = this.statement<{ id: number; payload: string }>(
          'SELECT id, payload FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?',
        ).all(options.runId, afterId, limit);
      } else {
        rows = this.statement<{ id: number; payload: string }>(
          'SELECT id, payload FROM events WHERE id > ? ORDER BY id LIMIT ?',
        ).all(afterId, limit);
      }
      return unpackRows({ rows, limit, afterId, afterSeq: options.debateId === undefined ? undefined : options.afterSeq });
    });
  }

  async latestEventId(options: { runId?: string } = {}): Promise<number> {
    return this.read('reading the latest event id', () => {
      const row =
        options.runId === undefined
          ? this.statement<{ id: number | null }>('SELECT max(id) AS id FROM events').get()
          : this.statement<{ id: number | null }>('SELECT max(id) AS id FROM events WHERE run_id = ?').get(options.runId);
      return row?.id ?? 0;
    });
  }

  async listDebates(options: { runId: string }): Promise<DebateRecord[]> {
    return this.read('listing debates', () =>
      this.statement<DebateRow>('SELECT * FROM debates WHERE run_id = ? ORDER BY first_event_id')
        .all(options.runId)
        .map(debateRecord),
    );
  }

  async getDebate(options: { runId: string; debateId: string }): Promise<DebateRecord | undefined> {
    return this.read('reading a debate', () => {
      const row = this.statement<DebateRow>('SELECT * FROM debates WHERE run_id = ? AND debate_id = ?').get(
        options.runId,
        options.debateId,
      );
      return row && debateRecord(row);
    });
  }

  followEvents(options: FollowEventsOptions): AsyncIterable<StoredEvent> {
    return pollEvents({ ...options, log: this });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Turn cache
  // -------------------------------------------------------------------------------------------------------------------

  async getTurn(options: { key: string }): Promise<CachedTurn | undefined> {
    return this.read('reading the turn cache', () => {
      const row = this.statement<{ turn: string }>('SELECT turn FROM turn_cache WHERE key = ?').get(options.key);
      if (row === undefined) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(row.turn);
      } catch {
        return undefined;
      }
      const parsed = CachedTurnSchema.safeParse(value);
      return parsed.success ? parsed.data : undefined;
    });
  }

  async putTurn(options: { key: string; turn: CachedTurn }): Promise<void> {
    await this.putTurns({ turns: [options] });
  }

  async putTurns(options: { turns: ReadonlyArray<{ key: string; turn: CachedTurn }> }): Promise<void> {
    if (options.turns.length === 0) return;
    const rows = options.turns.map(({ key, turn }) => [key, JSON.stringify(turn)] as const);
    this.write('writing the turn cache', () => {
      const insert = this.statement('INSERT OR IGNORE INTO turn_cache (key, turn, created_at) VALUES (?, ?, ?)');
      const now = timestamp();
      for (const [key, turnJson] of rows) insert.run(key, turnJson, now);
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Verdict overrides
  // -------------------------------------------------------------------------------------------------------------------

  async putOverride(override: NewVerdictOverride): Promise<VerdictOverride> {
    if (!OVERRIDE_KINDS.includes(override.kind)) {
      throw new TribunalError(
        'INPUT_INVALID',
        `verdict override kind must be one of ${OVERRIDE_KINDS.join(', ')}, not "${override.kind}"`,
      );
    }
    if (override.itemId === undefined && override.debateId === undefined) {
      throw new TribunalError('INPUT_INVALID', 'a verdict override names an itemId, a debateId, or both');
    }
    return this.write('recording a verdict override', () => {
      const row = this.statement<OverrideRow>(
        `INSERT INTO verdict_overrides (run_id, item_id, debate_id, kind, candidate_id, note, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      ).get(
        override.runId,
        override.itemId ?? null,
        override.debateId ?? null,
        override.kind,
        override.candidateId ?? null,
        override.note ?? null,
        timestamp(),
      );
      if (row === undefined) throw new TribunalError('INTERNAL', 'verdict override insert returned no row');
      return overrideRecord(row);
    });
  }

  async listOverrides(options: { runId: string; itemId?: string; debateId?: string }): Promise<VerdictOverride[]> {
    return this.read('listing verdict overrides', () =>
      this.statement<OverrideRow>(
        `SELECT * FROM verdict_overrides
         WHERE run_id = ? AND (? IS NULL OR item_id = ?) AND (? IS NULL OR debate_id = ?)
         ORDER BY id`,
      )
        .all(options.runId, options.itemId ?? null, options.itemId ?? null, options.debateId ?? null, options.debateId ?? null)
        .map(overrideRecord),
    );
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Checkpoints
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * LangGraph's SqliteSaver on this store's own connection, so checkpoints share the file and its durability. The
   * package (and LangChain core under it) is imported on first use: readers of a store (server, exports) never pay it.
   * On a read-only store it reads checkpoints once a writer has created its tables.
   */
  async checkpointer(): Promise<SqliteSaver> {
    this.throwIfClosed();
    this.saver ??= import('@langchain/langgraph-checkpoint-sqlite').then(({ SqliteSaver }) => new SqliteSaver(this.db));
    return this.saver;
  }

  async deleteCheckpoints(options: { threadId: string }): Promise<void> {
    const saver = await this.checkpointer();
    const exists = this.read('deleting checkpoints', () =>
      this.statement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").get(),
    );
    if (exists === undefined) return; // nothing was ever checkpointed
    this.assertWritable('deleting checkpoints');
    try {
      await saver.deleteThread(options.threadId);
    } catch (error) {
      throw storeFailure({ file: this.location, action: 'deleting checkpoints', cause: error });
    }
  }

  async getDebateSnapshot(options: { debateId: string }): Promise<unknown> {
    return this.read('reading a debate snapshot', () => {
      const row = this.statement<{ snapshot: string }>('SELECT snapshot FROM debate_snapshots WHERE debate_id = ?').get(
        options.debateId,
      );
      return row === undefined ? undefined : (JSON.parse(row.snapshot) as unknown);
    });
  }

  async putDebateSnapshot(options: DebateSnapshotWrite): Promise<void> {
    this.write('saving a debate snapshot', () => this.upsertSnapshots([options]));
  }

  /** Stores snapshots, each replacing its debate's (inside the caller's transaction). */
  private upsertSnapshots(snapshots: readonly DebateSnapshotWrite[]): void {
    const upsert = this.statement(
      `INSERT INTO debate_snapshots (debate_id, run_id, snapshot, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (debate_id) DO UPDATE SET run_id = excluded.run_id, snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
    );
    const now = timestamp();
    for (const { runId, debateId, snapshot } of snapshots) upsert.run(debateId, runId, JSON.stringify(snapshot), now);
  }

  async deleteDebateSnapshot(options: { debateId: string }): Promise<void> {
    this.write('deleting a debate snapshot', () => {
      this.statement('DELETE FROM debate_snapshots WHERE debate_id = ?').run(options.debateId);
    });
  }

  async sweepDebateSnapshots(options: { runId: string }): Promise<number> {
    return this.write('deleting settled debate snapshots', () => {
      return this.statement(
        `DELETE FROM debate_snapshots WHERE run_id = ? AND debate_id IN (
           SELECT debates.debate_id FROM debates
           JOIN items ON items.run_id = debates.run_id AND items.item_id = debates.item_id
           WHERE debates.run_id = ? AND items.state = 'done'
         )`,
      ).run(options.runId, options.runId).changes;
    });
  }

  async pruneSettled(options: { runId: string }): Promise<PruneResult> {
    return this.write('pruning settled debates', () => {
      const settled = `SELECT debates.debate_id FROM debates
           JOIN items ON items.run_id = debates.run_id AND items.item_id = debates.item_id
           WHERE debates.run_id = ? AND items.state = 'done'`;
      const snapshots = this.statement(`DELETE FROM debate_snapshots WHERE run_id = ? AND debate_id IN (${settled})`).run(
        options.runId,
        options.runId,
      ).changes;
      const eventRows = this.statement(
        `DELETE FROM events WHERE run_id = ? AND type = 'turn-delta' AND debate_id IN (${settled})`,
      ).run(options.runId, options.runId).changes;
      // A pruned debate's rows are single events (only turn-delta runs are packed): its count is its rows.
      if (eventRows > 0) {
        this.statement(
          `UPDATE debates SET events = (SELECT count(*) FROM events
             WHERE events.run_id = debates.run_id AND events.debate_id = debates.debate_id)
           WHERE run_id = ? AND debate_id IN (${settled})`,
        ).run(options.runId, options.runId);
      }
      return { snapshots, eventRows };
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Run locks
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * Within this process, one lock per run of this file (a second fails at once); other processes are kept out by
   * the run directory's lock, which every writer of a run directory holds (`lockRunDirectory`).
   */
  async lockRun(options: { runId: string; purpose: string }): Promise<RunLock> {
    this.throwIfClosed();
    // In-memory stores are separate databases: each gets its own scope.
    this.lockScope ??= this.location === ':memory:' ? `:memory:${randomBytes(8).toString('hex')}` : this.location;
    const key = `${this.lockScope}\u0000${options.runId}`;
    const holder = heldRunLocks.get(key);
    if (holder !== undefined) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${this.location}: run ${options.runId} is locked by ${holder} in this process: wait for it to finish`,
        { location: { file: this.location } },
      );
    }
    heldRunLocks.set(key, options.purpose);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        heldRunLocks.delete(key);
      },
    };
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.readonly) this.db.pragma('optimize');
    } catch {
      // optimize is advisory: a busy database must not stop a clean close
    }
    this.db.close();
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * Inserts events (ignoring stored ones) and updates their debates; call inside a transaction. Each debate's events
   * get increasing ids in seq order; a run of one debate's turn-delta events (past its last stored seq) becomes one
   * row, `packTurnDeltas`. Events of different debates keep their batch order except that such a run is written when
   * its debate's next other event arrives, or at the end of the batch.
   */
  private insertEvents(events: readonly DebateEvent[]): AppendEventsResult {
    const insert = this.statement(
      'INSERT OR IGNORE INTO events (run_id, debate_id, seq, type, at, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertPacked = this.statement(
      'INSERT INTO events (id, run_id, debate_id, seq, type, at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const lastSeqOf = this.statement<{ last_seq: number }>('SELECT last_seq FROM debates WHERE run_id = ? AND debate_id = ?');
    const changes = new Map<string, DebateChange & { maxSeq: number; deltas: DebateEvent[] }>();
    let inserted = 0;
    /** The highest event id so far in this transaction (undefined until needed). */
    let lastId: number | undefined;

    const count = (change: DebateChange, event: DebateEvent, id: number) => {
      if (change.events === 0) change.firstId = id;
      change.events += 1;
      change.lastId = id;
      change.lastSeq = Math.max(change.lastSeq, event.seq);
      inserted += 1;
    };
    const writeDeltas = (change: DebateChange & { deltas: DebateEvent[] }) => {
      const run = change.deltas;
      if (run.length === 0) return;
      change.deltas = [];
      const last = run[run.length - 1] as DebateEvent;
      if (run.length === 1) {
        const info = insert.run(last.runId, last.debateId, last.seq, last.type, last.at, JSON.stringify(last));
        if (info.changes === 0) return;
        lastId = Number(info.lastInsertRowid);
        count(change, last, lastId);
        return;
      }
      // The row takes the id of its last event; the ids just below it, reserved here, are its other events'.
      lastId ??= this.highestEventId();
      const firstId = lastId + 1;
      lastId += run.length;
      insertPacked.run(lastId, last.runId, last.debateId, last.seq, last.type, last.at, JSON.stringify(run));
      for (const [index, event] of run.entries()) count(change, event, firstId + index);
    };

    for (const event of events) {
      const key = `${event.runId}\u0000${event.debateId}`;
      let change = changes.get(key);
      if (change === undefined) {
        const stored = lastSeqOf.get(event.runId, event.debateId)?.last_seq ?? -1;
        change = {
          runId: event.runId,
          debateId: event.debateId,
          itemId: null,
          status: null,
          startedAt: null,
          lastSeq: event.seq,
          events: 0,
          firstId: 0,
          lastId: 0,
          maxSeq: stored,
          deltas: [],
        };
        changes.set(key, change);
      }
      if (event.type === 'turn-delta' && event.seq > change.maxSeq) {
        change.deltas.push(event);
        change.maxSeq = event.seq;
        if (change.deltas.length >= MAX_PACKED_EVENTS) writeDeltas(change);
        continue;
      }
      writeDeltas(change);
      // At or below the debate's last stored seq: a replay, unless it is a gap (INSERT OR IGNORE checks single rows).
      if (event.seq <= change.maxSeq && this.packedRowHolds(event)) continue;
      const info = insert.run(event.runId, event.debateId, event.seq, event.type, event.at, JSON.stringify(event));
      if (info.changes === 0) continue;
      lastId = Number(info.lastInsertRowid);
      count(change, event, lastId);
      change.maxSeq = Math.max(change.maxSeq, event.seq);
      if (event.type === 'debate-start') {
        change.status = 'running';
        change.startedAt ??= event.at;
        change.itemId ??= event.itemId ?? null;
      } else if (event.type === 'debate-end') {
        change.status = 'done';
      } else if (event.type === 'debate-error') {
        change.status = 'failed';
      }
    }
    for (const change of changes.values()) writeDeltas(change);

    const upsert = this.statement(
      `INSERT INTO debates (run_id, debate_id, item_id, status, last_seq, events, first_event_id, last_event_id, started_at, updated_at)
       VALUES (@runId, @debateId, @itemId, coalesce(@status, 'running'), @lastSeq, @events, @firstId, @lastId, @startedAt, @updatedAt)
       ON CONFLICT (run_id, debate_id) DO UPDATE SET
         item_id = coalesce(debates.item_id, excluded.item_id),
         status = coalesce(@status, debates.status),
         last_seq = max(debates.last_seq, excluded.last_seq),
         events = debates.events + excluded.events,
         last_event_id = max(debates.last_event_id, excluded.last_event_id),
         started_at = coalesce(debates.started_at, excluded.started_at),
         updated_at = excluded.updated_at`,
    );
    const updatedAt = timestamp();
    for (const change of changes.values()) {
      if (change.events === 0) continue;
      const { maxSeq: _maxSeq, deltas: _deltas, ...row } = change;
      upsert.run({ ...row, updatedAt });
    }
    // The last row inserted in this (single-writer) transaction holds the highest id; otherwise ask.
    const highest = lastId ?? this.statement<{ id: number | null }>('SELECT max(id) AS id FROM events').get()?.id ?? 0;
    return { inserted, ignored: events.length - inserted, lastId: highest };
  }

  /** The highest id the event log has handed out (AUTOINCREMENT's high-water mark, never reused). */
  private highestEventId(): number {
    const row = this.statement<{ id: number | null }>(
      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), coalesce((SELECT max(id) FROM events), 0)) AS id",
    ).get();
    return row?.id ?? 0;
  }

  /** Whether a packed row of the event's debate already holds an event with its seq. */
  private packedRowHolds(event: DebateEvent): boolean {
    const row = this.statement<{ payload: string }>(
      'SELECT payload FROM events WHERE run_id = ? AND debate_id = ? AND seq > ? ORDER BY seq LIMIT 1',
    ).get(event.runId, event.debateId, event.seq);
    if (row === undefined || !isPacked(row.payload)) return false;
    return (JSON.parse(row.payload) as DebateEvent[]).some((packed) => packed.seq === event.seq);
  }

  private runRecord(row: RunRow): RunRecord {
    return {
      id: row.id,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      status: row.status,
      config: JSON.parse(row.config) as RunConfig,
      configHash: row.config_hash,
      totals: this.runTotals(row.id),
    };
  }

  private runTotals(runId: string): RunTotals {
    const totals: RunTotals = {
      items: 0,
      pending: 0,
      running: 0,
      done: 0,
      failed: 0,
      rejected: 0,
      rejectedLines: 0,
      usage: { ...ZERO_USAGE },
    };
    const rows = this.statement<{
      state: ItemState;
      count: number;
      input_tokens: number;
      output_tokens: number;
      calls: number;
      cost_usd: number;
    }>(
      `SELECT state, count(*) AS count, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(calls) AS calls, sum(cost_usd) AS cost_usd
       FROM items WHERE run_id = ? GROUP BY state`,
    ).all(runId);
    for (const row of rows) {
      totals[row.state] = row.count;
      totals.items += row.count;
      if (row.state === 'done') {
        totals.usage = {
          inputTokens: row.input_tokens,
          outputTokens: row.output_tokens,
          calls: row.calls,
          costUsd: row.cost_usd,
        };
      }
    }
    totals.rejectedLines =
      this.statement<{ count: number }>('SELECT count(*) AS count FROM rejected_lines WHERE run_id = ?').get(runId)?.count ?? 0;
    return totals;
  }

  private requireRunRow(runId: string): RunRow {
    const row = this.statement<RunRow>('SELECT * FROM runs WHERE id = ?').get(runId);
    if (row === undefined) throw this.noSuchRun(runId);
    return row;
  }

  private noSuchRun(runId: string): TribunalError {
    return new TribunalError(
      'STORE_FAILED',
      `store ${this.location}: no run "${runId}": call createOrResumeRun first, or list the runs with listRuns()`,
      { location: { file: this.location } },
    );
  }

  /** A prepared statement, compiled once per connection. */
  private statement<Row = unknown>(sql: string): Statement<unknown[], Row> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.statements.set(sql, statement);
    }
    return statement as Statement<unknown[], Row>;
  }

  /** Runs a read, wrapping failures in STORE_FAILED. */
  private read<T>(action: string, work: () => T): T {
    this.throwIfClosed();
    try {
      return work();
    } catch (error) {
      throw storeFailure({ file: this.location, action, cause: error });
    }
  }

  /** Runs a write in one IMMEDIATE transaction (taking the write lock up front, so it waits instead of deadlocking). */
  private write<T>(action: string, work: () => T): T {
    this.assertWritable(action);
    return this.read(action, () => this.db.transaction(work).immediate());
  }

  private assertWritable(action: string): void {
    this.throwIfClosed();
    if (this.readonly) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${this.location}: ${action} needs a writable store, but it was opened read-only`,
        {
          location: { file: this.location },
        },
      );
    }
  }

  private throwIfClosed(): void {
    if (this.closed) {
      throw new TribunalError('STORE_FAILED', `store ${this.location}: used after close()`, {
        location: { file: this.location },
      });
    }
  }
}

function debateRecord(row: DebateRow): DebateRecord {
  return {
    runId: row.run_id,
    debateId: row.debate_id,
    itemId: row.item_id ?? undefined,
    status: row.status,
    lastSeq: row.last_seq,
    events: row.events,
    firstEventId: row.first_event_id,
    lastEventId: row.last_event_id,
    startedAt: row.started_at ?? undefined,
    updatedAt: row.updated_at,
  };
}

function overrideRecord(row: OverrideRow): VerdictOverride {
  return {
    id: row.id,
    runId: row.run_id,
    itemId: row.item_id ?? undefined,
    debateId: row.debate_id ?? undefined,
    kind: row.kind,
    candidateId: row.candidate_id ?? undefined,
    note: row.note ?? undefined,
    createdAt: row.created_at,
  };
}

function timestamp(): string {
  return new Date().toISOString();
}

/** A sortable, readable run id: UTC start time plus random hex, e.g. `20250114-093012-3fa9c1`. */
export function newRunId(): string {
  const iso = new Date().toISOString();
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** A stored item error; a row without one (or an unreadable one) reads as an unknown error. */
export function parseItemError(text: string | null): ItemError {
  if (text === null) return { code: 'UNKNOWN', message: 'no reason recorded' };
  try {
    const parsed = JSON.parse(text) as Partial<ItemError>;
    return { code: String(parsed.code ?? 'UNKNOWN'), message: String(parsed.message ?? 'no reason recorded') };
  } catch {
    return { code: 'UNKNOWN', message: 'no reason recorded' };
  }
}
