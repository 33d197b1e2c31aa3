import type { DebateEvent } from '../contracts/index.js';
import type { StoredEvent } from './store.js';

/** Most events one row of the event log holds: a run of one debate's turn-delta events (`insertEvents`). */
export const MAX_PACKED_EVENTS = 256;

/** Whether an events row's payload is a packed run of events (a JSON array) rather than one event. */
export function isPacked(payload: string): boolean {
  return payload.charCodeAt(0) === 0x5b; // '['
}

/**
 * Turns event rows into stored events: a packed row gives each of its events the id reserved for it (the row's id is
 * its last event's, the others count down from it), so ids stay unique and increasing and a cursor may stop inside a
 * row. Keeps the events after `afterId` (and, for one debate, after `afterSeq`), at most `limit`. Shared by every
 * store that packs turn-delta runs (SQLite, Postgres).
 */
export function unpackRows(options: {
  rows: ReadonlyArray<{ id: number; payload: string }>;
  limit: number;
  afterId: number;
  afterSeq: number | undefined;
}): StoredEvent[] {
  const { limit, afterId, afterSeq } = options;
  const out: StoredEvent[] = [];
  for (const row of options.rows) {
    if (out.length >= limit) break;
    if (!isPacked(row.payload)) {
      out.push({ id: row.id, event: JSON.parse(row.payload) as DebateEvent });
      continue;
    }
    const events = JSON.parse(row.payload) as DebateEvent[];
    const firstId = row.id - events.length + 1;
    for (let index = 0; index < events.length && out.length < limit; index++) {
      const event = events[index] as DebateEvent;
      const id = firstId + index;
      if (id > afterId && (afterSeq === undefined || event.seq > afterSeq)) out.push({ id, event });
    }
  }
  return out;
}
