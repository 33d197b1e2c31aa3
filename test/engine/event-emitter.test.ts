import { describe, expect, test } from 'vitest';
import { type DebateEvent, DebateEventSchema } from '../../src/contracts/index.js';
import { createEventEmitter } from '../../src/engine/index.js';

describe('event emitter', () => {
  test('stamps ids, increasing seq and ISO time, and delivers in order', () => {
    const events: DebateEvent[] = [];
    const emitter = createEventEmitter({
      runId: 'run',
      debateId: 'debate',
      onEvent: (event) => events.push(event),
      now: () => new Date('2025-01-02T03:04:05.000Z'),
    });
    emitter.emit({ type: 'debate-error', code: 'X', message: 'one' });
    emitter.emit({ type: 'debate-error', code: 'X', message: 'two' });
    expect(events.map((event) => event.seq)).toEqual([0, 1]);
    expect(events[0]).toMatchObject({ runId: 'run', debateId: 'debate', at: '2025-01-02T03:04:05.000Z' });
    for (const event of events) expect(DebateEventSchema.safeParse(event).success).toBe(true);
    expect(emitter.nextSeq).toBe(2);
  });

  test('continues from startSeq, only moves forward, and drops events once closed', () => {
    const events: DebateEvent[] = [];
    const emitter = createEventEmitter({ runId: 'r', debateId: 'd', startSeq: 5, onEvent: (event) => events.push(event) });
    emitter.advanceTo(3);
    expect(emitter.nextSeq).toBe(5);
    emitter.advanceTo(9);
    expect(emitter.emit({ type: 'debate-error', code: 'X', message: 'm' })?.seq).toBe(9);
    emitter.close();
    expect(emitter.emit({ type: 'debate-error', code: 'X', message: 'late' })).toBeUndefined();
    expect(events).toHaveLength(1);
  });

  test('once muted, lets only debate-error through, without a gap in seq', () => {
    const events: DebateEvent[] = [];
    const emitter = createEventEmitter({ runId: 'r', debateId: 'd', onEvent: (event) => events.push(event) });
    emitter.mute();
    expect(emitter.emit({ type: 'round-end', round: 0, candidates: [], converged: false })).toBeUndefined();
    expect(emitter.emit({ type: 'debate-error', code: 'ABORTED', message: 'cancelled' })?.seq).toBe(0);
    expect(events.map((event) => event.type)).toEqual(['debate-error']);
  });
});
