import type { DebateEventInit } from './event-emitter.js';

/**
 * Joins the tokens of one turn into fewer `turn-delta` events: a delta holds the text of every token since the last
 * one and is emitted once its oldest token is `intervalMs` old (checked as tokens arrive) and by `flush()`, which the
 * turn calls when its model call returns, before `turn-end`. The text is the same, in order, in fewer events. For
 * runs that nobody watches token by token in process (`tribunal label`, `tribunal worker`): their store merges a
 * turn's deltas per write batch anyway (`EventWriter`), so a watcher reading the store sees about what it saw before,
 * for a fraction of the events. A class, not a closure: see `deltaEmitter` in run-turn.ts.
 * @example
 * const deltas = new TurnDeltaBuffer({ emit, turn: { round, criticId, candidateId, turnId }, intervalMs: 200 });
 * await model.structured({ ...request, onToken: deltas.onToken });
 * deltas.flush();
 */
export class TurnDeltaBuffer {
  private readonly emit: (event: DebateEventInit) => void;
  private readonly turn: { round: number; criticId: string; candidateId: string; turnId: string };
  private readonly intervalMs: number;
  private readonly now: () => number;
  private texts: string[] = [];
  private oldestAt = 0;

  constructor(options: {
    emit: (event: DebateEventInit) => void;
    turn: { round: number; criticId: string; candidateId: string; turnId: string };
    /** Longest a token waits for the next delta (0: a delta per token). */
    intervalMs: number;
    /** Clock in ms, replaceable in tests. */
    now?: () => number;
  }) {
    this.emit = options.emit;
    this.turn = options.turn;
    this.intervalMs = Math.max(0, options.intervalMs);
    this.now = options.now ?? Date.now;
  }

  /** Takes one token (the model's `onToken`). */
  readonly onToken = (text: string): void => {
    if (this.texts.length === 0) this.oldestAt = this.now();
    this.texts.push(text);
    if (this.now() - this.oldestAt >= this.intervalMs) this.flush();
  };

  /** Emits the tokens not emitted yet as one delta (nothing when there are none). */
  flush(): void {
    if (this.texts.length === 0) return;
    const text = this.texts.length === 1 ? (this.texts[0] as string) : this.texts.join('');
    this.texts = [];
    const { round, criticId, candidateId, turnId } = this.turn;
    this.emit({ type: 'turn-delta', round, criticId, candidateId, turnId, text });
  }
}
