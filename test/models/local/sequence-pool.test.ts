import { describe, expect, it } from 'vitest';
import { SequencePool } from '../../../src/models/local/sequence-pool.js';

describe('SequencePool', () => {
  it('lends each item once and queues callers beyond its size in arrival order', async () => {
    const pool = new SequencePool(['a', 'b']);
    const first = await pool.acquire();
    const second = await pool.acquire();
    expect(new Set([first, second])).toEqual(new Set(['a', 'b']));
    expect(pool.available).toBe(0);
    const order: string[] = [];
    const third = pool.acquire().then((item) => order.push(`third:${item}`));
    const fourth = pool.acquire().then((item) => order.push(`fourth:${item}`));
    expect(pool.waiting).toBe(2);
    pool.release(second);
    pool.release(first);
    await Promise.all([third, fourth]);
    expect(order).toEqual([`third:${second}`, `fourth:${first}`]);
    expect(pool.available).toBe(0);
  });

  it('prefers the free item with the highest score', async () => {
    const pool = new SequencePool([1, 5, 3]);
    expect(await pool.acquire({ prefer: (item) => item })).toBe(5);
    expect(await pool.acquire({ prefer: (item) => -item })).toBe(1);
  });

  it('removes an aborted waiter from the queue and rejects with the reason', async () => {
    const pool = new SequencePool(['only']);
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire({ signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect(pool.waiting).toBe(0);
    pool.release(held);
    expect(pool.available).toBe(1);
  });

  it('returns the item when the task fails', async () => {
    const pool = new SequencePool(['only']);
    await expect(
      pool.use(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(pool.available).toBe(1);
    expect(() => pool.release('only')).toThrow('not lent');
  });

  it('closes by rejecting waiters and resolving once lent items are back', async () => {
    const pool = new SequencePool(['only']);
    const held = await pool.acquire();
    const waiting = pool.acquire();
    let closed = false;
    const closing = pool.close(new Error('closed')).then(() => {
      closed = true;
    });
    await expect(waiting).rejects.toThrow('closed');
    await expect(pool.acquire()).rejects.toThrow('closed');
    await Promise.resolve();
    expect(closed).toBe(false);
    pool.release(held);
    await closing;
    expect(closed).toBe(true);
  });
});
