import type { DebateEvent } from '../contracts/index.js';
import { PublishedEvent } from './outbox.js';
import type { RunSource } from './run-catalog.js';

/** What a subscription delivers to: one client connection. */
export interface Subscriber {
  /** Sends one event (encoded once per publish, shared by every subscriber). */
  deliver(options: { sub: string; published: PublishedEvent }): void;
  /** The replay is done; live events follow. */
  live(options: { sub: string; replayed: number }): void;
  /** The subscription failed (its store became unreadable); it is removed. */
  failed(options: { sub: string; error: unknown }): void;
  /** Resolves when the client can take more (replays pace on it). */
  whenWritable(): Promise<void>;
  readonly closed: boolean;
}

/** Options of `DebateHub.subscribe`. */
export interface SubscribeOptions {
  /** The subscription id, unique on its connection. */
  sub: string;
  source: RunSource;
  /** One debate; the whole run when omitted. */
  debateId?: string;
  /** See the `run.subscribe` frame: a number with `debateId`, a map without; omitted on a run means live only. */
  afterSeq?: number | Record<string, number>;
  subscriber: Subscriber;
}

/** A subscription as the hub keeps it. */
export interface Subscription {
  readonly sub: string;
  readonly source: RunSource;
  readonly debateId: string | undefined;
  readonly subscriber: Subscriber;
  /** Resolves when the replay is done (or failed). */
  readonly ready: Promise<void>;
}

interface SubscriptionState extends Subscription {
  /** Highest seq delivered per debate: nothing at or below it is sent again. */
  lastSeq: Map<string, number>;
  replaying: boolean;
  /** Live events that arrived during the replay, delivered after it. */
  pending: PublishedEvent[];
  active: boolean;
  ready: Promise<void>;
}

interface Follower {
  controller: AbortController;
  subscriptions: number;
  /** Resolves once the follower's starting id is read: a replay reads the store only after it, so nothing falls between. */
  started: Promise<void>;
}

/** Events per store read during a replay. */
const REPLAY_PAGE = 500;

/**
 * Fans debate events out to subscribers and replays what they missed. Events reach the hub two ways: debates
 * running in this process publish each event as it is emitted (`publishLive`, and their events stay in memory
 * until the store has them), and runs written by another process (`tribunal label`) are followed through their
 * store, one poller per run however many watch it. A new subscription first replays the events after its
 * `afterSeq` (from memory for a running live debate, else from the store), then receives live events; events that
 * arrive during the replay wait and are de-duplicated by seq, so a reconnecting client gets exactly what it missed.
 * Each publish encodes the event once per subscription id; delivery is a send or a queue append per subscriber, so a slow client costs the
 * others nothing.
 */
export class DebateHub {
  private readonly index = new Map<string, Set<SubscriptionState>>();
  private readonly memory = new Map<string, { source: RunSource; events: DebateEvent[] }>();
  private readonly followers = new Map<string, Follower>();
  private readonly pollMs: number;
  /** Events published (live and followed) since start, for stats. */
  published = 0;

  constructor(options: { pollMs?: number } = {}) {
    this.pollMs = options.pollMs ?? 100;
  }

  /** Subscriptions currently open. */
  get subscriptionCount(): number {
    let count = 0;
    for (const set of this.index.values()) count += set.size;
    return count;
  }

  /** Starts holding a live debate's events in memory, so subscribers replay it before the store has it. */
  beginLive(options: { source: RunSource; debateId: string }): void {
    this.memory.set(options.debateId, { source: options.source, events: [] });
  }

  /** The events of a live debate held in memory, or undefined. */
  liveEvents(debateId: string): readonly DebateEvent[] | undefined {
    return this.memory.get(debateId)?.events;
  }

  /** Publishes an event of a debate running in this process. */
  publishLive(options: { source: RunSource; event: DebateEvent }): void {
    this.memory.get(options.event.debateId)?.events.push(options.event);
    this.publish(options.source, options.event);
  }

  /** Drops a live debate's events from memory; call once the store holds them all. */
  endLive(debateId: string): void {
    this.memory.delete(debateId);
  }

  /**
   * Subscribes to a run or one debate: replays the events after `afterSeq`, calls `subscriber.live`, then delivers
   * live events. The returned subscription's `ready` resolves when the replay is done.
   */
  subscribe(options: SubscribeOptions): Subscription {
    const state: SubscriptionState = {
      sub: options.sub,
      source: options.source,
      debateId: options.debateId,
      subscriber: options.subscriber,
      lastSeq: new Map(),
      replaying: true,
      pending: [],
      active: true,
      ready: Promise.resolve(),
    };
    const key = this.indexKey(options.source, options.debateId);
    let set = this.index.get(key);
    if (!set) {
      set = new Set();
      this.index.set(key, set);
    }
    set.add(state);
    const followerStarted = options.source.live ? undefined : this.retainFollower(options.source);
    state.ready = this.replay(state, options.afterSeq, followerStarted).then(
      (replayed) => {
        if (!state.active) return;
        state.replaying = false;
        const pending = state.pending;
        state.pending = [];
        state.subscriber.live({ sub: state.sub, replayed });
        for (const published of pending) this.offer(state, published);
      },
      (error: unknown) => {
        if (!state.active) return;
        this.unsubscribe(state);
        state.subscriber.failed({ sub: state.sub, error });
      },
    );
    return state;
  }

