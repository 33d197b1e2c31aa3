import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, POSTGRES_SCHEMA_VERSION, PostgresStore } from '../../src/store/index.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';
import { describeStoreContract } from './store-contract.js';
import { runConfig } from './store-fixtures.js';

/*
 * The Store contract against Postgres: one throwaway cluster for this file, one database in it, and a fresh schema
 * (search_path) per test, so every test starts from an empty, freshly migrated store.
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== undefined)(`Postgres store${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let cluster: PostgresCluster;
  let databaseUrl: string;
  let schemas = 0;
  let sharedUrl = '';

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    databaseUrl = await cluster.createDatabase('contract');
  });

  afterAll(() => cluster?.stop());

  /** A fresh schema in the test database and the URL of a store in it. */
  async function freshSchema(): Promise<string> {
    schemas += 1;
    const schema = `test_${schemas}`;
    await sql(`CREATE SCHEMA ${schema}`);
    return cluster.url('contract', { schema });
  }

  async function sql(text: string, url = databaseUrl): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  describeStoreContract({
    name: 'Postgres',
    open: async () => {
      sharedUrl = await freshSchema();
      return { store: PostgresStore.open({ url: sharedUrl }), cleanup: () => undefined };
    },
    share: () => PostgresStore.open({ url: sharedUrl }),
  });

  describe('Postgres specifics', () => {
    it('records each migration in the version table, once, and refuses a newer schema', async () => {
      const url = await freshSchema();
      const [first, second] = [PostgresStore.open({ url }), PostgresStore.open({ url })];
      await Promise.all([first.listRuns(), second.listRuns()]); // both migrate at once: one wins, the other waits
      await Promise.all([first.close(), second.close()]);
      const versions = await sql('SELECT version FROM tribunal_schema_version ORDER BY version', url);
      expect(versions.rows.map((row) => row.version)).toEqual(
        Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, index) => index + 1),
      );

      await sql(
        `INSERT INTO tribunal_schema_version (version, applied_at) VALUES (${POSTGRES_SCHEMA_VERSION + 1}, 'later')`,
        url,
      );
      const newer = PostgresStore.open({ url });
      await expect(newer.listRuns()).rejects.toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringMatching(/newer than this Tribunal understands.*upgrade Tribunal/),
      });
      await newer.close();
    });

    it('opens through openStore with a postgres:// URL, and refuses other URLs', async () => {
      const url = await freshSchema();
      const store = openStore({ dir: '/nonexistent/never-created', url });
      expect(store).toBeInstanceOf(PostgresStore);
      const { run } = await store.createOrResumeRun({ config: runConfig() });
      await store.close();

      const reader = openStore({ dir: '/nonexistent/never-created', url, readonly: true });
      expect((await reader.getRun({ runId: run.id }))?.id).toBe(run.id);
      await expect(reader.setRunStatus({ runId: run.id, status: 'done' })).rejects.toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringContaining('read-only'),
      });
      await reader.close();
      expect(() => openStore({ dir: '.', url: 'mysql://user:secret@host/db' })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.not.stringContaining('secret') }),
      );
    });

    it('fails with the URL (never its password) and what to do when the server cannot be reached', async () => {
      const store = PostgresStore.open({ url: 'postgres://tribunal:hunter2@127.0.0.1:1/tribunal?connect_timeout=5' });
      const failure = await store.listRuns().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'STORE_FAILED', message: expect.stringContaining('is the Postgres server running') });
      expect(String((failure as Error).message)).not.toContain('hunter2');
      expect(store.location).toContain('***');
      await store.close();
    });

    it('locks a run across processes, and the lock dies with its connection', async () => {
      const url = await freshSchema();
      const [one, two] = [PostgresStore.open({ url }), PostgresStore.open({ url })];
      const { run } = await one.createOrResumeRun({ config: runConfig() });
      await one.lockRun({ runId: run.id, purpose: 'label' });
      await expect(two.lockRun({ runId: run.id, purpose: 'label' })).rejects.toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringContaining('locked by another session'),
      });
      // Another schema (another store in the same database) has its own locks.
      const elsewhere = PostgresStore.open({ url: await freshSchema() });
      await (await elsewhere.lockRun({ runId: run.id, purpose: 'label' })).release();
      await elsewhere.close();
      // The holder's connection dies without unlocking (its process was killed): the server drops the lock with it.
      await sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
      let lock: Awaited<ReturnType<typeof two.lockRun>> | undefined;
      for (let tries = 0; lock === undefined; tries++) {
        lock = await two.lockRun({ runId: run.id, purpose: 'label' }).catch((error: unknown) => {
          if (tries >= 100) throw error;
          return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50));
        });
      }
      await lock.release();
      // A clean close() frees the lock at once.
      const held = await two.lockRun({ runId: run.id, purpose: 'label' });
      expect(held).toBeDefined();
      await two.close();
      const three = PostgresStore.open({ url });
      await (await three.lockRun({ runId: run.id, purpose: 'label' })).release();
      await Promise.all([one.close(), three.close()]);
    });
  });
});
