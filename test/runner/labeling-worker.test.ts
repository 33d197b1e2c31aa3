import { afterEach, describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import type { ModelRegistry } from '../../src/models/index.js';
import { LabelingBudget, LabelingWorker, type LabelingWorkerOptions, runLabeling, workerSpecOf } from '../../src/runner/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { fakeModels, nativeItem, tempDir, withRounds, writeInput } from './fixtures.js';

/*
 * Leases between workers of one run: a worker that stops heart-beating loses its items once the lease is over and
 * another takes them; the stale worker's late settle changes nothing; a worker that keeps heart-beating keeps its
 * items however long its debates take. Short leases, and no assertion on how fast anything is.
 */
const ZERO = { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };

let stores: Store[] = [];
let registries: ModelRegistry[] = [];
afterEach(async () => {
  for (const store of stores) await store.close();
  for (const registry of registries) await registry.close();
  stores = [];
  registries = [];
});

/** A run of `items` items queued in a SQLite store (`label --no-work`), and what a worker needs to join it. */
async function queuedRun(items: number) {
  const dir = tempDir('tribunal-worker-');
  const input = writeInput(
    dir,
    Array.from({ length: items }, (_, index) => nativeItem(index + 1, 3)),
  );
  const panel = withRounds(await loadPanel(), 1);
  const store = openStore({ dir });
  stores.push(store);
  const models = fakeModels();
  registries.push(models);
  const queued = await runLabeling({
    input,
    outDir: dir,
    store,
    panel,
    models,
    defaultModel: 'fake:judge',
    concurrency: 2,
    work: false,
  });
  expect(queued.status).toBe('queued');
  const run = await store.getRun({ runId: queued.runId });
  if (run === undefined) throw new Error('no run');
  const worker = (overrides: Partial<LabelingWorkerOptions>) =>
    new LabelingWorker({
      store,
      runId: run.id,
      configHash: run.configHash,
      panel,
      models,
      defaultModel: 'fake:judge',
      concurrency: 2,
      ...overrides,
    });
  return { store, run, panel, worker, input, dir, models };
}

describe('LabelingWorker leases', () => {
  it('a worker that stops heart-beating loses its items after the lease; another takes them; its late settle is refused', async () => {
    const { store, run, worker } = await queuedRun(4);
    const stalled = worker({ owner: 'stalled', leaseMs: 300 });
    // Claims two items and then hangs: no heartbeat, no settle.
    const claimed = await stalled.claim(2);
    expect(claimed.map((item) => item.attempt)).toEqual([1, 1]);

    const taker = worker({ owner: 'taker', leaseMs: 300, pollMs: 20 });
    const outcome = await taker.run();
    // The taker labeled the two free items, waited out the stalled worker's leases and labeled its two as well.
    expect(outcome.counts.done).toBe(4);
    const totals = (await store.getRun({ runId: run.id }))?.totals;
    expect(totals).toMatchObject({ done: 4, pending: 0, running: 0 });
    const first = claimed[0];
    if (first === undefined) throw new Error('nothing claimed');
    const before = await store.getItem({ runId: run.id, itemId: first.itemId });
    expect(before?.attempts).toBe(2);

    // The stalled worker wakes up, finishes its debate and settles: the newer claim's label stands.
    const spend = new LabelingBudget({ prior: ZERO }).start();
    await stalled.settle(first, await stalled.debate(first, spend));
    const after = await store.getItem({ runId: run.id, itemId: first.itemId });
    expect(after).toEqual(before);
    let done = 0;
    for await (const _item of store.iterateDone({ runId: run.id })) done += 1;
    expect(done).toBe(4);
  });

  it('a worker that keeps heart-beating keeps its items past the lease', async () => {
    const { worker } = await queuedRun(3);
    const holder = worker({ owner: 'holder', leaseMs: 1500 });
    const held = await holder.claim(3);
    expect(held).toHaveLength(3);
    const other = worker({ owner: 'other', leaseMs: 1500 });
    // Three lease periods' worth of heartbeats: the other worker never gets an item.
    for (let beat = 0; beat < 9; beat++) {
      expect(await holder.heartbeat()).toBe(3);
      expect(await other.claim(3)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  it('a worker whose claim is lost (a coordinator put the item back) cancels that debate at its next heartbeat', async () => {
    const { store, run, worker } = await queuedRun(2);
    // Slow turns, so the debates are still running when the claims go.
    const slow = worker({ owner: 'slow', leaseMs: 600, defaultModel: 'fake:judge?latencyMs=1500', pollMs: 20 });
    const running = slow.run();
    for (let tries = 0; tries < 500; tries++) {
      if ((await store.getRun({ runId: run.id }))?.totals.running === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await store.resetRunning({ runId: run.id })).toBe(2);
    const outcome = await running;
    // Both debates were cancelled rather than finished for nothing; the worker then claimed the items again.
    expect(outcome.counts.aborted).toBe(2);
    expect(outcome.counts.done).toBe(2);
    expect((await store.getRun({ runId: run.id }))?.totals).toMatchObject({ done: 2, pending: 0, running: 0 });
  });

  it('claims in batches, one item per slot waiting, and labels every item once', async () => {
    const { store, run, worker } = await queuedRun(12);
    const limits: number[] = [];
    // The same store, recording what each claim asked for.
    const recording = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'claimItems') {
          return (options: Parameters<Store['claimItems']>[0]) => {
            limits.push(options.limit);
            return target.claimItems(options);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const outcome = await worker({ store: recording, concurrency: 4 }).run();
    expect(outcome.counts.done).toBe(12);
    expect(Math.max(...limits)).toBeGreaterThan(1);
    expect(Math.max(...limits)).toBeLessThanOrEqual(4);
    expect(limits.length).toBeLessThan(12 + 1);
    expect((await store.getRun({ runId: run.id }))?.totals).toMatchObject({ done: 12, pending: 0, running: 0 });
  });

  it('a worker on a config the run no longer has stops with a clear error, labeling nothing', async () => {
    const { store, run, worker, input, dir, panel, models } = await queuedRun(2);
    const old = worker({ owner: 'old' });
    const changed = await runLabeling({
      input,
      outDir: dir,
      store,
      panel: withRounds(panel, 2),
      models,
      defaultModel: 'fake:judge',
      concurrency: 2,
      work: false,
    });
    expect(changed.opening).toBe('reconfigured');
    await expect(old.run()).rejects.toThrow(/was reconfigured .* start the worker again/);
    expect((await store.getRun({ runId: run.id }))?.totals).toMatchObject({ done: 0, pending: 2 });
  });

  it('a run stores the resolved panel for workers, hashed as before', async () => {
    const { run, panel } = await queuedRun(1);
    const { spec, panel: stored } = workerSpecOf(run);
    expect(stored.hash).toBe(panel.hash);
    expect(stored.critics.map((critic) => critic.id)).toEqual(panel.critics.map((critic) => critic.id));
    expect(stored.panel.maxRounds).toBe(1);
    expect(spec.defaultModel).toBe('fake:judge');
    const { runtime: _runtime, ...withoutRuntime } = run.config;
    expect(() => workerSpecOf({ ...run, config: withoutRuntime })).toThrow(/does not record its panel/);
    expect(() =>
      workerSpecOf({
        ...run,
        config: { ...run.config, runtime: { worker: { ...spec, panel: { ...spec.panel, hash: 'other' } } } },
      }),
    ).toThrow(/not the one its config was hashed with/);
    expect(() => workerSpecOf({ ...run, config: { ...run.config, runtime: { worker: { version: 1, panel: 'x' } } } })).toThrow(
      /stored panel is invalid/,
    );
  });
});
