import { describe, expect, it } from 'vitest';
import { BufferedTurnCache } from '../../src/runner/index.js';
import { openStore } from '../../src/store/index.js';

const turn = (score: number) => ({
  model: 'fake:judge',
  assessment: { rationale: `score ${score}`, principles: [], score, confidence: 0.5 },
  usage: { inputTokens: 10, outputTokens: 5, calls: 1, costUsd: 0 },
});

describe('BufferedTurnCache', () => {
  it('answers new turns from memory and writes them in batches, first value winning', async () => {
    const store = openStore({ file: ':memory:' });
    const batches: number[] = [];
    const recording = {
      getTurn: store.getTurn.bind(store),
      putTurns: async (options: Parameters<typeof store.putTurns>[0]) => {
        batches.push(options.turns.length);
        await store.putTurns(options);
      },
    };
    const cache = new BufferedTurnCache({ store: recording, flushTurns: 3, flushMs: 60_000 });
    await cache.putTurn({ key: 'a', turn: turn(1) });
    await cache.putTurn({ key: 'a', turn: turn(9) });
    await cache.putTurn({ key: 'b', turn: turn(2) });
    expect(batches).toEqual([]);
    expect(await cache.getTurn({ key: 'a' })).toEqual(turn(1));
    expect(await store.getTurn({ key: 'a' })).toBeUndefined();

    await cache.putTurn({ key: 'c', turn: turn(3) }); // the third distinct turn fills a batch
    await cache.flush();
    expect(batches).toEqual([3]);
    expect(await store.getTurn({ key: 'c' })).toEqual(turn(3));

    await cache.putTurn({ key: 'd', turn: turn(4) });
    await cache.flush();
    await cache.flush();
    expect(batches).toEqual([3, 1]);
    expect(await cache.getTurn({ key: 'd' })).toEqual(turn(4));
    expect(await cache.getTurn({ key: 'missing' })).toBeUndefined();
    await store.close();
  });

  it('swallows write failures: the cache only saves calls', async () => {
    const cache = new BufferedTurnCache({
      store: { getTurn: async () => undefined, putTurns: async () => Promise.reject(new Error('disk full')) },
      flushTurns: 1,
    });
    await cache.putTurn({ key: 'a', turn: turn(1) });
    await expect(cache.flush()).resolves.toBeUndefined();
    expect(await cache.getTurn({ key: 'a' })).toBeUndefined();
  });

  it('writes a batch only after beforeWrite, and a full batch only after the caller finished its current step', async () => {
    const order: string[] = [];
    let eventsAppended = 0;
    const cache = new BufferedTurnCache({
      store: {
        getTurn: async () => undefined,
        putTurns: async ({ turns }) => {
          order.push(`cache ${turns.map((entry) => entry.key).join(',')}`);
        },
      },
      flushTurns: 2,
      flushMs: 60_000,
      // The runner flushes its event writer here: every turn-end appended so far must be in it.
      beforeWrite: async () => {
        order.push(`events (${eventsAppended} turn-ends)`);
      },
    });
    // The engine puts a turn, then emits its turn-end: the batch that the second put fills must wait for that.
    await cache.putTurn({ key: 'a', turn: turn(1) });
    eventsAppended += 1;
    await cache.putTurn({ key: 'b', turn: turn(2) });
    eventsAppended += 1;
    await new Promise((resolve) => setImmediate(resolve));
    await cache.flush();
    expect(order).toEqual(['events (2 turn-ends)', 'cache a,b']);

    // A failed beforeWrite skips the batch: no cache entry without its event.
    const skipped = new BufferedTurnCache({
      store: { getTurn: async () => undefined, putTurns: async () => void order.push('written') },
      beforeWrite: async () => Promise.reject(new Error('event log unavailable')),
    });
    await skipped.putTurn({ key: 'c', turn: turn(3) });
    await expect(skipped.flush()).resolves.toBeUndefined();
    expect(order).not.toContain('written');
  });
});
