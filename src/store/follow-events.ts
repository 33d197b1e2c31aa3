import { setTimeout as sleep } from 'node:timers/promises';
import type { EventLog, FollowEventsOptions, StoredEvent } from './store.js';

/** Default wait between polls when nothing new arrived. */
export const DEFAULT_POLL_MS = 250;

/**
 * Follows an event log by polling `eventsAfter` with the last id seen: any backend whose ids grow in commit order
 * (SQLite's single writer guarantees it) can be followed this way, from another process too. Ends quietly when
 * `signal` aborts.
 * @example
 * for await (const { id, event } of pollEvents({ log: store, runId, afterId: 0, signal })) send(id, event);
 */
export async function* pollEvents(
  options: FollowEventsOptions & { log: Pick<EventLog, 'eventsAfter'> },
): AsyncGenerator<StoredEvent> {
  const { log, signal } = options;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const pageSize = options.pageSize ?? 500;
  let afterId = options.afterId ?? 0;
  while (!signal?.aborted) {
    const page = await log.eventsAfter({
      ...(options.runId === undefined ? {} : { runId: options.runId }),
      afterId,
      limit: pageSize,
    });
    for (const stored of page) {
      if (signal?.aborted) return;
      afterId = stored.id;
      yield stored;
    }
    if (page.length < pageSize) {
      try {
        await sleep(pollMs, undefined, signal ? { signal } : undefined);
      } catch {
        return; // aborted while waiting
      }
    }
  }
}
