import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { openStore } from '../../src/store/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { REPO_ROOT, tempDir } from '../runner/fixtures.js';
import { newItems, runConfig } from '../store/store-fixtures.js';

/* `tribunal worker`'s errors: each names what is wrong and what to do, exits with its code, and never echoes a password. */
const ENV = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_STORE'];

describe('tribunal worker errors', () => {
  let saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
    for (const name of ENV) delete process.env[name];
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  async function run(args: string[]) {
    const io = captureIo(REPO_ROOT);
    const code = await main(['worker', ...args], io);
    return { code, out: io.out(), err: io.err() };
  }

  it('needs a store, and refuses a path without one (creating nothing)', async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/needs --store: a postgres:\/\/ URL/);
    const dir = tempDir('tribunal-worker-cli-');
    const missing = await run(['--store', path.join(dir, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no store there \(no such file or directory\)/);
    expect(existsSync(path.join(dir, 'nowhere'))).toBe(false);
    mkdirSync(path.join(dir, 'empty'));
    const empty = await run(['--store', path.join(dir, 'empty')]);
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/the directory has no tribunal\.sqlite/);
    const scheme = await run(['--store', 'mysql://user:hunter2@localhost/db']);
    expect(scheme.code).toBe(2);
    expect(scheme.err).toMatch(/postgres:\/\/ or postgresql:\/\//);
    expect(scheme.err).not.toContain('hunter2');
  });

  it('names an unknown run, and exits 0 when no run has work', async () => {
    const dir = tempDir('tribunal-worker-cli-');
    const store = openStore({ dir });
    await store.createOrResumeRun({ config: runConfig() });
    await store.close();
    const unknown = await run(['--store', dir, '--run', 'r-nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/holds no run "r-nope"/);
    const idle = await run(['--store', dir]);
    expect(idle.code, idle.err).toBe(0);
  });

  it('refuses a run that does not record its panel (started by an older tribunal), saying what to do', async () => {
    const dir = tempDir('tribunal-worker-cli-');
    const store = openStore({ dir });
    const { run: created } = await store.createOrResumeRun({ config: runConfig() });
    await store.upsertItems({ runId: created.id, items: newItems(2) });
    await store.close();
    const result = await run(['--store', dir, '--run', created.id]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/does not record its panel .* --no-work/);
  });

  it('label refuses --processes with a budget (budgets are per process) and with --no-work', async () => {
    const dir = tempDir('tribunal-worker-cli-');
    const input = path.join(dir, 'in.jsonl');
    const label = async (args: string[]) => {
      const io = captureIo(REPO_ROOT);
      const code = await main(['label', input, '--out', path.join(dir, 'out'), ...args], io);
      return { code, err: io.err() };
    };
    const capped = await label(['--processes', '2', '--max-calls', '10']);
    expect(capped.code).toBe(2);
    expect(capped.err).toMatch(/--processes cannot be combined with --max-cost or --max-calls/);
    const queued = await label(['--processes', '2', '--no-work']);
    expect(queued.code).toBe(2);
    expect(queued.err).toMatch(/--no-work only queues the items/);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  it('an unreachable Postgres fails with the store error and without the password', async () => {
    // Port 1 on loopback: nothing listens there, and nothing leaves the machine.
    const result = await run(['--store', 'postgres://tribunal:s3cret-pw@127.0.0.1:1/runs?connect_timeout=2']);
    expect(result.code).toBe(70);
    expect(result.err).toMatch(/127\.0\.0\.1/);
    expect(result.err).not.toContain('s3cret-pw');
  });
});