  /** Ends a subscription; nothing more is delivered to it. */
  unsubscribe(subscription: Subscription): void {
    const state = subscription as SubscriptionState;
    if (!state.active) return;
    state.active = false;
    state.pending = [];
    const key = this.indexKey(state.source, state.debateId);
    const set = this.index.get(key);
    set?.delete(state);
    if (set?.size === 0) this.index.delete(key);
    if (!state.source.live) this.releaseFollower(state.source);
  }

  /** Stops every follower and forgets every subscription. */
  close(): void {
    for (const follower of this.followers.values()) follower.controller.abort();
    this.followers.clear();
    this.index.clear();
    this.memory.clear();
  }

  private publish(source: RunSource, event: DebateEvent): void {
    this.published++;
    const one = this.index.get(this.indexKey(source, event.debateId));
    const all = this.index.get(this.indexKey(source, undefined));
    if (!one && !all) return;
    const published = new PublishedEvent(event);
    if (one) for (const state of one) this.offer(state, published);
    if (all) for (const state of all) this.offer(state, published);
  }

  private offer(state: SubscriptionState, published: PublishedEvent): void {
    if (!state.active || state.subscriber.closed) return;
    if (state.replaying) {
      state.pending.push(published);
      return;
    }
    const { event } = published;
    const last = state.lastSeq.get(event.debateId);
    if (last !== undefined && event.seq <= last) return;
    state.lastSeq.set(event.debateId, event.seq);
    state.subscriber.deliver({ sub: state.sub, published });
  }

  /** Sends the stored (or in-memory) events after the subscription's resume points; returns how many. */
  private async replay(
    state: SubscriptionState,
    afterSeq: number | Record<string, number> | undefined,
    followerStarted: Promise<void> | undefined,
  ): Promise<number> {
    // An event committed after the follower's starting id reaches the subscription live; one committed before it must
    // be in what the replay reads, so the replay reads only once that id is fixed.
    await followerStarted;
    const points = new Map<string, number>();
    if (state.debateId !== undefined) {
      points.set(state.debateId, typeof afterSeq === 'number' ? afterSeq : (afterSeq?.[state.debateId] ?? -1));
    } else if (afterSeq !== undefined) {
      const map = typeof afterSeq === 'number' ? {} : afterSeq;
      for (const debate of await state.source.store.listDebates({ runId: state.source.runId })) {
        points.set(debate.debateId, map[debate.debateId] ?? -1);
      }
      for (const [debateId, held] of this.memory) {
        if (held.source.key === state.source.key && !points.has(debateId)) points.set(debateId, map[debateId] ?? -1);
      }
    }
    let replayed = 0;
    for (const [debateId, after] of points) {
      state.lastSeq.set(debateId, after);
      const held = this.memory.get(debateId);
      if (held !== undefined && held.source.key === state.source.key) {
        for (const event of held.events.slice()) replayed += this.replayOne(state, event);
        continue;
      }
      let cursor = after;
      for (;;) {
        if (!state.active || state.subscriber.closed) return replayed;
        await state.subscriber.whenWritable();
        const page = await state.source.store.eventsAfter({
          runId: state.source.runId,
          debateId,
          afterSeq: cursor,
          limit: REPLAY_PAGE,
        });
        for (const { event } of page) {
          replayed += this.replayOne(state, event);
          cursor = event.seq;
        }
        if (page.length < REPLAY_PAGE) break;
      }
    }
    return replayed;
  }

  private replayOne(state: SubscriptionState, event: DebateEvent): number {
    if (!state.active) return 0;
    const last = state.lastSeq.get(event.debateId) ?? -1;
    if (event.seq <= last) return 0;
    state.lastSeq.set(event.debateId, event.seq);
    state.subscriber.deliver({ sub: state.sub, published: new PublishedEvent(event) });
    return 1;
  }

  /**
   * One follower per watched run (the store's `followEvents`: polling for SQLite, LISTEN/NOTIFY wake-ups for
   * Postgres), started with its first subscriber and stopped with its last. Resolves once its starting id is read.
   */
  private retainFollower(source: RunSource): Promise<void> {
    const existing = this.followers.get(source.key);
    if (existing) {
      existing.subscriptions++;
      return existing.started;
    }
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const follower: Follower = { controller: new AbortController(), subscriptions: 1, started };
    this.followers.set(source.key, follower);
    const { signal } = follower.controller;
    void (async () => {
      let afterId: number;
      try {
        afterId = await source.store.latestEventId({ runId: source.runId });
      } finally {
        markStarted();
      }
      for await (const { event } of source.store.followEvents({ runId: source.runId, afterId, signal, pollMs: this.pollMs })) {
        this.publish(source, event);
      }
    })().catch((error: unknown) => {
      if (signal.aborted) return;
      this.followers.delete(source.key);
      for (const key of [...this.index.keys()]) {
        if (!key.startsWith(`${source.key}\u0001`)) continue;
        for (const state of [...(this.index.get(key) ?? [])]) {
          this.unsubscribe(state);
          state.subscriber.failed({ sub: state.sub, error });
        }
      }
    });
    return started;
  }

  private releaseFollower(source: RunSource): void {
    const follower = this.followers.get(source.key);
    if (!follower) return;
    follower.subscriptions--;
    if (follower.subscriptions <= 0) {
      follower.controller.abort();
      this.followers.delete(source.key);
    }
  }

  private indexKey(source: RunSource, debateId: string | undefined): string {
    return `${source.key}\u0001${debateId ?? '*'}`;
  }
}
