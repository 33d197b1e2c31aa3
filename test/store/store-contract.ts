import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DebateEvent, TribunalError } from '../../src/contracts/index.js';
import { type ClaimedItem, EventWriter, type Store } from '../../src/store/index.js';
import { datasetItem, debateEvents, labelRow, newItems, runConfig, take } from './store-fixtures.js';

/** A fresh, empty store and what removes it. */
export interface StoreUnderTest {
  store: Store;
  cleanup: () => void | Promise<void>;
}

/** How a contract suite gets a fresh store of one implementation. */
export interface StoreFactory {
  name: string;
  open: () => StoreUnderTest | Promise<StoreUnderTest>;
  /**
   * Another store over the same data as the last one `open` returned, as another process would open it; omit for
   * backends that cannot share (an in-memory database): then the concurrency cases are skipped.
   */
  share?: () => Store;
}

/** The behaviour every `Store` implementation must show; run it once per implementation. */
export function describeStoreContract(factory: StoreFactory): void {
  describe(`Store contract: ${factory.name}`, () => {
    let store: Store;
    let cleanup: () => void | Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory.open());
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    async function newRun(): Promise<string> {
      const { run } = await store.createOrResumeRun({ config: runConfig() });
      return run.id;
    }

    describe('runs', () => {
      it('creates a run, then resumes it for the same input and panel', async () => {
        const first = await store.createOrResumeRun({ config: runConfig() });
        expect(first.outcome).toBe('created');
        expect(first.run.status).toBe('running');
        await store.setRunStatus({ runId: first.run.id, status: 'stopped' });

        const second = await store.createOrResumeRun({ config: runConfig() });
        expect(second.outcome).toBe('resumed');
        expect(second.run.id).toBe(first.run.id);
        expect(second.run.status).toBe('running');
      });

      it('ignores the input path and runtime options when comparing configs', async () => {
        const first = await store.createOrResumeRun({ config: runConfig() });
        const moved = {
          ...runConfig(),
          input: { ...runConfig().input, file: 'elsewhere/input.jsonl' },
          runtime: { concurrency: 32 },
        };
        const second = await store.createOrResumeRun({ config: moved });
        expect(second).toMatchObject({ outcome: 'resumed', run: { id: first.run.id, configHash: first.run.configHash } });
      });

      it('starts a new run for another input, and lists runs newest first', async () => {
        const first = await store.createOrResumeRun({ config: runConfig({ sha256: 'a'.repeat(64) }) });
        const second = await store.createOrResumeRun({ config: runConfig({ sha256: 'b'.repeat(64) }) });
        expect(second.outcome).toBe('created');
        expect(second.run.id).not.toBe(first.run.id);
        const runs = await store.listRuns();
        expect(runs.map((run) => run.id)).toEqual([second.run.id, first.run.id]);
      });

      it('creates a run under a given id, and refuses to resume it with another input', async () => {
        const created = await store.createOrResumeRun({ runId: 'my-run', config: runConfig() });
        expect(created).toMatchObject({ outcome: 'created', run: { id: 'my-run' } });
        await expect(
          store.createOrResumeRun({ runId: 'my-run', config: runConfig({ sha256: 'c'.repeat(64) }) }),
        ).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
        });
      });

      it('keeps the run when a persona changes, requeueing only items labeled under the old config', async () => {
        const { run } = await store.createOrResumeRun({ config: runConfig({ safetyHash: 's1' }) });
        await store.upsertItems({ runId: run.id, items: newItems(3) });
        const claimed = await store.claimPending({ runId: run.id, limit: 2 });
        for (const item of claimed) await store.markDone({ runId: run.id, itemId: item.itemId, result: labelRow(item.itemId) });

        const reopened = await store.createOrResumeRun({ config: runConfig({ safetyHash: 's2' }) });
        expect(reopened.outcome).toBe('reconfigured');
        if (reopened.outcome !== 'reconfigured') throw new Error('unreachable');
        expect(reopened.run.id).toBe(run.id);
        expect(reopened.previousConfigHash).toBe(run.configHash);
        expect(reopened.run.configHash).not.toBe(run.configHash);
        expect(reopened.requeued).toBe(2);
        expect(await store.pendingCount({ runId: run.id })).toBe(3);
        const item = await store.getItem({ runId: run.id, itemId: 'item-1' });
        expect(item).toMatchObject({ state: 'pending', result: undefined, attempts: 0 });

        // Labeled again under the new config, and resumed with it: nothing is requeued.
        const [again] = await store.claimPending({ runId: run.id, limit: 1 });
        if (!again) throw new Error('expected an item');
        await store.markDone({ runId: run.id, itemId: again.itemId, result: labelRow(again.itemId) });
        expect((await store.getItem({ runId: run.id, itemId: again.itemId }))?.configHash).toBe(reopened.run.configHash);
        const resumed = await store.createOrResumeRun({ config: runConfig({ safetyHash: 's2' }) });
        expect(resumed.outcome).toBe('resumed');
        expect(await store.pendingCount({ runId: run.id })).toBe(2);
      });

      it('reports totals and usage of done items', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(4) });
        await store.putRejectedLines({ runId, lines: [{ line: 9, code: 'invalid-json', reason: 'bad', raw: '{' }] });
        const [first, second] = await store.claimPending({ runId, limit: 2 });
        if (!first || !second) throw new Error('expected two items');
        await store.markDone({ runId, itemId: first.itemId, result: labelRow(first.itemId, { costUsd: 0.25 }) });
        await store.markFailed({
          runId,
          itemId: second.itemId,
          state: 'failed',
          error: { code: 'PROVIDER_FAILED', message: 'down' },
        });
        const run = await store.getRun({ runId });
        expect(run?.totals).toEqual({
          items: 4,
          pending: 2,
          running: 0,
          done: 1,
          failed: 1,
          rejected: 0,
          rejectedLines: 1,
          usage: { inputTokens: 100, outputTokens: 20, calls: 2, costUsd: 0.25 },
        });
        expect(await store.getRun({ runId: 'nope' })).toBeUndefined();
      });

      it('refuses an invalid config with CONFIG_INVALID', async () => {
        const config = { ...runConfig(), input: { file: 'x.jsonl', sha256: '' } };
        await expect(store.createOrResumeRun({ config })).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          message: expect.stringContaining('input.sha256'),
        });
      });

      it('sets the run status, and refuses an unknown run', async () => {
        const runId = await newRun();
        await store.setRunStatus({ runId, status: 'done' });
        expect((await store.getRun({ runId }))?.status).toBe('done');
        await expect(store.setRunStatus({ runId: 'nope', status: 'done' })).rejects.toMatchObject({ code: 'STORE_FAILED' });
      });
    });

    describe('items', () => {
      it('inserts items idempotently', async () => {
        const runId = await newRun();
        expect(await store.upsertItems({ runId, items: newItems(5) })).toEqual({ inserted: 5, existing: 0, duplicates: [] });
        expect(await store.upsertItems({ runId, items: newItems(5) })).toEqual({ inserted: 0, existing: 5, duplicates: [] });
        expect(await store.pendingCount({ runId })).toBe(5);
      });

      it('reports duplicate item ids within a batch and across batches, keeping the first', async () => {
        const runId = await newRun();
        const result = await store.upsertItems({
          runId,
          items: [
            { line: 1, item: datasetItem('a') },
            { line: 2, item: datasetItem('b') },
            { line: 3, item: { ...datasetItem('a'), prompt: 'another prompt' } },
          ],
        });
        expect(result).toEqual({ inserted: 2, existing: 0, duplicates: [{ itemId: 'a', line: 3, firstLine: 1 }] });
        const later = await store.upsertItems({ runId, items: [{ line: 7, item: datasetItem('b') }] });
        expect(later.duplicates).toEqual([{ itemId: 'b', line: 7, firstLine: 2 }]);
        expect(await store.getItem({ runId, itemId: 'a' })).toMatchObject({ line: 1, item: { prompt: 'Question a?' } });
        expect(await store.pendingCount({ runId })).toBe(2);
      });

      it('refuses items for a run that does not exist', async () => {
        await expect(store.upsertItems({ runId: 'nope', items: newItems(1) })).rejects.toMatchObject({ code: 'STORE_FAILED' });
      });

      it('claims pending items in input order, each once', async () => {
        const runId = await newRun();
        const items = newItems(5).reverse(); // inserted out of order; claimed by line
        await store.upsertItems({ runId, items });
        const first = await store.claimPending({ runId, limit: 2 });
        const second = await store.claimPending({ runId, limit: 10 });
        expect(first.map((item) => item.line)).toEqual([1, 2]);
        expect(second.map((item) => item.line)).toEqual([3, 4, 5]);
        expect(first[0]).toMatchObject({ itemId: 'item-1', attempt: 1, item: datasetItem('item-1') });
        expect(await store.claimPending({ runId, limit: 10 })).toEqual([]);
        expect(await store.claimPending({ runId, limit: 0 })).toEqual([]);
        expect(await store.pendingCount({ runId })).toBe(0);
      });

      it('marks an item done exactly once, with its result', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(2) });
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1') })).toBe(false); // not claimed
        await store.claimPending({ runId, limit: 1 });
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1') })).toBe(true);
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1', { costUsd: 9 }) })).toBe(false);
        const item = await store.getItem({ runId, itemId: 'item-1' });
        expect(item).toMatchObject({ state: 'done', attempts: 1, result: labelRow('item-1') });
        expect(item?.configHash).toBe((await store.getRun({ runId }))?.configHash);
      });

      it('ignores a settle from a stale claim', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(1) });
        const [stale] = await store.claimPending({ runId, limit: 1 });
        await store.resetRunning({ runId });
        const [fresh] = await store.claimPending({ runId, limit: 1 });
        expect(fresh?.attempt).toBe(2);
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: stale?.attempt ?? 0 })).toBe(
          false,
        );
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: fresh?.attempt ?? 0 })).toBe(
          true,
        );
      });

      it('refuses a settle made under a run config that has changed since (a worker on the old config)', async () => {
        const { run } = await store.createOrResumeRun({ config: runConfig({ sha256: 'f'.repeat(64) }) });
        await store.upsertItems({ runId: run.id, items: newItems(1) });
        const [claimed] = await store.claimPending({ runId: run.id, limit: 1 });
        const changed = await store.createOrResumeRun({
          runId: run.id,
          config: runConfig({ sha256: 'f'.repeat(64), rounds: 5 }),
        });
        expect(changed.outcome).toBe('reconfigured');
        const settle = (configHash: string) =>
          store.markDone({
            runId: run.id,
            itemId: 'item-1',
            result: labelRow('item-1'),
            attempt: claimed?.attempt ?? 0,
            configHash,
          });
        expect(await settle(run.configHash)).toBe(false);
        expect((await store.getItem({ runId: run.id, itemId: 'item-1' }))?.state).toBe('running');
        expect(await settle(changed.run.configHash)).toBe(true);
        expect((await store.getItem({ runId: run.id, itemId: 'item-1' }))?.configHash).toBe(changed.run.configHash);
      });

      it('writes the remaining events in the same call as the result', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(1) });
        await store.claimPending({ runId, limit: 1 });
        const events = debateEvents({ runId, debateId: 'd1', itemId: 'item-1' });
        await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), events });
        const stored = await store.eventsAfter({ runId, debateId: 'd1', limit: 100 });
        expect(stored.map((entry) => entry.event)).toEqual(events);
        // A refused settle still keeps its events (they happened), and never duplicates them.
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), events })).toBe(false);
        expect(await store.eventsAfter({ runId, limit: 100 })).toHaveLength(events.length);
      });

      it('settles failures as retry, failed or rejected, and requeues failed items on request', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(3) });
        await store.claimPending({ runId, limit: 3 });
        const error = { code: 'PROVIDER_FAILED', message: 'down' };
        expect(await store.markFailed({ runId, itemId: 'item-1', state: 'pending', error })).toBe(true);
        expect(await store.markFailed({ runId, itemId: 'item-2', state: 'failed', error })).toBe(true);
        expect(await store.markFailed({ runId, itemId: 'item-3', state: 'rejected', error })).toBe(true);
        expect(await store.markFailed({ runId, itemId: 'item-3', state: 'failed', error })).toBe(false);
        expect(await store.getItem({ runId, itemId: 'item-2' })).toMatchObject({ state: 'failed', error, result: undefined });
        expect(await store.pendingCount({ runId })).toBe(1);
        expect(await store.requeueFailed({ runId })).toBe(1);
        expect(await store.pendingCount({ runId })).toBe(2);
        expect((await store.getItem({ runId, itemId: 'item-3' }))?.state).toBe('rejected');
      });

      it('puts items left running back to pending', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(4) });
        await store.claimPending({ runId, limit: 3 });
        await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1') });
        expect(await store.resetRunning({ runId })).toBe(2);
        expect(await store.resetRunning({ runId })).toBe(0);
        expect(await store.pendingCount({ runId })).toBe(3);
        const claimed = await store.claimPending({ runId, limit: 10 });
        expect(claimed.map((item) => [item.itemId, item.attempt])).toEqual([
          ['item-2', 2],
          ['item-3', 2],
          ['item-4', 1],
        ]);
      });

      it('streams done items in input order, page by page', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(7).reverse() });
        const claimed = await store.claimPending({ runId, limit: 7 });
        for (const item of [...claimed].reverse()) {
          if (item.line === 4) continue; // one item not done
          await store.markDone({ runId, itemId: item.itemId, result: labelRow(item.itemId) });
        }
        const done = [];
        for await (const item of store.iterateDone({ runId, pageSize: 2 })) done.push(item);
        expect(done.map((item) => item.line)).toEqual([1, 2, 3, 5, 6, 7]);
        expect(done[0]?.result).toEqual(labelRow('item-1'));
      });

      it("settles a generation run's items with their samples once, and streams them with their input in order", async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(5).reverse() });
        const claimed = await store.claimPending({ runId, limit: 5 });
        const usage = { inputTokens: 3, outputTokens: 7, calls: 1, costUsd: 0.5 };
        const generation = (itemId: string) => ({ policy: 'fake:p', samples: [{ index: 0, text: itemId }], usage });
        const [first] = claimed;
        if (!first) throw new Error('nothing claimed');
        expect(
          await store.markGenerated({ runId, itemId: 'item-1', generation: generation('x'), usage, attempt: first.attempt + 1 }),
        ).toBe(false); // a stale claim
        for (const item of claimed) {
          if (item.line === 3) continue; // one item not generated
          expect(
            await store.markGenerated({
              runId,
              itemId: item.itemId,
              generation: generation(item.itemId),
              usage,
              attempt: item.attempt,
            }),
          ).toBe(true);
        }
        expect(await store.markGenerated({ runId, itemId: 'item-1', generation: generation('again'), usage })).toBe(false);
        const done = [];
        for await (const item of store.iterateGenerated({ runId, pageSize: 2 })) done.push(item);
        expect(done.map((item) => item.line)).toEqual([1, 2, 4, 5]);
        expect(done[0]?.item).toEqual(datasetItem('item-1'));
        expect(done[0]?.generation).toEqual(generation('item-1'));
        const totals = (await store.getRun({ runId }))?.totals;
        expect(totals).toMatchObject({ done: 4, running: 1, usage: { calls: 4, costUsd: 2 } });
      });

      it('keeps rejected input lines once each, in line order', async () => {
        const runId = await newRun();
        const lines = [
          { line: 5, code: 'invalid-json', reason: 'not JSON', raw: '{oops' },
          { line: 2, code: 'invalid-field', field: 'candidates', reason: 'empty', raw: '{"candidates":[]}' },
        ];
        expect(await store.putRejectedLines({ runId, lines })).toBe(2);
        expect(await store.putRejectedLines({ runId, lines })).toBe(0);
        expect(await store.listRejectedLines({ runId })).toEqual([lines[1], lines[0]]);
      });
    });

    describe('events', () => {
      it('appends events in order with increasing ids, ignoring duplicates', async () => {
        const runId = await newRun();
        const events = debateEvents({ runId, debateId: 'd1', itemId: 'item-1', deltas: 5 });
        const first = await store.appendEvents({ events: events.slice(0, 4) });
        expect(first).toMatchObject({ inserted: 4, ignored: 0 });
        const second = await store.appendEvents({ events: events.slice(2) }); // 2 replayed, 3 new
        expect(second).toMatchObject({ inserted: 3, ignored: 2 });
        expect(second.lastId).toBeGreaterThan(first.lastId);
        expect(await store.appendEvents({ events })).toMatchObject({ inserted: 0, ignored: events.length });

        const stored = await store.eventsAfter({ runId, limit: 100 });
        expect(stored.map((entry) => entry.event)).toEqual(events);
        const ids = stored.map((entry) => entry.id);
        expect(ids).toEqual([...ids].sort((left, right) => left - right));
        expect(new Set(ids).size).toBe(ids.length);
        expect(await store.latestEventId({ runId })).toBe(ids.at(-1));
        expect(await store.latestEventId()).toBe(ids.at(-1));
        expect(await store.appendEvents({ events: [] })).toMatchObject({ inserted: 0, lastId: ids.at(-1) });
      });

      it('reads after an id, after a seq of one debate, and per run', async () => {
        const runId = await newRun();
        const other = (await store.createOrResumeRun({ config: runConfig({ sha256: 'f'.repeat(64) }) })).run.id;
        const d1 = debateEvents({ runId, debateId: 'd1', deltas: 4 });
        const d2 = debateEvents({ runId, debateId: 'd2', deltas: 4 });
        const elsewhere = debateEvents({ runId: other, debateId: 'd1', deltas: 1 });
        // Interleaved as parallel debates would write them.
        const interleaved: DebateEvent[] = d1.flatMap((event, index) => [event, d2[index] as DebateEvent]);
        await store.appendEvents({ events: interleaved });
        await store.appendEvents({ events: elsewhere });

        // Each debate's events come back in seq order with increasing ids; a run of one debate's turn-delta events may
        // be stored as one row, written when its debate's next other event arrives, so debates may interleave otherwise.
        const page1 = await store.eventsAfter({ runId, limit: 5 });
        const page2 = await store.eventsAfter({ runId, afterId: page1.at(-1)?.id ?? 0, limit: 100 });
        const all = [...page1, ...page2];
        expect(page1).toHaveLength(5);
        const ids = all.map((entry) => entry.id);
        expect(ids).toEqual([...new Set(ids)].sort((left, right) => left - right));
        expect(all.filter((entry) => entry.event.debateId === 'd1').map((entry) => entry.event)).toEqual(d1);
        expect(all.filter((entry) => entry.event.debateId === 'd2').map((entry) => entry.event)).toEqual(d2);

        const tail = await store.eventsAfter({ runId, debateId: 'd2', afterSeq: 3, limit: 100 });
        expect(tail.map((entry) => entry.event.seq)).toEqual([4, 5]);
        expect(tail.every((entry) => entry.event.debateId === 'd2' && entry.event.runId === runId)).toBe(true);

        expect((await store.eventsAfter({ runId: other, limit: 100 })).map((entry) => entry.event)).toEqual(elsewhere);
        expect(await store.eventsAfter({ limit: 100 })).toHaveLength(interleaved.length + elsewhere.length);
        expect(await store.latestEventId({ runId: 'nope' })).toBe(0);
        await expect(store.eventsAfter({ debateId: 'd1', limit: 1 })).rejects.toBeInstanceOf(TribunalError);
      });

      it('resumes exactly from any id or seq cursor, and ignores replays, inside a run of turn-delta events', async () => {
        const runId = await newRun();
        const events = debateEvents({ runId, debateId: 'd1', itemId: 'item-1', deltas: 10 });
        await store.appendEvents({ events: events.slice(0, 8) }); // start + 7 deltas (one stored run of them)
        await store.appendEvents({ events: events.slice(3, 10) }); // 5 replayed, 2 new deltas
        await store.appendEvents({ events: events.slice(10) });
        const all = await store.eventsAfter({ runId, limit: 100 });
        expect(all.map((entry) => entry.event)).toEqual(events);
        const ids = all.map((entry) => entry.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toEqual([...ids].sort((left, right) => left - right));
        expect(await store.latestEventId({ runId })).toBe(ids.at(-1));
        expect(await store.getDebate({ runId, debateId: 'd1' })).toMatchObject({ lastSeq: 11, events: 12, status: 'done' });

        // Page by id, 3 events at a time, and by seq, 4 at a time: every cursor lands somewhere, nothing twice.
        const byId: DebateEvent[] = [];
        for (let afterId = 0; ; ) {
          const page = await store.eventsAfter({ runId, afterId, limit: 3 });
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(3);
          byId.push(...page.map((entry) => entry.event));
          afterId = page.at(-1)?.id ?? afterId;
        }
        expect(byId).toEqual(events);
        for (let afterSeq = -1; afterSeq < events.length; afterSeq++) {
          const page = await store.eventsAfter({ runId, debateId: 'd1', afterSeq, limit: 4 });
          expect(page.map((entry) => entry.event)).toEqual(events.slice(afterSeq + 1, afterSeq + 5));
        }
        // Followed from inside the run: the ids of the events are cursors too.
        const middle = all[4]?.id ?? 0;
        expect((await store.eventsAfter({ runId, afterId: middle, limit: 100 })).map((entry) => entry.event)).toEqual(
          events.slice(5),
        );
      });

      it('keeps one record per debate: item, status, last seq and counts', async () => {
        const runId = await newRun();
        const d1 = debateEvents({ runId, debateId: 'd1', itemId: 'item-1', deltas: 3 });
        const d2 = debateEvents({ runId, debateId: 'd2', itemId: 'item-2', deltas: 3 });
        await store.appendEvents({ events: d1.slice(0, 2) });
        await store.appendEvents({ events: d2.slice(0, 3) });
        expect(await store.getDebate({ runId, debateId: 'd1' })).toMatchObject({ status: 'running', lastSeq: 1, events: 2 });
        await store.appendEvents({ events: [...d1, ...d2.slice(0, 3)] }); // the rest of d1, d2 replayed
        await store.appendEvents({
          events: [
            {
              type: 'debate-error',
              runId,
              debateId: 'd2',
              seq: 3,
              at: '2025-01-01T00:00:01.000Z',
              code: 'ABORTED',
              message: 'stop',
            },
          ],
        });
        const debates = await store.listDebates({ runId });
        expect(debates.map((debate) => [debate.debateId, debate.itemId, debate.status, debate.lastSeq, debate.events])).toEqual([
          ['d1', 'item-1', 'done', 4, 5],
          ['d2', 'item-2', 'failed', 3, 4],
        ]);
        expect(debates[0]?.startedAt).toBe(d1[0]?.at);
        expect(await store.getDebate({ runId, debateId: 'nope' })).toBeUndefined();
      });

      it('follows events: those already stored, then new ones, until aborted', async () => {
        const runId = await newRun();
        const events = debateEvents({ runId, debateId: 'd1', deltas: 4 });
        await store.appendEvents({ events: events.slice(0, 3) });
        const controller = new AbortController();
        const iterator = store.followEvents({ runId, afterId: 0, signal: controller.signal, pollMs: 5 })[Symbol.asyncIterator]();
        const seen: DebateEvent[] = [];
        for (let index = 0; index < 3; index++) {
          const next = await iterator.next();
          if (!next.done) seen.push(next.value.event);
        }
        await store.appendEvents({ events: events.slice(3) });
        for (let index = 3; index < events.length; index++) {
          const next = await iterator.next();
          if (!next.done) seen.push(next.value.event);
        }
        expect(seen).toEqual(events);
        const pending = iterator.next();
        controller.abort();
        expect(await pending).toMatchObject({ done: true });
      });
    });

    describe('EventWriter', () => {
      function recordingSink() {
        const batches: number[] = [];
        const settles: { itemId: string; events: number }[] = [];
        let writing: Promise<unknown> = Promise.resolve();
        const sink = {
          appendEvents: async (options: { events: readonly DebateEvent[] }) => {
            batches.push(options.events.length);
            const write = store.appendEvents(options);
            writing = write.catch(() => undefined);
            return write;
          },
          markDone: async (options: Parameters<Store['markDone']>[0]) => {
            settles.push({ itemId: options.itemId, events: options.events?.length ?? 0 });
            return store.markDone(options);
          },
          markFailed: async (options: Parameters<Store['markFailed']>[0]) => {
            settles.push({ itemId: options.itemId, events: options.events?.length ?? 0 });
            return store.markFailed(options);
          },
        };
        /** Lets a started background write finish, as the next token of a debate would arrive after it. */
        const idle = async () => {
          await new Promise((resolve) => setImmediate(resolve));
          await writing;
        };
        return { sink, batches, settles, idle };
      }

      it('writes in batches of flushEvents and the rest with the item result', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(1) });
        const [claimed] = await store.claimPending({ runId, limit: 1 });
        const { sink, batches, settles, idle } = recordingSink();
        const writer = new EventWriter({ store: sink, flushEvents: 4, flushMs: 60_000, coalesceDeltas: false });
        const events = debateEvents({ runId, debateId: 'd1', itemId: 'item-1', deltas: 8 }); // 10 events
        for (const event of events) {
          writer.append(event);
          await idle(); // as a debate would, between tokens
        }
        expect(
          await writer.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: claimed?.attempt ?? 0 }),
        ).toBe(true);
        await writer.close();
        expect(batches).toEqual([4, 4]);
        expect(settles).toEqual([{ itemId: 'item-1', events: 2 }]);
        expect((await store.eventsAfter({ runId, limit: 100 })).map((entry) => entry.event)).toEqual(events);
        expect(() => writer.append(events[0] as DebateEvent)).toThrow(TribunalError);
      });

      it('flushes on a timer, and on flush() and close()', async () => {
        vi.useFakeTimers();
        try {
          const runId = await newRun();
          const { sink, batches } = recordingSink();
          const writer = new EventWriter({ store: sink, flushEvents: 100, flushMs: 50, coalesceDeltas: false });
          const events = debateEvents({ runId, debateId: 'd1', deltas: 3 });
          writer.append(events[0] as DebateEvent);
          writer.append(events[1] as DebateEvent);
          expect(writer.buffered).toBe(2);
          await vi.advanceTimersByTimeAsync(50);
          expect(batches).toEqual([2]);
          writer.append(events[2] as DebateEvent);
          await writer.flush();
          writer.append(events[3] as DebateEvent);
          writer.append(events[4] as DebateEvent);
          await writer.close();
          expect(batches).toEqual([2, 1, 2]);
          expect(await store.eventsAfter({ runId, limit: 100 })).toHaveLength(events.length);
        } finally {
          vi.useRealTimers();
        }
      });

      it('loses nothing when a write fails: it throws until a flush succeeds', async () => {
        const runId = await newRun();
        let failNext = true;
        const errors: unknown[] = [];
        const writer = new EventWriter({
          store: {
            appendEvents: async (options) => {
              if (failNext) {
                failNext = false;
                throw new TribunalError('STORE_FAILED', 'disk full');
              }
              return store.appendEvents(options);
            },
            markDone: (options) => store.markDone(options),
            markFailed: (options) => store.markFailed(options),
          },
          flushEvents: 2,
          flushMs: 60_000,
          coalesceDeltas: false,
          onError: (error) => errors.push(error),
        });
        const events = debateEvents({ runId, debateId: 'd1', deltas: 2 });
        writer.append(events[0] as DebateEvent);
        writer.append(events[1] as DebateEvent); // starts a background flush that fails
        await expect(writer.flush()).resolves.toBeUndefined(); // the retry succeeds
        expect(errors).toHaveLength(1);
        for (const event of events.slice(2)) writer.append(event);
        await writer.close();
        expect((await store.eventsAfter({ runId, limit: 100 })).map((entry) => entry.event)).toEqual(events);
      });

      /** Two debates' streams interleaved: d1 has two turns whose deltas alternate, d2 one turn. */
      function interleavedStreams(runId: string): DebateEvent[] {
        const d1 = debateEvents({ runId, debateId: 'd1', itemId: 'item-1', deltas: 6 });
        for (const [index, event] of d1.entries()) {
          if (event.type === 'turn-delta' && index % 2 === 0) {
            event.criticId = 'efficiency';
            event.turnId = '0/efficiency/c1';
          }
        }
        const d2 = debateEvents({ runId, debateId: 'd2', deltas: 3 });
        const mixed: DebateEvent[] = [];
        for (let index = 0; index < Math.max(d1.length, d2.length); index++) {
          if (d1[index]) mixed.push(d1[index] as DebateEvent);
          if (d2[index]) mixed.push(d2[index] as DebateEvent);
        }
        return mixed;
      }

      /** Each turn's deltas joined: what a watcher shows, however the deltas were cut. */
      function turnTexts(events: readonly DebateEvent[]): Record<string, string> {
        const texts: Record<string, string> = {};
        for (const event of events) {
          if (event.type === 'turn-delta')
            texts[`${event.debateId} ${event.turnId}`] = (texts[`${event.debateId} ${event.turnId}`] ?? '') + event.text;
        }
        return texts;
      }

      it("coalesces each turn's deltas of a batch into one, in the last one's place, leaving the emitted events as they were", async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(1) });
        const [claimed] = await store.claimPending({ runId, limit: 1 });
        const { sink, batches, settles } = recordingSink();
        const writer = new EventWriter({ store: sink, flushEvents: 100, flushMs: 60_000 });
        const emitted = interleavedStreams(runId);
        const copies = emitted.map((event) => structuredClone(event));
        const cut = emitted.findIndex((event) => event.debateId === 'd1' && event.seq === 4);
        for (const event of emitted.slice(0, cut)) writer.append(event);
        // Turn deltas count once toward flushEvents: 2 starts + 3 turns' deltas (d1 seqs 1-3, d2 seqs 1-3).
        expect(writer.buffered).toBe(5);
        await writer.flush();
        for (const event of emitted.slice(cut)) writer.append(event);
        expect(
          await writer.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: claimed?.attempt ?? 0 }),
        ).toBe(true);
        await writer.close();
        expect(emitted).toEqual(copies); // in-process watchers' events are never changed

        const stored = (await store.eventsAfter({ runId, limit: 100 })).map((entry) => entry.event);
        expect(batches).toEqual([5]);
        expect(settles).toEqual([{ itemId: 'item-1', events: 4 }]); // d1 seqs 4-6 as two deltas, d1 and d2 ends
        // Nothing but deltas merged: the other events as emitted, each turn's text whole and in order.
        expect(stored.filter((event) => event.type !== 'turn-delta')).toEqual(
          emitted.filter((event) => event.type !== 'turn-delta'),
        );
        expect(turnTexts(stored)).toEqual(turnTexts(emitted));
        // Per debate and batch, one delta a turn with the last piece's seq: d1 seqs 1-3 (two turns), d2 seqs 1-3, then d1 4-6.
        const deltas = (debateId: string) =>
          stored.flatMap((event) =>
            event.type === 'turn-delta' && event.debateId === debateId ? [[event.criticId, event.seq, event.text]] : [],
          );
        expect(deltas('d1')).toEqual([
          ['efficiency', 2, 'token 1 '],
          ['safety', 3, 'token 0 token 2 '],
          ['safety', 5, 'token 4 '],
          ['efficiency', 6, 'token 3 token 5 '],
        ]);
        expect(deltas('d2')).toEqual([['safety', 3, 'token 0 token 1 token 2 ']]);
        for (const debateId of ['d1', 'd2']) {
          const seqs = stored.filter((event) => event.debateId === debateId).map((event) => event.seq);
          expect(seqs).toEqual([...seqs].sort((left, right) => left - right));
        }
        // Exact resume over what is stored, from a merged delta's seq.
        const after = await store.eventsAfter({ runId, debateId: 'd1', afterSeq: 3, limit: 100 });
        expect(after.map((entry) => entry.event)).toEqual(stored.filter((event) => event.debateId === 'd1' && event.seq > 3));
      });

      it('loses no delta text when a coalesced write fails and is retried', async () => {
        const runId = await newRun();
        let failNext = true;
        const writer = new EventWriter({
          store: {
            appendEvents: async (options) => {
              if (failNext) {
                failNext = false;
                throw new TribunalError('STORE_FAILED', 'disk full');
              }
              return store.appendEvents(options);
            },
            markDone: (options) => store.markDone(options),
            markFailed: (options) => store.markFailed(options),
          },
          flushEvents: 3,
          flushMs: 60_000,
          onError: () => undefined,
        });
        const emitted = interleavedStreams(runId);
        const cut = emitted.findIndex((event) => event.debateId === 'd2' && event.seq === 1);
        for (const event of emitted.slice(0, cut + 1)) writer.append(event); // the third event starts a failing flush
        await expect(writer.flush()).resolves.toBeUndefined();
        for (const event of emitted.slice(cut + 1)) writer.append(event);
        await writer.close();
        const stored = (await store.eventsAfter({ runId, limit: 100 })).map((entry) => entry.event);
        expect(stored.filter((event) => event.type !== 'turn-delta')).toEqual(
          emitted.filter((event) => event.type !== 'turn-delta'),
        );
        expect(turnTexts(stored)).toEqual(turnTexts(emitted));
      });
      it('writes snapshots with the next batch, the latest per debate, and never the pending one of a debate markDone settles', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(2) });
        const [first, second] = await store.claimPending({ runId, limit: 2 });
        if (!first || !second) throw new Error('expected two claimed items');
        const snapshotsWritten: string[][] = [];
        const { sink } = recordingSink();
        const writer = new EventWriter({
          store: {
            ...sink,
            appendEvents: async (options) => {
              snapshotsWritten.push(
                (options.snapshots ?? []).map((write) => `${write.debateId}:${(write.snapshot as { next: string }).next}`),
              );
              return sink.appendEvents(options);
            },
          },
          flushEvents: 100,
          flushMs: 60_000,
          coalesceDeltas: false,
        });
        const d1 = debateEvents({ runId, debateId: 'd1', itemId: first.itemId, deltas: 2 });
        writer.append(d1[0] as DebateEvent);
        writer.putSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: 'assess' } });
        writer.putSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: 'debate' } }); // replaces the pending one
        writer.putSnapshot({ runId, debateId: 'd2', snapshot: { v: 1, next: 'debate' } });
        expect(writer.hasSnapshot('d1')).toBe(true);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined(); // nothing written before the batch
        await writer.flush();
        expect(snapshotsWritten).toEqual([['d1:debate', 'd2:debate']]);
        expect(writer.hasSnapshot('d1')).toBe(false);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toEqual({ v: 1, next: 'debate' });

        for (const event of d1.slice(1)) writer.append(event);
        writer.putSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: '__end__' } });
        writer.putSnapshot({ runId, debateId: 'd2', snapshot: { v: 1, next: 'consensus' } });
        expect(
          await writer.markDone({
            runId,
            itemId: first.itemId,
            result: labelRow(first.itemId),
            attempt: first.attempt,
            debateId: 'd1',
          }),
        ).toBe(true);
        await writer.close();
        // d1's last snapshot was never written and its stored one went with the settle; d2's rode the settle.
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined();
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toEqual({ v: 1, next: 'consensus' });
        expect((await store.eventsAfter({ runId, debateId: 'd1', limit: 100 })).map((entry) => entry.event.seq)).toEqual(
          d1.map((event) => event.seq),
        );
      });

      it('keeps pending snapshots when a write fails, without replacing newer ones', async () => {
        const runId = await newRun();
        let failNext = true;
        const writer = new EventWriter({
          store: {
            appendEvents: async (options) => {
              if (failNext) {
                failNext = false;
                throw new TribunalError('STORE_FAILED', 'disk full');
              }
              return store.appendEvents(options);
            },
            markDone: (options) => store.markDone(options),
            markFailed: (options) => store.markFailed(options),
          },
          flushEvents: 100,
          flushMs: 60_000,
          onError: () => undefined,
        });
        writer.putSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: 'debate' } });
        writer.putSnapshot({ runId, debateId: 'd2', snapshot: { v: 1, next: 'debate' } });
        const failing = writer.flush();
        // Put while the failing write is in flight: newer than what fails, so it is what is kept.
        writer.putSnapshot({ runId, debateId: 'd2', snapshot: { v: 1, next: 'consensus' } });
        await expect(failing).rejects.toThrow('disk full');
        await writer.flush();
        await writer.close();
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toEqual({ v: 1, next: 'debate' });
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toEqual({ v: 1, next: 'consensus' });
      });
    });

    describe('turn cache', () => {
      const turn = {
        model: 'fake:scripted',
        assessment: { rationale: 'fine', principles: ['p1'], score: 7, confidence: 0.8 },
        usage: { inputTokens: 10, outputTokens: 5, calls: 1, costUsd: 0.001 },
      };

      it('returns what was put, keeps the first value, and misses unknown keys', async () => {
        expect(await store.getTurn({ key: 'k1' })).toBeUndefined();
        await store.putTurn({ key: 'k1', turn });
        await store.putTurn({ key: 'k1', turn: { ...turn, model: 'other' } });
        expect(await store.getTurn({ key: 'k1' })).toEqual(turn);
        const extended = { ...turn, extra: { attempts: 2 } };
        await store.putTurn({ key: 'k2', turn: extended });
        expect(await store.getTurn({ key: 'k2' })).toEqual(extended);
      });

      it('puts a batch of turns at once, keeping first values', async () => {
        await store.putTurn({ key: 'b1', turn });
        await store.putTurns({
          turns: [
            { key: 'b1', turn: { ...turn, model: 'other' } },
            { key: 'b2', turn: { ...turn, model: 'second' } },
            { key: 'b2', turn: { ...turn, model: 'third' } },
          ],
        });
        await store.putTurns({ turns: [] });
        expect(await store.getTurn({ key: 'b1' })).toEqual(turn);
        expect(await store.getTurn({ key: 'b2' })).toEqual({ ...turn, model: 'second' });
      });
    });

    describe('verdict overrides', () => {
      it('records and lists overrides, filtered by item or debate', async () => {
        const runId = await newRun();
        const first = await store.putOverride({
          runId,
          itemId: 'item-1',
          kind: 'prefer',
          candidateId: 'c2',
          note: 'c2 is safer',
        });
        await store.putOverride({ runId, debateId: 'd2', kind: 'wrong' });
        await store.putOverride({ runId, itemId: 'item-1', debateId: 'd1', kind: 'wrong' });
        expect(first).toMatchObject({
          runId,
          itemId: 'item-1',
          debateId: undefined,
          kind: 'prefer',
          candidateId: 'c2',
          note: 'c2 is safer',
        });
        expect(await store.listOverrides({ runId })).toHaveLength(3);
        expect((await store.listOverrides({ runId, itemId: 'item-1' })).map((override) => override.kind)).toEqual([
          'prefer',
          'wrong',
        ]);
        expect(await store.listOverrides({ runId, debateId: 'd2' })).toHaveLength(1);
        await expect(store.putOverride({ runId, kind: 'wrong' })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
        await expect(store.putOverride({ runId, itemId: 'x', kind: 'maybe' as 'wrong' })).rejects.toMatchObject({
          code: 'INPUT_INVALID',
        });
      });
    });

    describe('checkpoints', () => {
      it('keeps one snapshot per debate, replaces and deletes it, and sweeps those of done items', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(2) });
        const [first, second] = await store.claimPending({ runId, limit: 2 });
        if (!first || !second) throw new Error('expected two claimed items');
        await store.appendEvents({ events: debateEvents({ runId, debateId: 'd1', itemId: first.itemId, deltas: 1 }) });
        await store.appendEvents({ events: debateEvents({ runId, debateId: 'd2', itemId: second.itemId, deltas: 1 }) });
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined();
        await store.putDebateSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: 'debate', turns: [] } });
        await store.putDebateSnapshot({ runId, debateId: 'd1', snapshot: { v: 1, next: 'consensus', turns: [1] } });
        await store.putDebateSnapshot({ runId, debateId: 'd2', snapshot: { v: 1, next: 'assess', turns: [] } });
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toEqual({ v: 1, next: 'consensus', turns: [1] });

        await store.markDone({ runId, itemId: first.itemId, result: labelRow(first.itemId), attempt: first.attempt });
        expect(await store.sweepDebateSnapshots({ runId })).toBe(1);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined();
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toBeDefined();
        await store.deleteDebateSnapshot({ debateId: 'd2' });
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toBeUndefined();
      });

      it("stores snapshots with a batch of events and with a settle; markDone deletes its debate's snapshot only when it settles", async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(3) });
        const [first, second, third] = await store.claimPending({ runId, limit: 3 });
        if (!first || !second || !third) throw new Error('expected three claimed items');
        const d1 = debateEvents({ runId, debateId: 'd1', itemId: first.itemId, deltas: 1 });
        // Snapshots only: stored though no event is.
        await store.appendEvents({ events: [], snapshots: [{ runId, debateId: 'd1', snapshot: { v: 1, next: 'assess' } }] });
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toEqual({ v: 1, next: 'assess' });
        const appended = await store.appendEvents({
          events: d1.slice(0, 2),
          snapshots: [
            { runId, debateId: 'd1', snapshot: { v: 1, next: 'debate' } },
            { runId, debateId: 'd2', snapshot: { v: 1, next: 'debate' } },
          ],
        });
        expect(appended.inserted).toBe(2);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toEqual({ v: 1, next: 'debate' });
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toEqual({ v: 1, next: 'debate' });

        // A refused settle (stale attempt) keeps the snapshot; a settle deletes it and stores the others it carries.
        expect(
          await store.markDone({
            runId,
            itemId: first.itemId,
            result: labelRow(first.itemId),
            attempt: first.attempt + 1,
            debateId: 'd1',
          }),
        ).toBe(false);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeDefined();
        expect(
          await store.markDone({
            runId,
            itemId: first.itemId,
            result: labelRow(first.itemId),
            attempt: first.attempt,
            events: d1.slice(2),
            snapshots: [{ runId, debateId: 'd3', snapshot: { v: 1, next: 'consensus' } }],
            debateId: 'd1',
          }),
        ).toBe(true);
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined();
        expect(await store.getDebateSnapshot({ debateId: 'd3' })).toEqual({ v: 1, next: 'consensus' });
        expect((await store.eventsAfter({ runId, debateId: 'd1', limit: 100 })).map((entry) => entry.event)).toEqual(d1);
        expect(
          await store.markFailed({
            runId,
            itemId: second.itemId,
            state: 'pending',
            error: { code: 'ABORTED', message: 'stopped' },
            attempt: second.attempt,
            snapshots: [{ runId, debateId: 'd2', snapshot: { v: 1, next: 'consensus', seq: 9 } }],
          }),
        ).toBe(true);
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toEqual({ v: 1, next: 'consensus', seq: 9 });
      });

      it('checkpoints a LangGraph graph, and deletes a thread', async () => {
        const State = Annotation.Root({
          count: Annotation<number>({ reducer: (left, right) => left + right, default: () => 0 }),
        });
        const graph = new StateGraph(State)
          .addNode('step', () => ({ count: 1 }))
          .addEdge(START, 'step')
          .addEdge('step', END)
          .compile({ checkpointer: await store.checkpointer() });
        const config = { configurable: { thread_id: 'run-1/item-1' } };
        expect(await graph.invoke({ count: 1 }, config)).toEqual({ count: 2 });
        expect((await graph.getState(config)).values).toEqual({ count: 2 });
        expect(await store.checkpointer()).toBe(await store.checkpointer());

        await store.deleteCheckpoints({ threadId: 'run-1/item-1' });
        expect((await graph.getState(config)).values).toEqual({});
        await store.deleteCheckpoints({ threadId: 'never-used' });
      });
    });

    describe('leased claims', () => {
      const t0 = new Date('2030-01-01T00:00:00.000Z');
      const at = (ms: number) => new Date(t0.getTime() + ms);
      const lease = { leaseMs: 10_000 };

      it('claims pending items in order under a lease, and takes over only claims whose lease expired', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(3) });
        const first = await store.claimItems({ runId, limit: 2, owner: 'w1', ...lease, now: t0 });
        expect(first).toMatchObject({ deadLettered: 0 });
        expect(first.items.map((item) => [item.itemId, item.attempt])).toEqual([
          ['item-1', 1],
          ['item-2', 1],
        ]);
        expect(first.items[0]?.item).toEqual(datasetItem('item-1'));
        // Before expiry only the pending item is left; w1 heartbeats item-2 but not item-1.
        const second = await store.claimItems({ runId, limit: 5, owner: 'w2', ...lease, now: at(5_000) });
        expect(second.items.map((item) => item.itemId)).toEqual(['item-3']);
        expect(
          await store.renewLeases({ runId, owner: 'w1', ...lease, items: [first.items[1] as ClaimedItem], now: at(5_000) }),
        ).toBe(1);
        expect(
          await store.renewLeases({ runId, owner: 'w2', ...lease, items: [first.items[1] as ClaimedItem], now: at(5_000) }),
        ).toBe(0);
        // After item-1's lease ran out, w2 takes it over (attempt 2); item-2 (renewed) and item-3 stay where they are.
        const third = await store.claimItems({ runId, limit: 5, owner: 'w2', ...lease, now: at(10_001) });
        expect(third.items.map((item) => [item.itemId, item.attempt])).toEqual([['item-1', 2]]);
        // The dead worker's late settle is refused; the new holder's counts; w1 can no longer renew item-1.
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: 1 })).toBe(false);
        expect(
          await store.renewLeases({ runId, owner: 'w1', ...lease, items: [first.items[0] as ClaimedItem], now: at(10_002) }),
        ).toBe(0);
        expect(await store.markDone({ runId, itemId: 'item-1', result: labelRow('item-1'), attempt: 2 })).toBe(true);
        expect(await store.claimItems({ runId, limit: 5, owner: 'w3', ...lease, now: at(14_000) })).toEqual({
          items: [],
          deadLettered: 0,
        });
        expect((await store.getItem({ runId, itemId: 'item-1' }))?.attempts).toBe(2);
      });

      it('never takes over items claimed without a lease', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(1) });
        await store.claimPending({ runId, limit: 1 });
        expect((await store.claimItems({ runId, limit: 1, owner: 'w', ...lease, now: at(1e12) })).items).toEqual([]);
      });

      it('dead-letters an item whose leases expired maxAttempts times, with the reason, until failed items are requeued', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(2) });
        const options = { runId, limit: 1, ...lease, maxAttempts: 2 };
        expect((await store.claimItems({ ...options, owner: 'w1', now: t0 })).items[0]?.attempt).toBe(1);
        expect((await store.claimItems({ ...options, owner: 'w2', now: at(10_001) })).items[0]).toMatchObject({
          itemId: 'item-1',
          attempt: 2,
        });
        const third = await store.claimItems({ ...options, owner: 'w3', now: at(20_002) });
        expect(third.deadLettered).toBe(1);
        expect(third.items.map((item) => item.itemId)).toEqual(['item-2']);
        const dead = await store.getItem({ runId, itemId: 'item-1' });
        expect(dead).toMatchObject({ state: 'failed', attempts: 2, error: { code: 'DEAD_LETTERED' } });
        expect(dead?.error?.message).toMatch(/claimed 2 times.*last held by w2/);
        expect(await store.itemErrors({ runId, state: 'failed' })).toMatchObject([{ code: 'DEAD_LETTERED', items: 1 }]);
        expect(await store.requeueFailed({ runId })).toBe(1);
        expect((await store.claimItems({ ...options, owner: 'w4', now: at(20_003) })).items[0]).toMatchObject({
          itemId: 'item-1',
          attempt: 3,
        });
      });
    });

    describe('pruning', () => {
      it('prunes the snapshots and turn-delta events of done items only, keeping ids and seq cursors exact', async () => {
        const runId = await newRun();
        await store.upsertItems({ runId, items: newItems(2) });
        const [first, second] = await store.claimPending({ runId, limit: 2 });
        if (!first || !second) throw new Error('expected two claimed items');
        const d1 = debateEvents({ runId, debateId: 'd1', itemId: first.itemId, deltas: 6 });
        const d2 = debateEvents({ runId, debateId: 'd2', itemId: second.itemId, deltas: 1 });
        await store.appendEvents({ events: d1.slice(0, 3) }); // start + 2 deltas: a single and a packed row
        await store.appendEvents({ events: d1.slice(3, 4) });
        await store.appendEvents({ events: [...d1.slice(4), ...d2] });
        await store.putDebateSnapshot({ runId, debateId: 'd1', snapshot: { v: 1 } });
        await store.putDebateSnapshot({ runId, debateId: 'd2', snapshot: { v: 1 } });
        const before = await store.eventsAfter({ runId, limit: 100 });
        await store.markDone({ runId, itemId: first.itemId, result: labelRow(first.itemId), attempt: first.attempt });

        const pruned = await store.pruneSettled({ runId });
        expect(pruned.snapshots).toBe(1);
        expect(pruned.eventRows).toBeGreaterThan(0);
        expect(await store.pruneSettled({ runId })).toEqual({ snapshots: 0, eventRows: 0 });
        expect(await store.getDebateSnapshot({ debateId: 'd1' })).toBeUndefined();
        expect(await store.getDebateSnapshot({ debateId: 'd2' })).toBeDefined();

        // What remains keeps its ids; d1 lost only its deltas, d2 (not done) lost nothing.
        const kept = before.filter((entry) => entry.event.debateId === 'd2' || entry.event.type !== 'turn-delta');
        expect(await store.eventsAfter({ runId, limit: 100 })).toEqual(kept);
        const tail = await store.eventsAfter({ runId, debateId: 'd1', afterSeq: 2, limit: 100 });
        expect(tail.map((entry) => entry.event)).toEqual(d1.filter((event) => event.seq > 2 && event.type !== 'turn-delta'));
        expect(await store.latestEventId({ runId })).toBe(kept.at(-1)?.id);
        // The debate's record counts what is left (the viewer shows it); d2's is unchanged.
        expect(await store.getDebate({ runId, debateId: 'd1' })).toMatchObject({
          status: 'done',
          lastSeq: d1.length - 1,
          events: 2,
        });
        expect(await store.getDebate({ runId, debateId: 'd2' })).toMatchObject({ events: d2.length });
      });
    });

    describe('run locks', () => {
      it('holds one lock per run: a second is refused until the first is released', async () => {
        const runId = await newRun();
        const lock = await store.lockRun({ runId, purpose: 'label' });
        await expect(store.lockRun({ runId, purpose: 'label' })).rejects.toMatchObject({
          code: 'STORE_FAILED',
          message: expect.stringContaining(runId),
        });
        const other = await store.lockRun({ runId: 'another-run', purpose: 'label' });
        await lock.release();
        await lock.release(); // idempotent
        const again = await store.lockRun({ runId, purpose: 'export' });
        await again.release();
        await other.release();
      });
    });

    describe.skipIf(factory.share === undefined)('shared by several processes', () => {
      /** Runs a case with a second store over the same data, closed afterwards. */
      const withPeer = (test: (peer: Store) => Promise<void>) => async () => {
        const peer = factory.share?.() as Store;
        try {
          await test(peer);
        } finally {
          await peer.close();
        }
      };

      it(
        'claims each item exactly once across concurrent claimers',
        withPeer(async (peer) => {
          const runId = await newRun();
          await store.upsertItems({ runId, items: newItems(60) });
          const claimer = async (from: Store) => {
            const mine: string[] = [];
            for (;;) {
              const batch = await from.claimPending({ runId, limit: 3 });
              if (batch.length === 0) return mine;
              for (const item of batch) {
                mine.push(item.itemId);
                expect(
                  await from.markDone({ runId, itemId: item.itemId, result: labelRow(item.itemId), attempt: item.attempt }),
                ).toBe(true);
              }
            }
          };
          const claimed = (await Promise.all([claimer(store), claimer(peer), claimer(store), claimer(peer)])).flat();
          expect(claimed).toHaveLength(60);
          expect(new Set(claimed).size).toBe(60);
          expect((await peer.getRun({ runId }))?.totals).toMatchObject({ done: 60, pending: 0, running: 0 });
        }),
      );

      it(
        'gives concurrent appenders increasing ids in commit order: a follower misses nothing',
        withPeer(async (peer) => {
          const runId = await newRun();
          const controller = new AbortController();
          const seen: number[] = [];
          const following = (async () => {
            for await (const entry of peer.followEvents({ runId, afterId: 0, signal: controller.signal, pollMs: 1 })) {
              seen.push(entry.id);
            }
          })();
          const writers = Array.from({ length: 4 }, (_, writer) =>
            (async () => {
              const from = writer % 2 === 0 ? store : peer;
              for (let debate = 0; debate < 5; debate++) {
                const events = debateEvents({ runId, debateId: `w${writer}-d${debate}`, deltas: 4 });
                await from.appendEvents({ events: events.slice(0, 3) });
                await from.appendEvents({ events: events.slice(3) });
              }
            })(),
          );
          await Promise.all(writers);
          const all = await store.eventsAfter({ runId, limit: 1000 });
          expect(all).toHaveLength(4 * 5 * 6);
          const deadline = Date.now() + 20_000;
          while (seen.length < all.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
          controller.abort();
          await following;
          expect(seen).toEqual(all.map((entry) => entry.id));
        }),
      );

      it(
        'hands each item to exactly one of several leased claimers',
        withPeer(async (peer) => {
          const runId = await newRun();
          await store.upsertItems({ runId, items: newItems(40) });
          const worker = async (from: Store, owner: string) => {
            const mine: string[] = [];
            for (;;) {
              const { items } = await from.claimItems({ runId, limit: 2, owner, leaseMs: 60_000 });
              if (items.length === 0) return mine;
              for (const item of items) {
                mine.push(item.itemId);
                await from.markDone({ runId, itemId: item.itemId, result: labelRow(item.itemId), attempt: item.attempt });
              }
            }
          };
          const claimed = (
            await Promise.all([worker(store, 'a'), worker(peer, 'b'), worker(store, 'c'), worker(peer, 'd')])
          ).flat();
          expect(claimed.sort()).toEqual(
            newItems(40)
              .map((entry) => entry.item.id)
              .sort(),
          );
        }),
      );

      it(
        'finds one run when two processes open the same input at once',
        withPeer(async (peer) => {
          const [left, right] = await Promise.all([
            store.createOrResumeRun({ config: runConfig({ sha256: 'e'.repeat(64) }) }),
            peer.createOrResumeRun({ config: runConfig({ sha256: 'e'.repeat(64) }) }),
          ]);
          expect(left.run.id).toBe(right.run.id);
          expect([left.outcome, right.outcome].sort()).toEqual(['created', 'resumed']);
        }),
      );
    });

    it('fails every call after close()', async () => {
      await store.close();
      await expect(store.listRuns()).rejects.toMatchObject({ code: 'STORE_FAILED' });
      await store.close(); // idempotent
    });

    it('follows from the first event when afterId is omitted', async () => {
      const runId = await newRun();
      await store.appendEvents({ events: debateEvents({ runId, debateId: 'd', deltas: 1 }) });
      const controller = new AbortController();
      const taken = await take(store.followEvents({ runId, signal: controller.signal, pollMs: 5 }), 3);
      controller.abort();
      expect(taken.map((entry) => entry.event.seq)).toEqual([0, 1, 2]);
    });
  });
}
