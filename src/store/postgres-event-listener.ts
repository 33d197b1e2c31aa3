import pg from 'pg';
import type { EventWakeupSubscription, EventWakeups } from './follow-events.js';

/** The channel a Postgres store notifies in the transaction of every event append; the payload is the run id. */
export const EVENTS_CHANNEL = 'tribunal_events';

/** Longest run id sent as a notification payload (Postgres allows under 8000 bytes); a longer one sends ''. */
const MAX_PAYLOAD_BYTES = 1000;

/** The application name of the listening connection (`pg_stat_activity.application_name`). */
export const LISTEN_APPLICATION_NAME = 'tribunal-listen';

/** First and longest wait before reconnecting a listening connection that died. */
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;

/**
 * The payload that wakes the followers of `runId`: the id itself, or '' (wake every follower) when it is too long for
 * a notification. A wake-up never carries the data: followers read the store after it.
 */
export function notifyPayload(runId: string): string {
  return Buffer.byteLength(runId) <= MAX_PAYLOAD_BYTES ? runId : '';
}

interface Waiter {
  runId: string | undefined;
  onWake: () => void;
}

/**
 * One `LISTEN tribunal_events` connection of a Postgres store, shared by every follower in the process: a notification
 * wakes the followers of its run (an empty payload, every follower). The connection opens with the first subscription;
 * when it dies (a restarted server, `pg_terminate_backend`, a network cut) every follower is woken to re-read what it
 * may have missed, polls until the connection is back (reconnects back off from 50 ms to 2 s), and is woken again
 * once LISTEN is in place, so no committed event is missed: notifications are only wake-ups, the store is the data.
 */
export class PostgresEventListener implements EventWakeups {
  private readonly waiters = new Set<Waiter>();
  private client: pg.Client | undefined;
  /** The connection attempt in progress; resolves (never rejects) when it succeeded or failed. */
  private attempt: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectMs = RECONNECT_MIN_MS;
  private listening = false;
  private closed = false;

  constructor(private readonly options: { url: string; types?: pg.CustomTypesConfig }) {}

  /** Whether notifications arrive now (false before the first LISTEN and while reconnecting). */
  get isListening(): boolean {
    return this.listening;
  }

  subscribeEvents(options: { runId?: string; onWake: () => void }): EventWakeupSubscription {
    const waiter: Waiter = { runId: options.runId, onWake: options.onWake };
    if (this.closed) {
      return { ready: Promise.resolve(), isLive: () => false, unsubscribe: () => undefined };
    }
    this.waiters.add(waiter);
    if (this.client === undefined && this.attempt === undefined && this.reconnectTimer === undefined) this.connect();
    return {
      ready: this.attempt ?? Promise.resolve(),
      isLive: () => this.listening,
      unsubscribe: () => {
        this.waiters.delete(waiter);
      },
    };
  }

  /** Closes the listening connection; later subscriptions are never woken (their followers poll). */
  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.wakeAll(); // followers stop waiting for a notification that will not come
    this.waiters.clear();
    await this.attempt;
    await client?.end().catch(() => undefined);
  }

  private connect(): void {
    const client = new pg.Client({
      connectionString: this.options.url,
      application_name: LISTEN_APPLICATION_NAME,
      ...(this.options.types === undefined ? {} : { types: this.options.types }),
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      this.listening = false;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      // Whatever was committed while the connection died reached no one: every follower re-reads, then polls.
      this.wakeAll();
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL) this.wake(message.payload ?? '');
    });
    this.attempt = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${EVENTS_CHANNEL}`);
        if (lost || this.closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.client = client;
        this.listening = true;
        this.reconnectMs = RECONNECT_MIN_MS;
        // Events committed before LISTEN took effect sent their notifications to no one: every follower re-reads.
        this.wakeAll();
      } catch {
        onLost();
      } finally {
        this.attempt = undefined;
      }
    })();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined || this.waiters.size === 0) return;
    const delay = this.reconnectMs;
    this.reconnectMs = Math.min(RECONNECT_MAX_MS, this.reconnectMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed && this.client === undefined && this.attempt === undefined) this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private wake(runId: string): void {
    for (const waiter of [...this.waiters]) {
      if (runId === '' || waiter.runId === undefined || waiter.runId === runId) waiter.onWake();
    }
  }

  private wakeAll(): void {
    for (const waiter of [...this.waiters]) waiter.onWake();
  }
}
