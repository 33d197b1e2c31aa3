import { describe, expect, it } from 'vitest';
import type { DebateEvent, EventFrame } from '../../src/contracts/index.js';
import { Outbox, type OutboxTransport, PublishedEvent } from '../../src/server/index.js';

/** A transport whose buffer the test fills and drains by hand. */
class FakeTransport implements OutboxTransport {
  bufferedAmount = 0;
  readonly sent: string[] = [];
  send(data: string | Buffer): void {
    this.sent.push(data.toString());
  }
  frames(): EventFrame[] {
    return this.sent.map((data) => JSON.parse(data) as EventFrame);
  }
}

const base = { runId: 'r', debateId: 'd', at: '2025-01-01T00:00:00.000Z' };
const turn = (critic: string) => ({ round: 0, criticId: critic, candidateId: 'c1', turnId: `0/${critic}/c1` });
const delta = (seq: number, critic: string, text: string): DebateEvent => ({
  type: 'turn-delta',
  ...base,
  seq,
  ...turn(critic),
  text,
});
const turnEnd = (seq: number, critic: string): DebateEvent => ({
  type: 'turn-end',
  ...base,
  seq,
  ...turn(critic),
  status: 'ok',
  usage: { inputTokens: 1, outputTokens: 1, calls: 1, costUsd: 0 },
  attempts: 1,
});

function send(outbox: Outbox, event: DebateEvent): void {
  outbox.sendEvent({ sub: 's1', published: new PublishedEvent(event) });
}

describe('Outbox', () => {
  it('sends straight through while the transport keeps up', () => {
    const transport = new FakeTransport();
    const outbox = new Outbox({ transport, onOverflow: () => undefined });
    send(outbox, delta(1, 'a', 'Hel'));
    send(outbox, delta(2, 'a', 'lo'));
    expect(transport.frames().map((frame) => frame.event.seq)).toEqual([1, 2]);
    expect(outbox.queued).toBe(0);
  });

  it("coalesces a congested turn's deltas in seq order, and keeps turn-end and control frames", () => {
    const transport = new FakeTransport();
    const outbox = new Outbox({ transport, lowWaterMark: 100, onOverflow: () => undefined });
    transport.bufferedAmount = 1_000; // congested: everything waits
    send(outbox, delta(1, 'a', 'Hel'));
    send(outbox, delta(2, 'b', 'Wor'));
    send(outbox, delta(3, 'a', 'lo'));
    send(outbox, delta(4, 'b', 'ld'));
    send(outbox, turnEnd(5, 'a'));
    outbox.sendFrame('{"v":1,"type":"ack","id":"x","for":"run.subscribe"}');
    send(outbox, delta(6, 'b', '!'));
    expect(transport.sent).toEqual([]);
    expect(outbox.queued).toBe(4); // a: "Hello" (seq 3), turn-end 5, ack, b: "World!" (seq 6)
    transport.bufferedAmount = 0;
    outbox.flush();
    const frames = transport.sent.map((data) => JSON.parse(data) as EventFrame | { type: 'ack' });
    const events = frames.flatMap((frame) => (frame.type === 'event' ? [frame] : []));
    expect(events.map((frame) => [frame.event.type, frame.event.seq])).toEqual([
      ['turn-delta', 3],
      ['turn-end', 5],
      ['turn-delta', 6],
    ]);
    expect(events[0]?.event).toMatchObject({ text: 'Hello' });
    expect(events[0]?.coalesced).toBe(2);
    expect(events[2]?.event).toMatchObject({ text: 'World!' });
    expect(events[2]?.coalesced).toBe(3);
    expect(frames[2]).toMatchObject({ type: 'ack' });
    expect(outbox.coalescedDeltas).toBe(3);
  });

  it('reports a client that falls too far behind once, and sends nothing after close', () => {
    const transport = new FakeTransport();
    let overflows = 0;
    const outbox = new Outbox({ transport, lowWaterMark: 10, maxBufferedBytes: 2_000, onOverflow: () => overflows++ });
    transport.bufferedAmount = 1_000;
    for (let seq = 0; seq < 20; seq++) send(outbox, turnEnd(seq, `critic${seq}`));
    expect(overflows).toBe(1);
    outbox.close();
    transport.bufferedAmount = 0;
    outbox.flush();
    send(outbox, turnEnd(99, 'late'));
    expect(transport.sent).toEqual([]);
  });

  it('whenWritable waits for the queue to drain', async () => {
    const transport = new FakeTransport();
    const outbox = new Outbox({ transport, lowWaterMark: 10, flushIntervalMs: 1, onOverflow: () => undefined });
    transport.bufferedAmount = 100;
    send(outbox, turnEnd(1, 'a'));
    let ready = false;
    const writable = outbox.whenWritable().then(() => {
      ready = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(ready).toBe(false);
    transport.bufferedAmount = 0;
    await writable;
    expect(transport.frames().map((frame) => frame.event.seq)).toEqual([1]);
  });
});
