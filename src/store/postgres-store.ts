import type { BaseCheckpointSaver } from '@langchain/langgraph';
import pg from 'pg';
import { type DatasetItem, type DebateEvent, type LabelRow, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { type EventWakeupSubscription, wakeupEvents } from './follow-events.js';
import { isPacked, MAX_PACKED_EVENTS, unpackRows } from './packed-events.js';
import type { PostgresCheckpointSaver } from './postgres-checkpoint-saver.js';
import { EVENTS_CHANNEL, notifyPayload, PostgresEventListener } from './postgres-event-listener.js';
import { migratePostgres } from './postgres-schema.js';
import { type RunConfig, RunConfigSchema, runConfigHash } from './run-config.js';
import { DEAD_LETTER_MESSAGE_SQL, newRunId, parseItemError } from './sqlite-store.js';
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
import { postgresFailure } from './store-error.js';

/** Whether a `--store` value names a Postgres database (`postgres://…` or `postgresql://…`). */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/** A store URL with its password replaced by `***`, for messages and `store.location`. */
export function redactStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** Options of `PostgresStore.open`. */
export interface PostgresStoreOptions {
  /** A libpq-style URL, e.g. `postgres://user@host:5432/tribunal` or `postgres:///tribunal?host=/run/postgresql`. */
  url: string;
  /** Read only: refuse writes (a server or an export). */
  readonly?: boolean;
  /** Connections in the pool. Default 8. */
  maxConnections?: number;
}

/** Postgres bigint and numeric come back as strings by default; Tribunal's counts and ids fit in a double. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as typeof pg.types.getTypeParser,
};

/** How often a transaction that lost a deadlock or serialization race is retried before failing. */
const TRANSACTION_RETRIES = 3;

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

/** A debate's state while one batch of its events is appended. */
interface DebateChange {
  runId: string;
  debateId: string;
  /** The stored row, if any. */
  stored: DebateRow | undefined;
  itemId: string | null;
  status: DebateRecord['status'] | null;
  startedAt: string | null;
  lastSeq: number;
  events: number;
  firstId: number;
  lastId: number;
  /** The highest seq stored or added in this batch. */
  maxSeq: number;
  /** Seqs added in this batch (turn-delta runs included). */
  added: Set<number>;
  deltas: DebateEvent[];
}

/** Rows to insert into `events`, column by column (one multi-row INSERT over unnest). */
interface EventColumns {
  ids: number[];
  runIds: string[];
  debateIds: string[];
  seqs: number[];
  types: string[];
  ats: string[];
  payloads: string[];
}

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The Postgres implementation of `Store`, over node-postgres: many processes on many machines may share one
 * database. It mirrors `SqliteStore` call for call (the same contract suite runs against both): every multi-row
 * change is one transaction; event ids are handed out under the `event_ids` row lock, so they grow in commit order
 * and a follower polling `id > last` never skips one; runs of one debate's turn-delta events are packed into one
 * row as in SQLite. Claims use `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for or double-claim an
 * item. The schema is created and migrated on first use (postgres-schema.ts).
 *
 * Connections are opened lazily: `open` never blocks, and a server that cannot be reached fails the first call with
 * `STORE_FAILED` naming the URL (without its password) and what to do.
 */
export class PostgresStore implements Store {
  readonly location: string;
  readonly readonly: boolean;
  private readonly pool: pg.Pool;
  private opening: Promise<void> | undefined;
  private saver: Promise<PostgresCheckpointSaver> | undefined;
  private readonly lockClients = new Set<pg.PoolClient>();
  /** The LISTEN connection that wakes followers, opened by the first `subscribeEvents`/`followEvents`. */
  private readonly listener: PostgresEventListener;
  private closed = false;

  private constructor(options: { pool: pg.Pool; location: string; readonly: boolean; listener: PostgresEventListener }) {
    this.pool = options.pool;
    this.location = options.location;
    this.readonly = options.readonly;
    this.listener = options.listener;
  }

  /**
   * A store over the database at `url`; the schema is created or migrated on the first call.
   * @example
   * const store = PostgresStore.open({ url: 'postgres://tribunal@db.internal/tribunal' });
   * const { run } = await store.createOrResumeRun({ config });
   */
  static open(options: PostgresStoreOptions): PostgresStore {
    const location = redactStoreUrl(options.url);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 8,
      application_name: 'tribunal',
      types: TYPES,
    });
    // A connection that dies (server restart, a terminated backend) must not crash the process: an idle one is
    // dropped by the pool, a checked-out one fails its next query, which reports it as STORE_FAILED.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const listener = new PostgresEventListener({ url: options.url, types: TYPES });
    return new PostgresStore({ pool, location, readonly: options.readonly ?? false, listener });
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
    return this.transaction('creating or resuming a run', async (client) => {
      // Two processes opening the same input and panel at once must find one run, not create two.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `tribunal-run-identity:${config.input.sha256}:${config.panel.id}:${options.runId ?? ''}`,
      ]);
      const now = timestamp();
      const existing =
        options.runId === undefined
          ? await one<RunRow>(
              client,
              'SELECT * FROM runs WHERE input_sha256 = $1 AND panel_id = $2 ORDER BY created_at DESC, created_seq DESC LIMIT 1',
              [config.input.sha256, config.panel.id],
            )
          : await one<RunRow>(client, 'SELECT * FROM runs WHERE id = $1', [options.runId]);
      const recordConfig = (runId: string) =>
        client.query(
          `INSERT INTO run_configs (run_id, config_hash, config, first_used_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING`,
          [runId, configHash, configJson, now],
        );

      if (existing === undefined) {
        const runId = options.runId ?? newRunId();
        await client.query(
          `INSERT INTO runs (id, created_at, updated_at, status, config, config_hash, input_sha256, panel_id)
           VALUES ($1, $2, $2, 'running', $3, $4, $5, $6)`,
          [runId, now, configJson, configHash, config.input.sha256, config.panel.id],
        );
        await recordConfig(runId);
        return { outcome: 'created' as const, run: await this.runRecord(client, await this.requireRunRow(client, runId)) };
      }

      if (existing.input_sha256 !== config.input.sha256 || existing.panel_id !== config.panel.id) {
        throw new TribunalError(
          'CONFIG_INVALID',
          `run ${existing.id} labels another input or panel (input sha256 ${existing.input_sha256.slice(0, 12)}…, panel ${existing.panel_id}) than the one given (${config.input.sha256.slice(0, 12)}…, ${config.panel.id}): omit the run id to start a new run`,
        );
      }
      await client.query("UPDATE runs SET status = 'running', updated_at = $1, config = $2, config_hash = $3 WHERE id = $4", [
        now,
        configJson,
        configHash,
        existing.id,
      ]);
      await recordConfig(existing.id);
      if (existing.config_hash === configHash) {
        return { outcome: 'resumed' as const, run: await this.runRecord(client, await this.requireRunRow(client, existing.id)) };
      }
      const requeued = await client.query(
        `UPDATE items SET state = 'pending', result = NULL, error = NULL, attempts = 0, config_hash = NULL,
           input_tokens = 0, output_tokens = 0, calls = 0, cost_usd = 0, updated_at = $1,
           lease_owner = NULL, lease_expires_at = NULL, dead_lettered_at = NULL
         WHERE run_id = $2 AND state IN ('done', 'failed', 'rejected') AND config_hash IS DISTINCT FROM $3`,
        [now, existing.id, configHash],
      );
      return {
        outcome: 'reconfigured' as const,
        run: await this.runRecord(client, await this.requireRunRow(client, existing.id)),
        previousConfigHash: existing.config_hash,
        requeued: requeued.rowCount ?? 0,
      };
    });
  }

  async getRun(options: { runId: string }): Promise<RunRecord | undefined> {
    return this.read('reading a run', async (client) => {
      const row = await one<RunRow>(client, 'SELECT * FROM runs WHERE id = $1', [options.runId]);
      return row && this.runRecord(client, row);
    });
  }

  async listRuns(): Promise<RunRecord[]> {
    return this.read('listing runs', async (client) => {
      const { rows } = await client.query<RunRow>('SELECT * FROM runs ORDER BY created_at DESC, created_seq DESC');
      const records: RunRecord[] = [];
      for (const row of rows) records.push(await this.runRecord(client, row));
      return records;
    });
  }

  async setRunStatus(options: { runId: string; status: RunStatus }): Promise<void> {
    if (!RUN_STATUSES.includes(options.status)) {
      throw new TribunalError('INTERNAL', `setRunStatus: unknown status "${options.status}"`);
    }
    await this.transaction('setting a run status', async (client) => {
      const { rowCount } = await client.query('UPDATE runs SET status = $1, updated_at = $2 WHERE id = $3', [
        options.status,
        timestamp(),
        options.runId,
      ]);
      if (rowCount === 0) throw this.noSuchRun(options.runId);
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Items
  // -------------------------------------------------------------------------------------------------------------------

  async upsertItems(options: { runId: string; items: readonly NewItem[] }): Promise<UpsertItemsResult> {
    return this.transaction('storing items', async (client) => {
      await this.requireRunRow(client, options.runId);
      if (options.items.length === 0) return { inserted: 0, existing: 0, duplicates: [] };
      const ids = options.items.map(({ item }) => item.id);
      const lines = options.items.map(({ line }) => line);
      const inputs = options.items.map(({ item }) => JSON.stringify(item));
      // Rows are inserted in batch order, so within a batch the first line of an id wins, as in SQLite.
      const { rows: inserted } = await client.query<{ item_id: string; line: number }>(
        `INSERT INTO items (run_id, item_id, line, input, state, updated_at)
         SELECT $1, item_id, line, input, 'pending', $2
         FROM unnest($3::text[], $4::int[], $5::text[]) WITH ORDINALITY AS batch (item_id, line, input, position)
         ORDER BY position
         ON CONFLICT (run_id, item_id) DO NOTHING
         RETURNING item_id, line`,
        [options.runId, timestamp(), ids, lines, inputs],
      );
      const insertedAt = new Map(inserted.map((row) => [row.item_id, row.line]));
      const others = [...new Set(ids.filter((id, index) => insertedAt.get(id) !== lines[index]))];
      const { rows: stored } = await client.query<{ item_id: string; line: number }>(
        'SELECT item_id, line FROM items WHERE run_id = $1 AND item_id = ANY($2::text[])',
        [options.runId, others],
      );
      const firstLines = new Map(stored.map((row) => [row.item_id, row.line]));
      let existing = 0;
      const duplicates: DuplicateItem[] = [];
      const counted = new Set<string>();
      for (const { line, item } of options.items) {
        if (insertedAt.get(item.id) === line && !counted.has(item.id)) {
          counted.add(item.id);
          continue;
        }
        const firstLine = firstLines.get(item.id) ?? line;
        if (firstLine === line) existing += 1;
        else duplicates.push({ itemId: item.id, line, firstLine });
      }
      return { inserted: inserted.length, existing, duplicates };
    });
  }

  async claimPending(options: { runId: string; limit: number }): Promise<ClaimedItem[]> {
    if (options.limit <= 0) return [];
    return this.transaction('claiming items', async (client) => {
      const { rows } = await client.query<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'attempts'>>(
        `WITH picked AS (
           SELECT item_id FROM items WHERE run_id = $2 AND state = 'pending' ORDER BY line LIMIT $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE items SET state = 'running', attempts = attempts + 1, updated_at = $1
         FROM picked WHERE items.run_id = $2 AND items.item_id = picked.item_id
         RETURNING items.item_id, items.line, items.input, items.attempts`,
        [timestamp(), options.runId, Math.floor(options.limit)],
      );
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
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const now = options.now?.toISOString() ?? null;
    return this.transaction('claiming items', async (client) => {
      // Expired claims that used up their attempts are given up; rows another claimer holds are skipped, not awaited.
      const dead = await client.query(
        `WITH expired AS (
           SELECT item_id FROM items
           WHERE run_id = $1 AND state = 'running' AND lease_expires_at < coalesce($2::timestamptz, now()) AND attempts >= $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE items SET state = 'failed', result = NULL,
           error = json_build_object('code', '${DEAD_LETTERED}', 'message', ${DEAD_LETTER_MESSAGE_SQL})::text,
           config_hash = (SELECT config_hash FROM runs WHERE id = items.run_id),
           dead_lettered_at = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
         FROM expired WHERE items.run_id = $1 AND items.item_id = expired.item_id`,
        [options.runId, now, maxAttempts, now ?? timestamp()],
      );
      const { rows } = await client.query<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'attempts'>>(
        `WITH picked AS (
           SELECT item_id FROM items
           WHERE run_id = $1 AND (state = 'pending' OR (state = 'running' AND lease_expires_at < coalesce($2::timestamptz, now())))
           ORDER BY line LIMIT $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE items SET state = 'running', attempts = attempts + 1, lease_owner = $4,
           lease_expires_at = coalesce($2::timestamptz, now()) + $5::double precision * interval '1 millisecond',
           updated_at = $6
         FROM picked WHERE items.run_id = $1 AND items.item_id = picked.item_id
         RETURNING items.item_id, items.line, items.input, items.attempts`,
        [options.runId, now, Math.floor(options.limit), options.owner, Math.max(0, options.leaseMs), timestamp()],
      );
      rows.sort((left, right) => left.line - right.line);
      const items = rows.map((row) => ({
        itemId: row.item_id,
        line: row.line,
        item: JSON.parse(row.input) as DatasetItem,
        attempt: row.attempts,
      }));
      return { items, deadLettered: dead.rowCount ?? 0 };
    });
  }

  async renewLeases(options: RenewLeasesOptions): Promise<number> {
    if (options.items.length === 0) return 0;
    return this.transaction('renewing leases', async (client) => {
      const { rowCount } = await client.query(
        `UPDATE items SET lease_expires_at = coalesce($3::timestamptz, now()) + $4::double precision * interval '1 millisecond'
         FROM unnest($5::text[], $6::int[]) AS claims (item_id, attempt)
         WHERE items.run_id = $1 AND items.item_id = claims.item_id AND items.attempts = claims.attempt
           AND items.state = 'running' AND items.lease_owner = $2`,
        [
          options.runId,
          options.owner,
          options.now?.toISOString() ?? null,
          Math.max(0, options.leaseMs),
          options.items.map((item) => item.itemId),
          options.items.map((item) => item.attempt),
        ],
      );
      return rowCount ?? 0;
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
  }): Promise<boolean> {
    const { usage } = options;
    return this.transaction(options.action, async (client) => {
      if (options.events && options.events.length > 0) await this.insertEvents(client, options.events);
      if (options.snapshots && options.snapshots.length > 0) await upsertSnapshots(client, options.snapshots);
      const { rowCount } = await client.query(
        `UPDATE items SET state = 'done', result = $1, error = NULL,
           config_hash = (SELECT config_hash FROM runs WHERE id = items.run_id),
           input_tokens = $2, output_tokens = $3, calls = $4, cost_usd = $5, updated_at = $6,
           lease_owner = NULL, lease_expires_at = NULL
         WHERE run_id = $7 AND item_id = $8 AND state = 'running' AND ($9::int IS NULL OR attempts = $9::int)
           AND ($10::text IS NULL OR (SELECT config_hash FROM runs WHERE id = items.run_id) = $10::text)`,
        [
          options.resultJson,
          usage.inputTokens,
          usage.outputTokens,
          usage.calls,
          usage.costUsd,
          timestamp(),
          options.runId,
          options.itemId,
          options.attempt ?? null,
          options.configHash ?? null,
        ],
      );
      if (rowCount === 1 && options.debateId !== undefined) {
        await client.query('DELETE FROM debate_snapshots WHERE debate_id = $1', [options.debateId]);
      }
      return rowCount === 1;
    });
  }

  async *iterateGenerated(options: { runId: string; pageSize?: number }): AsyncGenerator<GeneratedItem> {
    const pageSize = Math.max(1, options.pageSize ?? 256);
    let after = { line: -2147483648, itemId: '' };
    for (;;) {
      const rows = await this.read('reading generated items', async (client) => {
        const result = await client.query<Pick<ItemRow, 'item_id' | 'line' | 'input' | 'result'>>(
          `SELECT item_id, line, input, result FROM items
           WHERE run_id = $1 AND state = 'done' AND (line, item_id) > ($2::int, $3::text)
           ORDER BY line, item_id LIMIT $4`,
          [options.runId, after.line, after.itemId, pageSize],
        );
        return result.rows;
      });
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
    return this.transaction('marking an item failed', async (client) => {
      if (options.events && options.events.length > 0) await this.insertEvents(client, options.events);
      if (options.snapshots && options.snapshots.length > 0) await upsertSnapshots(client, options.snapshots);
      const { rowCount } = await client.query(
        `UPDATE items SET state = $1, result = NULL, error = $2,
           config_hash = CASE WHEN $1 = 'pending' THEN NULL ELSE (SELECT config_hash FROM runs WHERE id = items.run_id) END,
           updated_at = $3, lease_owner = NULL, lease_expires_at = NULL
         WHERE run_id = $4 AND item_id = $5 AND state = 'running' AND ($6::int IS NULL OR attempts = $6::int)`,
        [options.state, errorJson, timestamp(), options.runId, options.itemId, options.attempt ?? null],
      );
      return rowCount === 1;
    });
  }

  async resetRunning(options: { runId: string }): Promise<number> {
    return this.transaction('resetting running items', async (client) => {
      const { rowCount } = await client.query(
        `UPDATE items SET state = 'pending', updated_at = $1, lease_owner = NULL, lease_expires_at = NULL
         WHERE run_id = $2 AND state = 'running'`,
        [timestamp(), options.runId],
      );
      return rowCount ?? 0;
    });
  }

  async requeueFailed(options: { runId: string }): Promise<number> {
    return this.transaction('requeueing failed items', async (client) => {
      const { rowCount } = await client.query(
        `UPDATE items SET state = 'pending', error = NULL, config_hash = NULL, dead_lettered_at = NULL, updated_at = $1
         WHERE run_id = $2 AND state = 'failed'`,
        [timestamp(), options.runId],
      );
      return rowCount ?? 0;
    });
  }

  async pendingCount(options: { runId: string }): Promise<number> {
    return this.read('counting pending items', async (client) => {
      const row = await one<{ count: number }>(
        client,
        "SELECT count(*) AS count FROM items WHERE run_id = $1 AND state = 'pending'",
        [options.runId],
      );
      return row?.count ?? 0;
    });
  }

  async itemErrors(options: { runId: string; state: 'failed' | 'rejected' }): Promise<ItemErrorCount[]> {
    return this.read('counting item errors', async (client) => {
      const { rows } = await client.query<{ item_id: string; line: number; error: string | null }>(
        'SELECT item_id, line, error FROM items WHERE run_id = $1 AND state = $2 ORDER BY line',
        [options.runId, options.state],
      );
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
    return this.read('reading an item', async (client) => {
      const row = await one<ItemRow>(client, 'SELECT * FROM items WHERE run_id = $1 AND item_id = $2', [
        options.runId,
        options.itemId,
      ]);
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
    let after = { line: -2147483648, itemId: '' };
    for (;;) {
      const rows = await this.read('reading done items', async (client) => {
        const result = await client.query<Pick<ItemRow, 'item_id' | 'line' | 'result' | 'config_hash' | 'updated_at'>>(
          `SELECT item_id, line, result, config_hash, updated_at FROM items
           WHERE run_id = $1 AND state = 'done' AND (line, item_id) > ($2::int, $3::text)
           ORDER BY line, item_id LIMIT $4`,
          [options.runId, after.line, after.itemId, pageSize],
        );
        return result.rows;
      });
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
    if (options.lines.length === 0) return 0;
    return this.transaction('storing rejected lines', async (client) => {
      const { rowCount } = await client.query(
        `INSERT INTO rejected_lines (run_id, line, code, field, reason, raw)
         SELECT $1, line, code, field, reason, raw
         FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) AS batch (line, code, field, reason, raw)
         ON CONFLICT DO NOTHING`,
        [
          options.runId,
          options.lines.map((line) => line.line),
          options.lines.map((line) => line.code),
          options.lines.map((line) => line.field ?? null),
          options.lines.map((line) => line.reason),
          options.lines.map((line) => line.raw),
        ],
      );
      return rowCount ?? 0;
    });
  }

  async listRejectedLines(options: { runId: string }): Promise<RejectedLine[]> {
    return this.read('listing rejected lines', async (client) => {
      const { rows } = await client.query<{ line: number; code: string; field: string | null; reason: string; raw: string }>(
        'SELECT line, code, field, reason, raw FROM rejected_lines WHERE run_id = $1 ORDER BY line',
        [options.runId],
      );
      return rows.map((row) => ({
        line: row.line,
        code: row.code,
        reason: row.reason,
        raw: row.raw,
        ...(row.field === null ? {} : { field: row.field }),
      }));
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------------------------------

  async appendEvents(options: AppendEventsOptions): Promise<AppendEventsResult> {
    const snapshots = options.snapshots ?? [];
    if (options.events.length === 0 && snapshots.length === 0) {
      return { inserted: 0, ignored: 0, lastId: await this.latestEventId() };
    }
    const appended = await this.transaction('appending events', async (client) => {
      if (snapshots.length > 0) await upsertSnapshots(client, snapshots);
      return options.events.length > 0 ? this.insertEvents(client, options.events) : undefined;
    });
    return appended ?? { inserted: 0, ignored: 0, lastId: await this.latestEventId() };
  }

  async eventsAfter(options: EventsAfterOptions): Promise<StoredEvent[]> {
    const limit = Math.max(0, Math.floor(options.limit));
    const afterId = options.afterId ?? 0;
    if (options.debateId !== undefined && options.runId === undefined) {
      throw new TribunalError('INTERNAL', 'eventsAfter: a debateId needs its runId');
    }
    return this.read('reading events', async (client) => {
      let result: pg.QueryResult<{ id: number; payload: string }>;
      if (options.debateId !== undefined) {
        result = await client.query(
          `SELECT id, payload FROM events WHERE run_id = $1 AND debate_id = $2 AND seq > $3 AND id > $4
           ORDER BY seq LIMIT $5`,
          [options.runId, options.debateId, options.afterSeq ?? -1, afterId, limit],
        );
      } else if (options.runId !== undefined) {
        result = await client.query('SELECT id, payload FROM events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3', [
          options.runId,
          afterId,
          limit,
        ]);
      } else {
        result = await client.query('SELECT id, payload FROM events WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit]);
      }
      return unpackRows({
        rows: result.rows,
        limit,
        afterId,
        afterSeq: options.debateId === undefined ? undefined : options.afterSeq,
      });
    });
  }

  async latestEventId(options: { runId?: string } = {}): Promise<number> {
    return this.read('reading the latest event id', async (client) => {
      const row =
        options.runId === undefined
          ? await one<{ id: number | null }>(client, 'SELECT max(id) AS id FROM events')
          : await one<{ id: number | null }>(client, 'SELECT max(id) AS id FROM events WHERE run_id = $1', [options.runId]);
      return row?.id ?? 0;
    });
  }

  async listDebates(options: { runId: string }): Promise<DebateRecord[]> {
    return this.read('listing debates', async (client) => {
      const { rows } = await client.query<DebateRow>('SELECT * FROM debates WHERE run_id = $1 ORDER BY first_event_id', [
        options.runId,
      ]);
      return rows.map(debateRecord);
    });
  }

  async getDebate(options: { runId: string; debateId: string }): Promise<DebateRecord | undefined> {
    return this.read('reading a debate', async (client) => {
      const row = await one<DebateRow>(client, 'SELECT * FROM debates WHERE run_id = $1 AND debate_id = $2', [
        options.runId,
        options.debateId,
      ]);
      return row && debateRecord(row);
    });
  }

  /**
   * Follows a run's events as any process commits them: every append notifies `tribunal_events` in its transaction,
   * and the follower reads `eventsAfter` when woken (it polls every `pollMs` only while its LISTEN connection is down,
   * and re-reads when it is back), so events arrive once, in id order, without a query per poll.
   */
  followEvents(options: FollowEventsOptions): AsyncIterable<StoredEvent> {
    this.throwIfClosed();
    return wakeupEvents({ ...options, log: this, wakeups: this.listener });
  }

  /**
   * Calls `onWake` after each commit that appends events of `runId` (of any run when omitted), from any process or
   * machine, through one LISTEN connection per store; also after that connection was lost and again once it is back
   * (whatever was committed meanwhile sent no notification). Only a wake-up: read the events with `eventsAfter`.
   */
  subscribeEvents(options: { runId?: string; onWake: () => void }): EventWakeupSubscription {
    this.throwIfClosed();
    return this.listener.subscribeEvents(options);
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Turn cache
  // -------------------------------------------------------------------------------------------------------------------

  async getTurn(options: { key: string }): Promise<CachedTurn | undefined> {
    return this.read('reading the turn cache', async (client) => {
      const row = await one<{ turn: string }>(client, 'SELECT turn FROM turn_cache WHERE key = $1', [options.key]);
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
    const keys = options.turns.map(({ key }) => key);
    const turns = options.turns.map(({ turn }) => JSON.stringify(turn));
    await this.transaction('writing the turn cache', async (client) => {
      await client.query(
        `INSERT INTO turn_cache (key, turn, created_at)
         SELECT key, turn, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS batch (key, turn, position)
         ORDER BY position
         ON CONFLICT (key) DO NOTHING`,
        [keys, turns, timestamp()],
      );
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
    return this.transaction('recording a verdict override', async (client) => {
      const row = await one<OverrideRow>(
        client,
        `INSERT INTO verdict_overrides (run_id, item_id, debate_id, kind, candidate_id, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          override.runId,
          override.itemId ?? null,
          override.debateId ?? null,
          override.kind,
          override.candidateId ?? null,
          override.note ?? null,
          timestamp(),
        ],
      );
      if (row === undefined) throw new TribunalError('INTERNAL', 'verdict override insert returned no row');
      return overrideRecord(row);
    });
  }

  async listOverrides(options: { runId: string; itemId?: string; debateId?: string }): Promise<VerdictOverride[]> {
    return this.read('listing verdict overrides', async (client) => {
      const { rows } = await client.query<OverrideRow>(
        `SELECT * FROM verdict_overrides
         WHERE run_id = $1 AND ($2::text IS NULL OR item_id = $2) AND ($3::text IS NULL OR debate_id = $3)
         ORDER BY id`,
        [options.runId, options.itemId ?? null, options.debateId ?? null],
      );
      return rows.map(overrideRecord);
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Checkpoints
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * LangGraph checkpoints in this database's `langgraph_checkpoints` and `langgraph_writes` tables; LangGraph is
   * imported on first use, so readers of the store (server, exports) never pay for it.
   */
  async checkpointer(): Promise<BaseCheckpointSaver> {
    this.throwIfClosed();
    this.saver ??= import('./postgres-checkpoint-saver.js').then(
      ({ PostgresCheckpointSaver }) =>
        new PostgresCheckpointSaver({
          write: (action, work) => this.transaction(action, work),
          read: (action, work) => this.read(action, work),
        }),
    );
    return this.saver;
  }

  async deleteCheckpoints(options: { threadId: string }): Promise<void> {
    const saver = await this.checkpointer();
    await saver.deleteThread(options.threadId);
  }

  async getDebateSnapshot(options: { debateId: string }): Promise<unknown> {
    return this.read('reading a debate snapshot', async (client) => {
      const row = await one<{ snapshot: string }>(client, 'SELECT snapshot FROM debate_snapshots WHERE debate_id = $1', [
        options.debateId,
      ]);
      return row === undefined ? undefined : (JSON.parse(row.snapshot) as unknown);
    });
  }

  async putDebateSnapshot(options: DebateSnapshotWrite): Promise<void> {
    await this.transaction('saving a debate snapshot', (client) => upsertSnapshots(client, [options]));
  }

  async deleteDebateSnapshot(options: { debateId: string }): Promise<void> {
    await this.transaction('deleting a debate snapshot', async (client) => {
      await client.query('DELETE FROM debate_snapshots WHERE debate_id = $1', [options.debateId]);
    });
  }

  async sweepDebateSnapshots(options: { runId: string }): Promise<number> {
    return this.transaction('deleting settled debate snapshots', async (client) => {
      const { rowCount } = await client.query(
        `DELETE FROM debate_snapshots WHERE run_id = $1 AND debate_id IN (${SETTLED_DEBATES})`,
        [options.runId],
      );
      return rowCount ?? 0;
    });
  }

  async pruneSettled(options: { runId: string }): Promise<PruneResult> {
    return this.transaction('pruning settled debates', async (client) => {
      const snapshots = await client.query(
        `DELETE FROM debate_snapshots WHERE run_id = $1 AND debate_id IN (${SETTLED_DEBATES})`,
        [options.runId],
      );
      const events = await client.query(
        `DELETE FROM events WHERE run_id = $1 AND type = 'turn-delta' AND debate_id IN (${SETTLED_DEBATES})`,
        [options.runId],
      );
      // A pruned debate's rows are single events (only turn-delta runs are packed): its count is its rows.
      if ((events.rowCount ?? 0) > 0) {
        await client.query(
          `UPDATE debates SET events = (SELECT count(*) FROM events
             WHERE events.run_id = debates.run_id AND events.debate_id = debates.debate_id)
           WHERE run_id = $1 AND debate_id IN (${SETTLED_DEBATES})`,
          [options.runId],
        );
      }
      return { snapshots: snapshots.rowCount ?? 0, eventRows: events.rowCount ?? 0 };
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Run locks
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * A session advisory lock on a connection of its own, keyed by the schema and the run id: held until `release`,
   * or until the process or its connection dies (the server drops it with the connection, even on kill -9).
   */
  async lockRun(options: { runId: string; purpose: string }): Promise<RunLock> {
    this.throwIfClosed();
    await this.ready();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw postgresFailure({ location: this.location, action: 'locking a run', cause: error });
    }
    const key = `tribunal-run-lock:${options.runId}`;
    let locked = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended(current_schema() || $1, 0)) AS locked',
        [key],
      );
      locked = rows[0]?.locked === true;
    } catch (error) {
      client.release(true);
      throw postgresFailure({ location: this.location, action: 'locking a run', cause: error });
    }
    if (!locked) {
      client.release();
      throw new TribunalError(
        'STORE_FAILED',
        `store ${this.location}: run ${options.runId} is locked by another session (a label, worker or export process, on this or another machine): wait for it to finish or stop it, then retry (${options.purpose}). The lock dies with its process's connection, so there is nothing to remove by hand`,
      );
    }
    this.lockClients.add(client);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.lockClients.delete(client);
        try {
          await client.query('SELECT pg_advisory_unlock(hashtextextended(current_schema() || $1, 0))', [key]);
          client.release();
        } catch {
          client.release(true); // a broken connection: dropping it drops the lock
        }
      },
    };
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Held run locks go with their connections; unlocking first makes them free the moment close() returns.
    for (const client of this.lockClients) {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      client.release(true);
    }
    this.lockClients.clear();
    await this.listener.close();
    await this.opening?.catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------------------------------

  /**
   * Inserts events (ignoring stored ones) and updates their debates, inside the caller's transaction, as
   * `SqliteStore.insertEvents` does (same packing, same ids rule). Holds the `event_ids` row lock until the
   * transaction ends: appends are serialized, so ids are committed in increasing order.
   */
  private async insertEvents(client: Queryable, events: readonly DebateEvent[]): Promise<AppendEventsResult> {
    const counter = await one<{ last_id: number }>(client, 'SELECT last_id FROM event_ids FOR UPDATE');
    const startId = counter?.last_id ?? 0;
    let lastId = startId;

    const keys = new Map<string, { runId: string; debateId: string }>();
    for (const event of events)
      keys.set(`${event.runId}\u0000${event.debateId}`, { runId: event.runId, debateId: event.debateId });
    const { rows: storedRows } = await client.query<DebateRow>(
      `SELECT debates.* FROM debates
       JOIN unnest($1::text[], $2::text[]) AS batch (run_id, debate_id) USING (run_id, debate_id)`,
      [[...keys.values()].map((key) => key.runId), [...keys.values()].map((key) => key.debateId)],
    );
    const stored = new Map(storedRows.map((row) => [`${row.run_id}\u0000${row.debate_id}`, row]));

    const columns: EventColumns = { ids: [], runIds: [], debateIds: [], seqs: [], types: [], ats: [], payloads: [] };
    const addRow = (id: number, event: DebateEvent, payload: string) => {
      columns.ids.push(id);
      columns.runIds.push(event.runId);
      columns.debateIds.push(event.debateId);
      columns.seqs.push(event.seq);
      columns.types.push(event.type);
      columns.ats.push(event.at);
      columns.payloads.push(payload);
    };
    const changes = new Map<string, DebateChange>();
    let inserted = 0;
    const count = (change: DebateChange, event: DebateEvent, id: number) => {
      if (change.events === 0) change.firstId = id;
      change.events += 1;
      change.lastId = id;
      change.lastSeq = Math.max(change.lastSeq, event.seq);
      change.added.add(event.seq);
      inserted += 1;
    };
    const writeDeltas = (change: DebateChange) => {
      const run = change.deltas;
      if (run.length === 0) return;
      change.deltas = [];
      const last = run[run.length - 1] as DebateEvent;
      if (run.length === 1) {
        lastId += 1;
        addRow(lastId, last, JSON.stringify(last));
        count(change, last, lastId);
        return;
      }
      const firstId = lastId + 1;
      lastId += run.length;
      addRow(lastId, last, JSON.stringify(run));
      for (const [index, event] of run.entries()) count(change, event, firstId + index);
    };

    for (const event of events) {
      const key = `${event.runId}\u0000${event.debateId}`;
      let change = changes.get(key);
      if (change === undefined) {
        const row = stored.get(key);
        change = {
          runId: event.runId,
          debateId: event.debateId,
          stored: row,
          itemId: null,
          status: null,
          startedAt: null,
          lastSeq: event.seq,
          events: 0,
          firstId: 0,
          lastId: 0,
          maxSeq: row?.last_seq ?? -1,
          added: new Set(),
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
      // At or below the debate's highest seq: a replay (stored, or earlier in this batch), unless it fills a gap.
      if (event.seq <= change.maxSeq && (change.added.has(event.seq) || (await storedHolds(client, event)))) continue;
      lastId += 1;
      addRow(lastId, event, JSON.stringify(event));
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

    if (columns.ids.length > 0) {
      await client.query(
        `INSERT INTO events (id, run_id, debate_id, seq, type, at, payload)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[])`,
        [columns.ids, columns.runIds, columns.debateIds, columns.seqs, columns.types, columns.ats, columns.payloads],
      );
      await client.query('UPDATE event_ids SET last_id = $1', [lastId]);
      // Followers on any machine wake at commit (a notification is delivered only if the transaction commits);
      // the payload names the run, never the data, which they read with eventsAfter.
      await client.query(`SELECT pg_notify('${EVENTS_CHANNEL}', payload) FROM unnest($1::text[]) AS runs (payload)`, [
        [...new Set(columns.runIds)].map(notifyPayload),
      ]);
      await this.upsertDebates(
        client,
        [...changes.values()].filter((change) => change.events > 0),
      );
    }
    const highest =
      lastId > startId ? lastId : ((await one<{ id: number | null }>(client, 'SELECT max(id) AS id FROM events'))?.id ?? 0);
    return { inserted, ignored: events.length - inserted, lastId: highest };
  }

  /** Writes the debates rows a batch changed, merged with their stored rows (appends are serialized, see insertEvents). */
  private async upsertDebates(client: Queryable, changes: readonly DebateChange[]): Promise<void> {
    if (changes.length === 0) return;
    const rows = changes.map((change) => {
      const stored = change.stored;
      return {
        runId: change.runId,
        debateId: change.debateId,
        itemId: stored?.item_id ?? change.itemId,
        status: change.status ?? stored?.status ?? 'running',
        lastSeq: Math.max(stored?.last_seq ?? -1, change.lastSeq),
        events: (stored?.events ?? 0) + change.events,
        firstId: stored?.first_event_id ?? change.firstId,
        lastId: Math.max(stored?.last_event_id ?? 0, change.lastId),
        startedAt: stored?.started_at ?? change.startedAt,
      };
    });
    await client.query(
      `INSERT INTO debates (run_id, debate_id, item_id, status, last_seq, events, first_event_id, last_event_id, started_at, updated_at)
       SELECT run_id, debate_id, item_id, status, last_seq, events, first_event_id, last_event_id, started_at, $10
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::bigint[], $8::bigint[], $9::text[])
         AS batch (run_id, debate_id, item_id, status, last_seq, events, first_event_id, last_event_id, started_at)
       ON CONFLICT (run_id, debate_id) DO UPDATE SET
         item_id = excluded.item_id, status = excluded.status, last_seq = excluded.last_seq, events = excluded.events,
         last_event_id = excluded.last_event_id, started_at = excluded.started_at, updated_at = excluded.updated_at`,
      [
        rows.map((row) => row.runId),
        rows.map((row) => row.debateId),
        rows.map((row) => row.itemId),
        rows.map((row) => row.status),
        rows.map((row) => row.lastSeq),
        rows.map((row) => row.events),
        rows.map((row) => row.firstId),
        rows.map((row) => row.lastId),
        rows.map((row) => row.startedAt),
        timestamp(),
      ],
    );
  }

  private async runRecord(client: Queryable, row: RunRow): Promise<RunRecord> {
    return {
      id: row.id,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      status: row.status,
      config: JSON.parse(row.config) as RunConfig,
      configHash: row.config_hash,
      totals: await runTotals(client, row.id),
    };
  }

  private async requireRunRow(client: Queryable, runId: string): Promise<RunRow> {
    const row = await one<RunRow>(client, 'SELECT * FROM runs WHERE id = $1', [runId]);
    if (row === undefined) throw this.noSuchRun(runId);
    return row;
  }

  private noSuchRun(runId: string): TribunalError {
    return new TribunalError(
      'STORE_FAILED',
      `store ${this.location}: no run "${runId}": call createOrResumeRun first, or list the runs with listRuns()`,
    );
  }

  /** Connects and migrates once; every call waits for it. */
  private ready(): Promise<void> {
    this.opening ??= (async () => {
      const client = await this.pool.connect();
      try {
        await migratePostgres({ client, location: this.location, readonly: this.readonly });
      } finally {
        client.release();
      }
    })();
    return this.opening.catch((error: unknown) => {
      throw postgresFailure({ location: this.location, action: this.readonly ? 'opening read-only' : 'opening', cause: error });
    });
  }

  /** Runs reads on one pooled connection, wrapping failures in STORE_FAILED. */
  private async read<T>(action: string, work: (client: Queryable) => Promise<T>): Promise<T> {
    this.throwIfClosed();
    await this.ready();
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      return await work(client);
    } catch (error) {
      throw postgresFailure({ location: this.location, action, cause: error });
    } finally {
      client?.release();
    }
  }

  /** Runs a write in one transaction, retried when it lost a deadlock or serialization race. */
  private async transaction<T>(action: string, work: (client: Queryable) => Promise<T>): Promise<T> {
    this.assertWritable(action);
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient | undefined;
      try {
        client = await this.pool.connect();
        await client.query('BEGIN');
        const value = await work(client);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client?.query('ROLLBACK').catch(() => undefined);
        const code = error instanceof Error && 'code' in error ? error.code : undefined;
        if ((code === '40P01' || code === '40001') && attempt < TRANSACTION_RETRIES) continue;
        throw postgresFailure({ location: this.location, action, cause: error });
      } finally {
        client?.release();
      }
    }
  }

  private assertWritable(action: string): void {
    this.throwIfClosed();
    if (this.readonly) {
      throw new TribunalError(
        'STORE_FAILED',
        `store ${this.location}: ${action} needs a writable store, but it was opened read-only`,
      );
    }
  }

  private throwIfClosed(): void {
    if (this.closed) throw new TribunalError('STORE_FAILED', `store ${this.location}: used after close()`);
  }
}

/** The debates of run $1 whose item is done. */
const SETTLED_DEBATES = `SELECT debates.debate_id FROM debates
  JOIN items ON items.run_id = debates.run_id AND items.item_id = debates.item_id
  WHERE debates.run_id = $1 AND items.state = 'done'`;

/** The first row of a query, or undefined. */
async function one<Row extends pg.QueryResultRow>(
  client: Queryable,
  sql: string,
  params: unknown[] = [],
): Promise<Row | undefined> {
  const { rows } = await client.query<Row>(sql, params);
  return rows[0];
}

/** Whether the event's debate already stores an event with its seq (as a row of its own, or inside a packed row). */
async function storedHolds(client: Queryable, event: DebateEvent): Promise<boolean> {
  const row = await one<{ seq: number; payload: string }>(
    client,
    'SELECT seq, payload FROM events WHERE run_id = $1 AND debate_id = $2 AND seq >= $3 ORDER BY seq LIMIT 1',
    [event.runId, event.debateId, event.seq],
  );
  if (row === undefined) return false;
  if (row.seq === event.seq) return true;
  if (!isPacked(row.payload)) return false;
  return (JSON.parse(row.payload) as DebateEvent[]).some((packed) => packed.seq === event.seq);
}

async function runTotals(client: Queryable, runId: string): Promise<RunTotals> {
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
  const { rows } = await client.query<{
    state: ItemState;
    count: number;
    input_tokens: number;
    output_tokens: number;
    calls: number;
    cost_usd: number;
  }>(
    `SELECT state, count(*) AS count, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(calls) AS calls, sum(cost_usd) AS cost_usd
     FROM items WHERE run_id = $1 GROUP BY state`,
    [runId],
  );
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
    (await one<{ count: number }>(client, 'SELECT count(*) AS count FROM rejected_lines WHERE run_id = $1', [runId]))?.count ?? 0;
  return totals;
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

/** Stores snapshots, each replacing its debate's (one statement, inside the caller's transaction). */
async function upsertSnapshots(client: Queryable, snapshots: readonly DebateSnapshotWrite[]): Promise<void> {
  // One row per debate (the last wins): ON CONFLICT may not touch the same row twice in one statement.
  const latest = new Map<string, DebateSnapshotWrite>();
  for (const write of snapshots) latest.set(write.debateId, write);
  const rows = [...latest.values()];
  await client.query(
    `INSERT INTO debate_snapshots (debate_id, run_id, snapshot, updated_at)
     SELECT debate_id, run_id, snapshot, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS batch (debate_id, run_id, snapshot)
     ON CONFLICT (debate_id) DO UPDATE SET run_id = excluded.run_id, snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
    [rows.map((row) => row.debateId), rows.map((row) => row.runId), rows.map((row) => JSON.stringify(row.snapshot)), timestamp()],
  );
}
