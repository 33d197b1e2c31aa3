import { describe, expect, test } from 'vitest';
import type { DebateEventInit } from '../../src/engine/event-emitter.js';
import { TurnDeltaBuffer } from '../../src/engine/turn-delta-buffer.js';

const turn = { round: 1, criticId: 'a', candidateId: 'x', turnId: '1/a/x' };

function buffer(intervalMs: number) {
  let clock = 1_000;
  const emitted: DebateEventInit[] = [];
  const deltas = new TurnDeltaBuffer({ emit: (event) => emitted.push(event), turn, intervalMs, now: () => clock });
  return {
    deltas,
    texts: () => emitted.map((event) => (event.type === 'turn-delta' ? event.text : `(${event.type})`)),
    emitted,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('TurnDeltaBuffer', () => {
  test('emits a delta once its oldest token is intervalMs old, and the rest on flush', () => {
    const { deltas, texts, advance } = buffer(200);
    deltas.onToken('a');
    advance(100);
    deltas.onToken('b');
    expect(texts()).toEqual([]);
    advance(100);
    deltas.onToken('c'); // 'a' is 200 ms old now
    expect(texts()).toEqual(['abc']);
    advance(500); // a new delta's clock starts at its first token, not at the last delta
    deltas.onToken('d');
    deltas.onToken('e');
    expect(texts()).toEqual(['abc']);
    deltas.flush();
    deltas.flush(); // nothing left: no empty delta
    expect(texts()).toEqual(['abc', 'de']);
  });

  test('stamps each delta with the turn, as a delta per token would be', () => {
    const { deltas, emitted } = buffer(60_000);
    deltas.onToken('{"score"');
    deltas.onToken(': 7}');
    deltas.flush();
    expect(emitted).toEqual([{ type: 'turn-delta', ...turn, text: '{"score": 7}' }]);
  });

  test('interval 0 emits every token as it comes', () => {
    const { deltas, texts } = buffer(0);
    for (const token of ['a', 'b', 'c']) deltas.onToken(token);
    deltas.flush();
    expect(texts()).toEqual(['a', 'b', 'c']);
  });
});
