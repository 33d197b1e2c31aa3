import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/models/limiter.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Limiter', () => {
  it('rejects limits that are not positive integers', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) expect(() => new Limiter(limit)).toThrow(RangeError);
  });

  it('runs at most `limit` tasks and starts waiting ones in FIFO order', async () => {
    const limiter = new Limiter(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, index) =>
      limiter.run(async () => {
        started.push(index);
        await gate.promise;
        return index;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(limiter.pending).toBe(2);
    gates[1]?.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0]?.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(limiter.pending).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });

  it('drops a waiting task whose signal aborts, without taking a slot', async () => {
    const limiter = new Limiter(1);
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    const controller = new AbortController();
    let ran = false;
    const second = limiter.run(async () => {
      ran = true;
    }, controller.signal);
    const third = limiter.run(async () => 'third');
    await tick();
    controller.abort(new Error('cancelled'));
    await expect(second).rejects.toThrow('cancelled');
    expect(limiter.pending).toBe(1);
    gate.resolve();
    await first;
    await expect(third).resolves.toBe('third');
    expect(ran).toBe(false);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = new Limiter(1);
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    await expect(limiter.run(async () => 1, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    gate.resolve();
    await first;
  });

  it('resize starts waiting tasks when the limit grows and starts none while running tasks exceed a lower one', async () => {
    const limiter = new Limiter(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, index) =>
      limiter.run(async () => {
        started.push(index);
        await gate.promise;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    limiter.resize(1);
    gates[0]?.resolve();
    await tick();
    // One still runs, and the limit is now 1: nobody starts.
    expect(started).toEqual([0, 1]);
    expect(limiter.running).toBe(1);
    limiter.resize(3);
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(limiter.limit).toBe(3);
    for (const gate of gates) gate.resolve();
    await Promise.all(runs);
    expect(() => limiter.resize(0)).toThrow(RangeError);
  });
});
