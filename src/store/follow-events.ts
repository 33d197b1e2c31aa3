import { setTimeout as sleep } from 'node:timers/promises';
import type { EventLog, FollowEventsOptions, StoredEvent } from './store.js';

/** Default wait between polls when nothing new arrived. */
export const DEFAULT_POLL_MS = 250;

/** A registration for wake-ups (see `EventWakeups`). */
export interface EventWakeupSubscription {
  /** Resolves once notifications for the run reach `onWake`, or once that failed (then the follower polls). */
  readonly ready: Promise<void>;
  /** Whether notifications arrive now; while they do not (connection down), a follower polls. */
  isLive(): boolean;
  unsubscribe(): void;
}

/**
 * A source of wake-ups for committed events, from any process (Postgres: LISTEN/NOTIFY). A wake-up only says "read
 * again": it never carries the events, and a lost one is made up for by the source waking everyone when it reconnects.
 */
export interface EventWakeups {
  /** Calls `onWake` after events of `runId` (of any run when omitted) are committed, until `unsubscribe`. */
  subscribeEvents(options: { runId?: string; onWake: () => void }): EventWakeupSubscription;
}

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

/**
 * Follows an event log the way `pollEvents` does, but waits for a wake-up instead of a timer: it reads `eventsAfter`
 * when woken (and once at the start, after the wake-ups are in place, so nothing committed in between is missed), and
 * polls every `pollMs` only while the wake-ups are down. The data always comes from the log, so a wake-up that carries
 * nothing, comes twice or comes late costs one read, never an event. Ends quietly when `signal` aborts.
 * @example
 * for await (const { event } of wakeupEvents({ log: store, wakeups: listener, runId, afterId, signal })) send(event);
 */
export async function* wakeupEvents(
  options: FollowEventsOptions & { log: Pick<EventLog, 'eventsAfter'>; wakeups: EventWakeups },
): AsyncGenerator<StoredEvent> {
  const { log, signal } = options;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const pageSize = options.pageSize ?? 500;
  let afterId = options.afterId ?? 0;
  let woken = false;
  let release: (() => void) | undefined;
  const subscription = options.wakeups.subscribeEvents({
    ...(options.runId === undefined ? {} : { runId: options.runId }),
    onWake: () => {
      woken = true;
      release?.();
    },
  });
  const onAbort = () => release?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await subscription.ready;
    while (!signal?.aborted) {
      woken = false; // a wake-up from here on may be for events this read misses: it triggers another read
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
      if (page.length >= pageSize || woken || signal?.aborted) continue;
      await new Promise<void>((resolve) => {
        const timer = subscription.isLive() ? undefined : setTimeout(resolve, pollMs);
        release = () => {
          if (timer !== undefined) clearTimeout(timer);
          resolve();
        };
      });
      release = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    subscription.unsubscribe();
  }
}
