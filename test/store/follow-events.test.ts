import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventWakeups } from '../../src/store/index.js';
import { openStore, type Store, type StoredEvent, wakeupEvents } from '../../src/store/index.js';
import { debateEvents, runConfig } from './store-fixtures.js';

/*
 * `wakeupEvents`, the follower Postgres uses, against a real (SQLite) event log and a scripted wake-up source: it reads
 * when woken and not otherwise, never sleeps through a wake-up that came during a read, and polls while wake-ups are
 * down. (test/store/postgres-watch.test.ts runs it on Postgres's LISTEN/NOTIFY across processes.)
 */

/** A wake-up source driven by the test: `wake()` wakes every subscriber; `live` says whether wake-ups arrive. */
function scriptedWakeups(): EventWakeups & { wake(): void; live: boolean; subscribers: number } {
  const waiters = new Set<() => void>();
  const source = {
    live: true,
    get subscribers() {
      return waiters.size;
    },
    wake: () => {
      for (const waiter of [...waiters]) waiter();
    },
    subscribeEvents: (options: { runId?: string; onWake: () => void }) => {
      waiters.add(options.onWake);
      return { ready: Promise.resolve(), isLive: () => source.live, unsubscribe: () => waiters.delete(options.onWake) };
    },
  };
  return source;
}

/** A store whose `eventsAfter` calls are counted and may run a hook after each read. */
function countingLog(store: Store, afterRead?: (reads: number) => Promise<void>) {
  const log = {
    reads: 0,
    eventsAfter: async (options: Parameters<Store['eventsAfter']>[0]) => {
      const page = await store.eventsAfter(options);
      log.reads += 1;
      await afterRead?.(log.reads);
      return page;
    },
  };
  return log;
}

async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited++) {
    if (waited > 2000) throw new Error('timed out waiting for a condition');
    await sleep(5);
  }
}

describe('wakeupEvents', () => {
  it('reads once at the start and then only when woken', async () => {
    const store = openStore({ file: ':memory:' });
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    const wakeups = scriptedWakeups();
    const log = countingLog(store);
    const controller = new AbortController();
    const got: StoredEvent[] = [];
    const follow = (async () => {
      for await (const stored of wakeupEvents({ log, wakeups, runId: run.id, signal: controller.signal, pollMs: 1 })) {
        got.push(stored);
      }
    })();
    await until(() => log.reads === 1);
    const events = debateEvents({ runId: run.id, debateId: 'd1', deltas: 2 });
    await store.appendEvents({ events });
    await sleep(30); // thirty poll intervals: a poller would have read again by now
    expect(log.reads).toBe(1);
    expect(got).toEqual([]);
    wakeups.wake();
    await until(() => got.length === events.length);
    expect(got.map((stored) => stored.event)).toEqual(events);
    controller.abort();
    await follow;
    expect(wakeups.subscribers).toBe(0);
    await store.close();
  });

  it('reads again when a wake-up came while it was reading (the commit landed after the read)', async () => {
    const store = openStore({ file: ':memory:' });
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    const wakeups = scriptedWakeups();
    const events = debateEvents({ runId: run.id, debateId: 'd1', deltas: 1 });
    // The first read finds nothing; then another process commits and its notification arrives before the read returns.
    const log = countingLog(store, async (reads) => {
      if (reads !== 1) return;
      await store.appendEvents({ events });
      wakeups.wake();
    });
    const controller = new AbortController();
    const got: StoredEvent[] = [];
    const follow = (async () => {
      for await (const stored of wakeupEvents({ log, wakeups, runId: run.id, signal: controller.signal, pollMs: 60_000 })) {
        got.push(stored);
      }
    })();
    await until(() => got.length === events.length);
    expect(got.map((stored) => stored.event)).toEqual(events);
    controller.abort();
    await follow;
    await store.close();
  });

  it('polls every pollMs while wake-ups are down, and ends quietly when aborted', async () => {
    const store = openStore({ file: ':memory:' });
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    const wakeups = scriptedWakeups();
    wakeups.live = false;
    const log = countingLog(store);
    const controller = new AbortController();
    const got: StoredEvent[] = [];
    const follow = (async () => {
      for await (const stored of wakeupEvents({ log, wakeups, runId: run.id, signal: controller.signal, pollMs: 2 })) {
        got.push(stored);
      }
    })();
    const events = debateEvents({ runId: run.id, debateId: 'd1', deltas: 1 });
    await store.appendEvents({ events });
    await until(() => got.length === events.length); // no wake-up: the poll found them
    expect(log.reads).toBeGreaterThan(1);
    controller.abort();
    await follow;
    await store.close();
  });
});
