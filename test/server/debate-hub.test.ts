import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DebateEvent } from '../../src/contracts/index.js';
import { DebateHub, type Subscriber } from '../../src/server/debate-hub.js';
import type { RunSource } from '../../src/server/run-catalog.js';
import { openStore, type Store } from '../../src/store/index.js';
import { debateEvents, runConfig } from '../store/store-fixtures.js';

/** A subscriber that keeps what it is sent. */
function recorder(): Subscriber & { events: DebateEvent[]; isLive: boolean } {
  const subscriber = {
    events: [] as DebateEvent[],
    isLive: false,
    closed: false,
    deliver: ({ published }: { published: { event: DebateEvent } }) => {
      subscriber.events.push(published.event);
    },
    live: () => {
      subscriber.isLive = true;
    },
    failed: ({ error }: { error: unknown }) => {
      throw error;
    },
    whenWritable: () => Promise.resolve(),
  };
  return subscriber;
}

describe('DebateHub following a run written by another process', () => {
  it('delivers an event committed while the follower reads its starting id (the replay waits for that id)', async () => {
    const store = openStore({ file: ':memory:' });
    const { run } = await store.createOrResumeRun({ config: runConfig() });
    const events = debateEvents({ runId: run.id, debateId: 'd1', deltas: 2 });
    await store.appendEvents({ events: events.slice(0, 2) });
    // The other process commits seq 2 while the follower's latestEventId is in flight; before the fix the replay had
    // already read d1 (seq 0-1) by then and the follower started after seq 2: seq 2 reached no one.
    let replayRead = false;
    const racing = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'eventsAfter') {
          return (...args: Parameters<Store['eventsAfter']>) => {
            replayRead = true;
            return target.eventsAfter(...args);
          };
        }
        if (property === 'latestEventId') {
          return async (...args: Parameters<Store['latestEventId']>) => {
            for (let waited = 0; !replayRead && waited < 20; waited++) await sleep(5);
            await target.appendEvents({ events: events.slice(2, 3) });
            return target.latestEventId(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const hub = new DebateHub({ pollMs: 5 });
    const source: RunSource = { key: 'k', runId: run.id, store: racing, dir: '.', live: false };
    const subscriber = recorder();
    const subscription = hub.subscribe({ sub: 's1', source, afterSeq: {}, subscriber });
    await subscription.ready;
    await store.appendEvents({ events: events.slice(3) });
    for (let waited = 0; subscriber.events.length < events.length && waited < 400; waited++) await sleep(5);
    expect(subscriber.events.map((event) => event.seq)).toEqual(events.map((event) => event.seq));
    hub.close();
    await store.close();
  });
});
