import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TribunalError } from '../../src/contracts/index.js';
import { openStore, SCHEMA_VERSION, STORE_FILE_NAME, type Store } from '../../src/store/index.js';
import { debateEvents, labelRow, newItems, runConfig, tempDir } from './store-fixtures.js';

/** Runs `work` and returns the TribunalError it throws or rejects with. */
async function storeError(work: () => unknown): Promise<TribunalError> {
  try {
    await work();
  } catch (error) {
    expect(error).toBeInstanceOf(TribunalError);
    return error as TribunalError;
  }
  throw new Error('expected a TribunalError');
}

describe('SQLite store files', () => {
  let dir: string;
  let remove: () => void;
  const opened: Store[] = [];

  function open(options: { readonly?: boolean; busyTimeoutMs?: number } = {}): Store {
    const store = openStore({ dir, ...options });
    opened.push(store);
    return store;
  }

  beforeEach(() => {
    ({ dir, remove } = tempDir());
    dir = join(dir, 'out');
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    remove();
  });

  it('creates DIR/tribunal.sqlite in WAL mode with synchronous=NORMAL, foreign keys and the schema version', async () => {
    const store = open();
    const file = join(dir, STORE_FILE_NAME);
    expect(store.location).toBe(file);
    expect(existsSync(file)).toBe(true);
    await store.close();
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(raw.pragma('application_id', { simple: true })).toBe(0x54524942);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
    }
    // Connection settings are per connection: check them on the live store's, which the checkpointer shares.
    const live = open();
    const connection = ((await live.checkpointer()) as SqliteSaver).db;
    expect(connection.name).toBe(file);
    expect(connection.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(connection.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(connection.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
  });

  it('keeps everything across close and reopen, and migrates only once', async () => {
    const first = open();
    const { run } = await first.createOrResumeRun({ config: runConfig() });
    await first.upsertItems({ runId: run.id, items: newItems(3) });
    await first.claimPending({ runId: run.id, limit: 1 });
    await first.markDone({
      runId: run.id,
      itemId: 'item-1',
      result: labelRow('item-1'),
      events: debateEvents({ runId: run.id, debateId: 'd1' }),
    });
    await first.putTurn({ key: 'k', turn: { model: 'm', usage: { inputTokens: 1, outputTokens: 1, calls: 1, costUsd: 0 } } });
    await first.close();

    const second = open();
    const resumed = await second.createOrResumeRun({ config: runConfig() });
    expect(resumed).toMatchObject({ outcome: 'resumed', run: { id: run.id, totals: { done: 1, pending: 2 } } });
    expect(await second.eventsAfter({ runId: run.id, limit: 100 })).toHaveLength(5);
    expect(await second.getTurn({ key: 'k' })).toMatchObject({ model: 'm' });
  });

  it('stores a run of turn-delta events of one debate as one row, with ids reserved for each event', async () => {
    const store = open();
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    const events = debateEvents({ runId: run.id, debateId: 'd1', deltas: 16 });
    const appended = await store.appendEvents({ events });
    expect(appended).toMatchObject({ inserted: 18, ignored: 0 });
    const raw = new Database(join(dir, STORE_FILE_NAME), { readonly: true });
    try {
      const rows = raw.prepare('SELECT id, seq, type FROM events ORDER BY id').all();
      // debate-start (id 1), the 16 deltas (ids 2..17, one row under the last one's id and seq), debate-end (id 18).
      expect(rows).toEqual([
        { id: 1, seq: 0, type: 'debate-start' },
        { id: 17, seq: 16, type: 'turn-delta' },
        { id: 18, seq: 17, type: 'debate-end' },
      ]);
    } finally {
      raw.close();
    }
    const stored = await store.eventsAfter({ runId: run.id, limit: 100 });
    expect(stored.map((entry) => entry.id)).toEqual(Array.from({ length: 18 }, (_, index) => index + 1));
    expect(appended.lastId).toBe(18);
    // The next append continues after the reserved ids.
    const more = debateEvents({ runId: run.id, debateId: 'd2', deltas: 1 });
    expect((await store.appendEvents({ events: more })).lastId).toBe(21);
  });

  it('reads a version-1 store read-only (it holds no packed rows), without migrating it', async () => {
    const store = open();
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    await store.close();
    const raw = new Database(join(dir, STORE_FILE_NAME));
    raw.pragma('user_version = 1');
    raw.close();
    const reader = open({ readonly: true });
    expect((await reader.getRun({ runId: run.id }))?.id).toBe(run.id);
  });

  it('opens read-only next to a writer, reads, and refuses writes', async () => {
    const writer = open();
    const { run } = await writer.createOrResumeRun({ config: runConfig() });
    await writer.appendEvents({ events: debateEvents({ runId: run.id, debateId: 'd1' }) });
    const reader = open({ readonly: true });
    expect(reader.readonly).toBe(true);
    expect((await reader.listRuns()).map((entry) => entry.id)).toEqual([run.id]);
    expect(await reader.latestEventId()).toBe(await writer.latestEventId());
    const error = await storeError(() => reader.upsertItems({ runId: run.id, items: newItems(1) }));
    expect(error.code).toBe('STORE_FAILED');
    expect(error.message).toMatch(/read-only/);
  });

  it('refuses to open a missing store read-only', async () => {
    const error = await storeError(() => open({ readonly: true }));
    expect(error.code).toBe('STORE_FAILED');
    expect(error.message).toContain(join(dir, STORE_FILE_NAME));
  });

  it('follows events that another connection writes', async () => {
    const writer = open();
    const { run } = await writer.createOrResumeRun({ config: runConfig() });
    const reader = open({ readonly: true });
    const controller = new AbortController();
    const followed = reader.followEvents({
      runId: run.id,
      afterId: await reader.latestEventId(),
      signal: controller.signal,
      pollMs: 5,
    });
    const iterator = followed[Symbol.asyncIterator]();
    const first = iterator.next(); // polls an empty log until the writer commits
    const events = [
      ...debateEvents({ runId: run.id, debateId: 'd1', deltas: 2 }),
      ...debateEvents({ runId: run.id, debateId: 'd2', deltas: 2 }),
    ];
    await writer.appendEvents({ events: events.slice(0, 3) });
    await writer.appendEvents({ events: events.slice(3) });
    const seen = [(await first).value];
    while (seen.length < events.length) seen.push((await iterator.next()).value);
    expect(seen.map((entry) => entry.event)).toEqual(events);
    controller.abort();
    expect(await iterator.next()).toMatchObject({ done: true });
  });

  it('treats an unreadable turn-cache entry as a miss', async () => {
    const store = open();
    await store.close();
    const raw = new Database(join(dir, STORE_FILE_NAME));
    raw
      .prepare("INSERT INTO turn_cache (key, turn, created_at) VALUES ('bad-json', '{', ''), ('bad-shape', '{\"model\":1}', '')")
      .run();
    raw.close();
    const reopened = open();
    expect(await reopened.getTurn({ key: 'bad-json' })).toBeUndefined();
    expect(await reopened.getTurn({ key: 'bad-shape' })).toBeUndefined();
  });

  it('keeps LangGraph checkpoints across reopen on the same file', async () => {
    const State = Annotation.Root({
      log: Annotation<string[]>({ reducer: (left, right) => [...left, ...right], default: () => [] }),
    });
    const build = async (store: Store) =>
      new StateGraph(State)
        .addNode('assess', () => ({ log: ['assessed'] }))
        .addNode('debate', () => ({ log: ['debated'] }))
        .addEdge(START, 'assess')
        .addEdge('assess', 'debate')
        .addEdge('debate', END)
        .compile({ checkpointer: await store.checkpointer() });
    const config = { configurable: { thread_id: 'run/item-7' } };

    const first = open();
    await (await build(first)).invoke({ log: ['start'] }, config);
    await first.close();

    const second = open();
    const graph = await build(second);
    const state = await graph.getState(config);
    expect(state.values).toEqual({ log: ['start', 'assessed', 'debated'] });
    const history = [];
    for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
    expect(history.length).toBeGreaterThan(1);
    await second.deleteCheckpoints({ threadId: 'run/item-7' });
    expect((await graph.getState(config)).values).toEqual({});
  });

  describe('failures become STORE_FAILED with the file and what to do', () => {
    it('a corrupt file', async () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, STORE_FILE_NAME),
        'this is not a database, just text that is long enough to look like one '.repeat(20),
      );
      const error = await storeError(() => open());
      expect(error.code).toBe('STORE_FAILED');
      expect(error.message).toContain(join(dir, STORE_FILE_NAME));
      expect(error.message).toMatch(/SQLITE_NOTADB/);
      expect(error.message).toMatch(/move the file aside/);
      expect(error.location?.file).toBe(join(dir, STORE_FILE_NAME));
    });

    it('another application’s SQLite file', async () => {
      mkdirSync(dir, { recursive: true });
      const raw = new Database(join(dir, STORE_FILE_NAME));
      raw.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY)');
      raw.close();
      const error = await storeError(() => open());
      expect(error.message).toMatch(/not a Tribunal store/);
    });

    it('a store written by a newer Tribunal', async () => {
      await open().close();
      const raw = new Database(join(dir, STORE_FILE_NAME));
      raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      const error = await storeError(() => openStore({ dir }));
      expect(error.message).toMatch(/newer than this Tribunal/);
    });

    it('a directory that cannot be created', async () => {
      mkdirSync(join(dir, '..'), { recursive: true });
      writeFileSync(dir, 'a file where the directory should be');
      const error = await storeError(() => open());
      expect(error.code).toBe('STORE_FAILED');
      expect(error.message).toMatch(/ENOTDIR|EEXIST/);
    });

    it.skipIf(process.getuid?.() === 0)('a read-only directory', async () => {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o555);
      try {
        const error = await storeError(() => open());
        expect(error.message).toMatch(/SQLITE_CANTOPEN|SQLITE_READONLY/);
      } finally {
        chmodSync(dir, 0o755);
      }
    });

    it('a database locked by another writer past the busy timeout', async () => {
      const store = open({ busyTimeoutMs: 1 });
      const { run } = await store.createOrResumeRun({ config: runConfig() });
      const other = new Database(join(dir, STORE_FILE_NAME));
      other.exec('BEGIN IMMEDIATE');
      try {
        const error = await storeError(() => store.upsertItems({ runId: run.id, items: newItems(1) }));
        expect(error.code).toBe('STORE_FAILED');
        expect(error.message).toMatch(/SQLITE_BUSY/);
        expect(error.message).toMatch(/another `tribunal label`/);
        expect(await store.pendingCount({ runId: run.id })).toBe(0); // reads still work under WAL
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect(await store.upsertItems({ runId: run.id, items: newItems(1) })).toMatchObject({ inserted: 1 });
    });
  });
});
