import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { describeStoreContract } from './store-contract.js';
import { tempDir } from './store-fixtures.js';

let sharedDir = '';

describeStoreContract({
  name: 'SQLite file',
  open: () => {
    const { dir, remove } = tempDir();
    sharedDir = join(dir, 'run');
    return { store: openStore({ dir: sharedDir }), cleanup: remove };
  },
  share: () => openStore({ dir: sharedDir }),
});

describeStoreContract({
  name: 'SQLite in memory',
  open: () => ({ store: openStore({ file: ':memory:' }), cleanup: () => undefined }),
});
