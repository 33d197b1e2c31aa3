import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { PostgresStore } from '../../src/store/index.js';
import { type PostgresCluster, postgresUnavailable, startPostgresCluster } from './postgres-cluster.js';
import { describeStoreContract } from './store-contract.js';

/*
 * The Store contract against Postgres: one throwaway cluster for this file, one database in it, and a fresh schema
 * (search_path) per test, so every test starts from an empty, freshly migrated store.
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== undefined)(`Postgres store${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let cluster: PostgresCluster;
  let databaseUrl: string;
  let schemas = 0;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    databaseUrl = await cluster.createDatabase('contract');
  });

  afterAll(() => cluster?.stop());

  describeStoreContract({
    name: 'Postgres',
    open: async () => {
      schemas += 1;
      const schema = `test_${schemas}`;
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.end();
      const url = cluster.url('contract', { schema });
      return { store: PostgresStore.open({ url }), cleanup: () => undefined };
    },
  });
});
