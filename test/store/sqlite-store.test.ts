import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { describeStoreContract } from './store-contract.js';
import { tempDir } from './store-fixtures.js';

describeStoreContract({
  name: 'SQLite file',
  open: () => {
    const { dir, remove } = tempDir();
    return { store: openStore({ dir: join(dir, 'run') }), cleanup: remove };
  },
});

describeStoreContract({
  name: 'SQLite in memory',
  open: () => ({ store: openStore({ file: ':memory:' }), cleanup: () => undefined }),
});
