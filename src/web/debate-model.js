// The state of one debate, folded from its DebateEvent stream (src/contracts/events.ts). Pure data: the renderer
// reads it; nothing here touches the DOM.

import { JsonField } from './json-field.js';

export class DebateModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** Every event applied, in order (for replay). */
    this.events = [];
    this.start = undefined;
    /** @type {Map<string, object>} turnId -> turn */
    this.turns = new Map();
    /** round-end events by round. */
    this.rounds = new Map();
    /** tool-result events by candidate id (the sandbox's run of its code). */
    this.tools = new Map();
    this.verdict = undefined;
    this.end = undefined;
    this.error = undefined;
    this.lastSeq = -1;
  }

  get status() {
    if (this.error) return 'failed';
    if (this.end) return 'done';
    if (this.start) return 'running';
    return 'waiting';
  }

  get critics() {
    return this.start?.critics ?? [];
  }

  get candidateIds() {
    return this.start?.candidates.map((candidate) => candidate.id) ?? [];
  }

  /**
   * Applies one event; returns what changed so the renderer can update just that:
   * `{ kind: 'start' | 'turn' | 'delta' | 'tool' | 'round' | 'verdict' | 'end' | 'error', turn?, text?, candidateId? }`.
   */
  apply(event) {
    if (event.seq <= this.lastSeq) return undefined;
    this.lastSeq = event.seq;
    this.events.push(event);
    switch (event.type) {
      case 'debate-start':
        this.start = event;
        return { kind: 'start' };
      case 'turn-start': {
        const turn = {
          turnId: event.turnId,
          round: event.round,
          criticId: event.criticId,
          candidateId: event.candidateId,
          raw: '',
          text: '',
          field: new JsonField('rationale'),
          status: 'streaming',
          score: undefined,
        };
        this.turns.set(event.turnId, turn);
        return { kind: 'turn', turn };
      }
      case 'turn-delta': {
        const turn = this.turns.get(event.turnId);
        if (!turn) return undefined;
        turn.raw += event.text;
        const decoded = turn.field.push(event.text);
        turn.text += decoded;
        return { kind: 'delta', turn, text: decoded };
      }
      case 'turn-end': {
        let turn = this.turns.get(event.turnId);
        if (!turn) {
          turn = {
            turnId: event.turnId,
            round: event.round,
            criticId: event.criticId,
            candidateId: event.candidateId,
            raw: '',
            text: '',
          };
          this.turns.set(event.turnId, turn);
        }
        turn.status = event.status;
        turn.score = event.assessment?.score;
        turn.preferred = event.judgment?.preferred;
        turn.error = event.error;
        const rationale = event.assessment?.rationale ?? event.judgment?.rationale;
        if (rationale && turn.text.length === 0) turn.text = rationale;
        return { kind: 'turn', turn };
      }
      case 'tool-result':
        this.tools.set(event.candidateId, event);
        return { kind: 'tool', candidateId: event.candidateId };
      case 'round-end':
        this.rounds.set(event.round, event);
        return { kind: 'round' };
      case 'verdict':
        this.verdict = event;
        return { kind: 'verdict' };
      case 'debate-end':
        this.end = event;
        return { kind: 'end' };
      case 'debate-error':
        this.error = event;
        return { kind: 'error' };
      default:
        return undefined;
    }
  }

  /** Turns of one critic, in round then candidate order. */
  turnsOf(criticId) {
    const order = this.candidateIds;
    return [...this.turns.values()]
      .filter((turn) => turn.criticId === criticId)
      .sort((a, b) => a.round - b.round || order.indexOf(a.candidateId) - order.indexOf(b.candidateId));
  }

  /** Mean score per candidate per round (from round-end events): [{ candidateId, points: [{ round, score }] }]. */
  scoreSeries() {
    const series = new Map(this.candidateIds.map((id) => [id, []]));
    for (const round of [...this.rounds.values()].sort((a, b) => a.round - b.round)) {
      for (const candidate of round.candidates) {
        const scores = Object.values(candidate.scores);
        if (scores.length === 0) continue;
        const mean = scores.reduce((sum, score) => sum + score, 0) / scores.length;
        series.get(candidate.candidateId)?.push({ round: round.round, score: mean });
      }
    }
    return [...series.entries()].map(([candidateId, points]) => ({ candidateId, points }));
  }
}

/**
 * How a failed turn is shown: `refused` for a refusal or content filter (with the provider's stop reason and what the
 * model said), `failed` otherwise. Returns `{ label, title, said }`; `said` is the refusal text or ''.
 */
export function turnFailure(turn) {
  const error = turn?.error;
  if (error?.code === 'REFUSED') {
    const reason = error.stopReason ? ` (stop reason ${error.stopReason})` : '';
    return { label: 'refused', title: `Refused${reason}: ${error.message}`, said: error.refusal ?? '' };
  }
  return { label: 'failed', title: error ? `${error.code}: ${error.message}` : 'failed', said: '' };
}

/**
 * A tool-result as the viewer shows it, as plain strings (the renderer makes text nodes of them):
 * `{ summary, error, stdout, stderr }`; `error`, `stdout` and `stderr` are '' when there is none.
 */
export function toolResultView(event) {
  const result = event.result;
  const passed = result.tests.filter((test) => test.passed).length;
  const tests = event.withTests ? ` · ${passed}/${result.tests.length} tests passed` : ' · no tests';
  const summary = `${event.tool}: ${result.status}${tests} · ${Math.round(result.timeMs)} ms`;
  const error = result.error
    ? `${result.error.type}: ${result.error.message}${result.error.traceback ? `\n${result.error.traceback}` : ''}`
    : '';
  const output = (stream) =>
    stream.bytes === 0 ? '' : `${stream.text}${stream.truncated ? `\n… (${stream.bytes} bytes written)` : ''}`;
  return { summary, error, stdout: output(result.stdout), stderr: output(result.stderr) };
}
