import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { RawData, WebSocket } from 'ws';
import {
  type AckFrame,
  CLIENT_FRAME_TYPES,
  type ClientFrame,
  ClientFrameSchema,
  type DebateEvent,
  type ErrorFrame,
  type HelloFrame,
  PROTOCOL_VERSION,
  type ProtocolErrorCode,
  TribunalError,
} from '../contracts/index.js';
import { redactText } from '../models/index.js';
import type { VerdictOverride } from '../store/index.js';
import { RUN_FILES } from '../trainer/index.js';
import type { Access } from './auth.js';
import { CLOSE, closeCodeFor, closeReason } from './close-codes.js';
import type { DebateHub, Subscriber, Subscription } from './debate-hub.js';
import { boundMessage, describeUntrusted, jsonNestingExceeds } from './frame-guard.js';
import type { LiveDebates } from './live-debates.js';
import { Outbox, type OutboxTransport } from './outbox.js';
import type { RunCatalog, RunSource } from './run-catalog.js';
import { noRunMessage, type RunsRoot } from './runs-root.js';
import type { ServeLimits } from './server-limits.js';
import { type Clock, TokenBucket } from './token-bucket.js';
import { followTrainingRun, resolveTrainingRunDir } from './training-runs.js';

/** What every connection of a server shares. */
export interface ConnectionContext {
  hub: DebateHub;
  live: LiveDebates;
  catalog: RunCatalog;
  limits: ServeLimits;
  hello: (access: Access) => HelloFrame;
  /** Scrubbed from error messages sent to clients. */
  secrets: readonly string[];
  log: (line: string) => void;
  /** Confines the run directories clients name (`run`, `runDir`). */
  root: RunsRoot;
  /** How often a followed training run's events.jsonl is polled. Default 250 ms. */
  trainPollMs?: number;
  clock?: Clock;
}

/** Frames a `read` token may not send: they start, stop or change something. */
const OPERATOR_FRAMES: ReadonlySet<ClientFrame['type']> = new Set(['debate.start', 'run.cancel', 'verdict.override']);

/** A request that failed with a protocol code; becomes an `error` frame. */
class RequestError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Invalid events.jsonl lines logged (by number, never content) per training subscription; later ones are skipped silently. */
const SKIPPED_LINES_LOGGED = 5;

/** Error messages sent to clients are cut to this length (after secrets are scrubbed). */
const MAX_ERROR_MESSAGE_CHARS = 1000;

/** Codes a client earns a strike for: enough of them in a burst closes the connection with 1008. */
const STRIKE_CODES: ReadonlySet<ProtocolErrorCode> = new Set([
  'BAD_JSON',
  'BAD_FRAME',
  'UNKNOWN_TYPE',
  'UNSUPPORTED_VERSION',
  'RATE_LIMITED',
]);

/**
 * One client connection: validates every frame with zod at the edge, answers each request with an `ack` or an
 * `error`, holds the client's subscriptions (debate runs through the hub, training runs by tailing their
 * events.jsonl), and sends through an `Outbox` so a slow client only slows itself.
 * Limits: message rate (token bucket), concurrent debates, subscriptions; bad frames earn strikes, and a client
 * that keeps sending them is closed with 1008.
 */
export class Connection {
  readonly id = randomUUID();
  /** Cleared at each heartbeat ping, set by the pong. */
  alive = true;
  private readonly outbox: Outbox;
  private readonly subscriptions = new Map<string, Subscription>();
  /** Training subscriptions: aborting one stops its tail. */
  private readonly trainings = new Map<string, AbortController>();
  private readonly rate: TokenBucket;
  private readonly strikes: TokenBucket;
  private readonly subscriber: Subscriber;
  private nextSub = 1;
  private starting = 0;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly context: ConnectionContext,
    /** What this connection's token may do. */
    readonly access: Access = 'operator',
  ) {
    const { limits } = context;
    const clock = context.clock === undefined ? {} : { clock: context.clock };
    this.rate = new TokenBucket({ capacity: limits.messageBurst, perSecond: limits.messagesPerSecond, ...clock });
    this.strikes = new TokenBucket({ capacity: limits.maxStrikes, perSecond: limits.strikesForgivenPerSecond, ...clock });
    this.outbox = new Outbox({
      transport: corkedPerTick(ws),
      lowWaterMark: limits.lowWaterMark,
      maxBufferedBytes: limits.maxBufferedBytes,
      onOverflow: () => this.closeSlow(),
    });
    const connection = this;
    // The hub calls these from debates and followers: an exception here ends this connection, never the caller.
    this.subscriber = {
      deliver: (options) =>
        this.guarded(() => {
          this.outbox.sendEvent(options);
          const { type } = options.published.event;
          if (type === 'debate-end' || type === 'debate-error') this.debateEnded(options.sub);
        }),
      live: ({ sub, replayed }) =>
        this.guarded(() => this.sendFrame({ v: PROTOCOL_VERSION, type: 'subscription.live', sub, replayed })),
      failed: ({ sub, error }) =>
        this.guarded(() => {
          this.subscriptions.delete(sub);
          this.sendError({ sub, ...this.describe(error) });
        }),
      whenWritable: () => this.outbox.whenWritable(),
      get closed() {
        return connection.closed;
      },
    };
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', () => this.dispose());
    ws.on('error', (error) => this.guarded(() => context.log(`connection ${this.id}: ${boundMessage(error.message, 500)}`)));
    this.sendFrame(context.hello(access));
  }

  /** Frames waiting in this connection's outbox, and deltas it has merged (for stats and tests). */
  get backlog(): { queued: number; coalesced: number; buffered: number } {
    return { queued: this.outbox.queued, coalesced: this.outbox.coalescedDeltas, buffered: this.ws.bufferedAmount };
  }

  /** Pings the peer; a peer that did not answer the previous ping is terminated. Returns false when it was. */
  heartbeat(): boolean {
    if (!this.alive) {
      this.context.log(`connection ${this.id}: no pong since the last ping; terminating`);
      this.ws.terminate();
      return false;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      // the socket is closing; its close event cleans up
    }
    return true;
  }

  /** Sends an error frame with `code`, then closes with the close code mapped from it. */
  closeWith(code: ProtocolErrorCode, message: string): void {
    if (this.closed) return;
    this.sendError({ code, message });
    this.closed = true;
    this.ws.close(closeCodeFor(code), closeReason(message));
    setTimeout(() => this.ws.terminate(), 2_000).unref();
    this.dispose();
  }

  private closeSlow(): void {
    if (this.closed) return;
    this.context.log(
      `connection ${this.id}: client too slow (over ${this.context.limits.maxBufferedBytes} bytes behind); closing`,
    );
    this.closed = true;
    this.outbox.close();
    this.ws.close(closeCodeFor('SLOW_CONSUMER'), 'SLOW_CONSUMER: reconnect with afterSeq to resume');
    setTimeout(() => this.ws.terminate(), 1_000).unref();
    this.dispose();
  }

  private dispose(): void {
    this.closed = true;
    for (const subscription of this.subscriptions.values()) this.context.hub.unsubscribe(subscription);
    this.subscriptions.clear();
    for (const training of this.trainings.values()) training.abort();
    this.trainings.clear();
    this.outbox.close();
  }

  /** Any exception in handling a message ends this connection (1011), never the process. */
  private onMessage(data: RawData, isBinary: boolean): void {
    try {
      this.receive(data, isBinary);
    } catch (error) {
      this.fail(error);
    }
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const { limits } = this.context;
    let value: unknown;
    let problem: { code: ProtocolErrorCode; message: string } | undefined;
    if (isBinary) {
      problem = { code: 'BAD_FRAME', message: 'frames are JSON text messages, not binary' };
    } else {
      const text = rawText(data);
      if (jsonNestingExceeds({ text, maxDepth: limits.maxFrameDepth })) {
        // Only the top-level id is read from a frame this deep; nothing recursive ever sees it.
        value = tryParse(text);
        problem = { code: 'BAD_FRAME', message: `the frame is nested deeper than ${limits.maxFrameDepth} levels` };
      } else {
        try {
          value = JSON.parse(text);
        } catch (error) {
          problem = { code: 'BAD_JSON', message: `the message is not JSON: ${boundMessage((error as Error).message, 200)}` };
        }
      }
    }
    const id = requestIdOf(value);
    if (!this.rate.take()) {
      this.reject(id, 'RATE_LIMITED', `too many messages: at most ${limits.messagesPerSecond} per second`);
      return;
    }
    if (problem !== undefined) {
      this.reject(id, problem.code, problem.message);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.reject(undefined, 'BAD_FRAME', 'a frame is a JSON object with "v" and "type"');
      return;
    }
    const record = value as Record<string, unknown>;
    if (record.v !== PROTOCOL_VERSION) {
      this.reject(id, 'UNSUPPORTED_VERSION', `this server speaks protocol v${PROTOCOL_VERSION}; send "v": ${PROTOCOL_VERSION}`);
      return;
    }
    if (typeof record.type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(record.type)) {
      this.reject(
        id,
        'UNKNOWN_TYPE',
        `unknown frame type ${describeUntrusted(record.type)}; expected one of ${CLIENT_FRAME_TYPES.join(', ')}`,
      );
      return;
    }
    const parsed = ClientFrameSchema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => {
          const where = boundMessage(issue.path.map((part) => String(part)).join('.'), 80) || '(frame)';
          return `${where}: ${boundMessage(issue.message, 160)}`;
        })
        .join('; ');
      this.reject(id, 'BAD_FRAME', `invalid ${record.type} frame: ${issues}`);
      return;
    }
    const frame = parsed.data;
    this.handle(frame).catch((error: unknown) => {
      try {
        if (this.closed) return;
        this.sendError({ id: frame.id, ...this.describe(error) });
      } catch (failure) {
        this.fail(failure);
      }
    });
  }

  /** Runs `work`; an exception closes this connection (1011) instead of reaching the caller. */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(error);
    }
  }

  /** A bug met while handling this connection: logged, and the connection is closed with 1011. */
  private fail(error: unknown): void {
    try {
      this.context.log(`connection ${this.id}: internal error: ${boundMessage(errorText(error), 4000)}`);
    } catch {
      // the log itself failed: still close
    }
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws.close(CLOSE.internalError, 'INTERNAL: internal error; the server log has the details');
    } catch {
      this.ws.terminate();
    }
    setTimeout(() => this.ws.terminate(), 2_000).unref();
    this.dispose();
  }

  private async handle(frame: ClientFrame): Promise<void> {
    if (this.access !== 'operator' && OPERATOR_FRAMES.has(frame.type)) {
      throw new RequestError(
        'FORBIDDEN',
        `${frame.type} needs the operator token; this connection's token is read-only (it may subscribe and watch)`,
      );
    }
    switch (frame.type) {
      case 'debate.start':
        return this.onDebateStart(frame);
      case 'run.subscribe':
        return this.onSubscribe(frame);
      case 'run.unsubscribe':
        return this.onUnsubscribe(frame);
      case 'run.cancel':
        return this.onCancel(frame);
      case 'verdict.override':
        return this.onOverride(frame);
      case 'train.subscribe':
        return this.onTrainSubscribe(frame);
      case 'train.unsubscribe':
        return this.onTrainUnsubscribe(frame);
      default: {
        const unknown: never = frame;
        throw new TribunalError('INTERNAL', `unhandled frame ${JSON.stringify(unknown)}`);
      }
    }
  }

  private async onDebateStart(frame: Extract<ClientFrame, { type: 'debate.start' }>): Promise<void> {
    const { limits, live, catalog } = this.context;
    if (live.count(this.id) + this.starting >= limits.maxConcurrentDebates) {
      throw new RequestError(
        'LIMIT_EXCEEDED',
        `this connection already runs ${limits.maxConcurrentDebates} debates (its limit); wait for one to finish`,
      );
    }
    this.checkSubscriptionRoom();
    this.starting++;
    let started: { runId: string; debateId: string };
    try {
      started = await live.start({
        prompt: frame.prompt,
        candidates: frame.candidates,
        panel: frame.panel,
        tests: frame.tests,
        entryPoint: frame.entryPoint,
        owner: this.id,
      });
    } finally {
      this.starting--;
    }
    if (this.closed) return;
    const sub = this.newSubId();
    this.sendAck({ id: frame.id, for: frame.type, runId: started.runId, debateId: started.debateId, sub });
    this.openSubscription({ sub, source: catalog.liveSource(), debateId: started.debateId, afterSeq: -1 });
  }

  private async onSubscribe(frame: Extract<ClientFrame, { type: 'run.subscribe' }>): Promise<void> {
    this.checkSubscriptionRoom();
    const source = await this.resolveRun(frame.run);
    if (frame.debateId !== undefined) {
      await this.requireDebate(source, frame.debateId);
    } else if (typeof frame.afterSeq === 'number') {
      throw new RequestError('BAD_FRAME', 'without debateId, afterSeq is a map { debateId: lastSeq }');
    }
    if (this.closed) return;
    const sub = this.newSubId();
    this.sendAck({
      id: frame.id,
      for: frame.type,
      runId: source.runId,
      ...(frame.debateId === undefined ? {} : { debateId: frame.debateId }),
      sub,
    });
    this.openSubscription({
      sub,
      source,
      ...(frame.debateId === undefined ? {} : { debateId: frame.debateId }),
      ...(frame.afterSeq === undefined ? {} : { afterSeq: frame.afterSeq }),
    });
  }

  private async onUnsubscribe(frame: Extract<ClientFrame, { type: 'run.unsubscribe' }>): Promise<void> {
    const subscription = this.subscriptions.get(frame.sub);
    if (!subscription && this.issued(frame.sub) && !this.trainings.has(frame.sub)) {
      // Its debate has ended (or its store failed): it is closed already.
      this.sendAck({ id: frame.id, for: frame.type, sub: frame.sub });
      return;
    }
    if (!subscription) {
      throw new RequestError(
        'NOT_FOUND',
        this.trainings.has(frame.sub)
          ? `subscription "${frame.sub}" follows a training run: end it with train.unsubscribe`
          : `no subscription "${frame.sub}" on this connection`,
      );
    }
    this.context.hub.unsubscribe(subscription);
    this.subscriptions.delete(frame.sub);
    this.sendAck({ id: frame.id, for: frame.type, sub: frame.sub });
  }

  private async onCancel(frame: Extract<ClientFrame, { type: 'run.cancel' }>): Promise<void> {
    const { live, catalog } = this.context;
    const source = frame.run === undefined ? catalog.liveSource() : await this.resolveRun(frame.run);
    if (source.live && live.cancel(frame.debateId)) {
      this.sendAck({ id: frame.id, for: frame.type, runId: source.runId, debateId: frame.debateId });
      return;
    }
    await this.requireDebate(source, frame.debateId);
    throw new RequestError(
      'NOT_CANCELLABLE',
      source.live
        ? `debate ${frame.debateId} has already ended`
        : `debate ${frame.debateId} belongs to a labeling run in another process: stop that process (Ctrl-C) instead`,
    );
  }

  private async onOverride(frame: Extract<ClientFrame, { type: 'verdict.override' }>): Promise<void> {
    const source = await this.resolveRun(frame.run);
    const start = await this.debateStart(source, frame.debateId);
    if (start === undefined) throw new RequestError('NOT_FOUND', `no debate "${frame.debateId}" in run ${source.runId}`);
    const ids = start.candidates.map((candidate) => candidate.id);
    if (frame.kind === 'prefer' && frame.candidateId === undefined) {
      throw new RequestError('BAD_FRAME', `kind "prefer" needs a candidateId: one of ${ids.join(', ')}`);
    }
    if (frame.candidateId !== undefined && !ids.includes(frame.candidateId)) {
      throw new RequestError(
        'BAD_FRAME',
        `candidate "${frame.candidateId}" is not in debate ${frame.debateId}; its candidates are ${ids.join(', ')}`,
      );
    }
    const store = this.context.catalog.writableStore(source);
    const itemId = start.itemId ?? (await source.store.getDebate({ runId: source.runId, debateId: frame.debateId }))?.itemId;
    const stored = await store.putOverride({
      runId: source.runId,
      debateId: frame.debateId,
      kind: frame.kind,
      ...(itemId === undefined ? {} : { itemId }),
      ...(frame.candidateId === undefined ? {} : { candidateId: frame.candidateId }),
      ...(frame.note === undefined ? {} : { note: frame.note }),
    });
    this.sendAck({
      id: frame.id,
      for: frame.type,
      runId: source.runId,
      debateId: frame.debateId,
      override: overrideForFrame(stored),
    });
  }

  private async onTrainSubscribe(frame: Extract<ClientFrame, { type: 'train.subscribe' }>): Promise<void> {
    this.checkSubscriptionRoom();
    const resolved = await resolveTrainingRunDir({ root: this.context.root, runDir: frame.runDir });
    if (!resolved.success) throw new RequestError('NOT_FOUND', resolved.error);
    if (this.closed) return;
    this.checkSubscriptionRoom();
    const runDir = resolved.value;
    const sub = this.newSubId();
    const controller = new AbortController();
    this.trainings.set(sub, controller);
    this.sendAck({ id: frame.id, for: frame.type, sub, runDir });
    let skipped = 0;
    followTrainingRun({
      runDir,
      afterLine: frame.afterLine ?? 0,
      signal: controller.signal,
      ...(this.context.trainPollMs === undefined ? {} : { pollMs: this.context.trainPollMs }),
      listener: {
        event: ({ line, event }) => {
          if (controller.signal.aborted || this.closed) return Promise.resolve();
          this.sendFrame({ v: PROTOCOL_VERSION, type: 'train.event', sub, line, event });
          return this.outbox.whenWritable();
        },
        failed: (error) =>
          this.guarded(() => {
            if (this.trainings.get(sub) !== controller) return;
            this.trainings.delete(sub);
            this.sendError({
              sub,
              code: 'STORE_FAILED',
              message: `cannot read the events of training run ${runDir}: ${error.message}; the subscription has ended, subscribe again with afterLine`,
            });
          }),
        skipped: (line) =>
          this.guarded(() => {
            skipped++;
            if (skipped <= SKIPPED_LINES_LOGGED) {
              this.context.log(
                `connection ${this.id} ${sub}: skipped ${path.join(runDir, RUN_FILES.events)}:${line}: not a valid trainer event (content not logged)`,
              );
            }
          }),
      },
    }).catch((error: unknown) => this.fail(error));
  }

  private async onTrainUnsubscribe(frame: Extract<ClientFrame, { type: 'train.unsubscribe' }>): Promise<void> {
    const training = this.trainings.get(frame.sub);
    if (training === undefined) {
      throw new RequestError(
        'NOT_FOUND',
        this.subscriptions.has(frame.sub)
          ? `subscription "${frame.sub}" is not a training subscription: end it with run.unsubscribe`
          : `no training subscription "${frame.sub}" on this connection`,
      );
    }
    training.abort();
    this.trainings.delete(frame.sub);
    this.sendAck({ id: frame.id, for: frame.type, sub: frame.sub });
  }

  private openSubscription(options: {
    sub: string;
    source: RunSource;
    debateId?: string;
    afterSeq?: number | Record<string, number>;
  }): void {
    const subscription = this.context.hub.subscribe({ ...options, subscriber: this.subscriber });
    this.subscriptions.set(options.sub, subscription);
  }

  /**
   * A one-debate subscription whose debate has ended stops counting toward the limit: it is closed once its replay is
   * done (so `subscription.live` still follows), and a later `run.unsubscribe` of it is acknowledged.
   */
  private debateEnded(sub: string): void {
    queueMicrotask(() => {
      const subscription = this.subscriptions.get(sub);
      if (subscription?.debateId === undefined) return;
      subscription.ready
        .then(() => {
          if (this.subscriptions.get(sub) !== subscription) return;
          this.context.hub.unsubscribe(subscription);
          this.subscriptions.delete(sub);
        })
        .catch((error: unknown) => this.fail(error));
    });
  }

  /** True for a subscription id this connection handed out (open or ended). */
  private issued(sub: string): boolean {
    const match = /^s([1-9][0-9]{0,9})$/.exec(sub);
    return match !== null && Number(match[1]) < this.nextSub;
  }

  private checkSubscriptionRoom(): void {
    const open = this.subscriptions.size + this.trainings.size;
    if (open >= this.context.limits.maxSubscriptions) {
      throw new RequestError(
        'LIMIT_EXCEEDED',
        `this connection has ${open} subscriptions (its limit); unsubscribe from one first`,
      );
    }
  }

  private async resolveRun(reference: string): Promise<RunSource> {
    const source = await this.context.catalog.resolve(reference);
    if (source === undefined) {
      throw new RequestError('NOT_FOUND', noRunMessage(reference));
    }
    return source;
  }

  private async requireDebate(source: RunSource, debateId: string): Promise<void> {
    if (source.live && this.context.hub.liveEvents(debateId) !== undefined) return;
    if (await source.store.getDebate({ runId: source.runId, debateId })) return;
    throw new RequestError('NOT_FOUND', `no debate "${debateId}" in run ${source.runId}`);
  }

  private async debateStart(
    source: RunSource,
    debateId: string,
  ): Promise<Extract<DebateEvent, { type: 'debate-start' }> | undefined> {
    const held = source.live ? this.context.hub.liveEvents(debateId) : undefined;
    const events =
      held ??
      (await source.store.eventsAfter({ runId: source.runId, debateId, afterSeq: -1, limit: 1 })).map((stored) => stored.event);
    const first = events[0];
    return first?.type === 'debate-start' ? first : undefined;
  }

  private reject(id: string | undefined, code: ProtocolErrorCode, message: string): void {
    this.sendError({ ...(id === undefined ? {} : { id }), code, message });
    if (STRIKE_CODES.has(code) && !this.strikes.take()) {
      this.closeWith('POLICY_VIOLATION', `too many invalid or excess messages (last: ${code}); closing`);
    }
  }

  private describe(error: unknown): { code: ProtocolErrorCode; message: string } {
    if (error instanceof RequestError) return { code: error.code, message: error.message };
    if (error instanceof TribunalError) return { code: error.code, message: error.message };
    this.context.log(`connection ${this.id}: internal error: ${boundMessage(errorText(error), 4000)}`);
    return { code: 'INTERNAL', message: 'internal error; the server log has the details' };
  }

  private newSubId(): string {
    return `s${this.nextSub++}`;
  }

  private sendAck(frame: Omit<AckFrame, 'v' | 'type'>): void {
    this.sendFrame({ v: PROTOCOL_VERSION, type: 'ack', ...frame });
  }

  private sendError(frame: Omit<ErrorFrame, 'v' | 'type'>): void {
    const message = boundMessage(redactText(frame.message, this.context.secrets), MAX_ERROR_MESSAGE_CHARS);
    this.sendFrame({ v: PROTOCOL_VERSION, type: 'error', ...frame, message });
  }

  private sendFrame(frame: object): void {
    this.outbox.sendFrame(JSON.stringify(frame));
  }
}

/**
 * A transport that corks the socket at the first send of a tick and uncorks it on the next tick, so the frames a
 * client gets in one tick (a burst of deltas, a replay page) leave in one write instead of one each.
 */
function corkedPerTick(ws: WebSocket): OutboxTransport {
  const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket?.uncork();
  };
  return {
    send(data) {
      if (!corked && socket) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      ws.send(data, { binary: false });
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}

/** The request id of a parsed frame: a string of 1-64 characters at its top level, else none. */
function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const id = (value as Record<string, unknown>).id;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message;
  return typeof error === 'string' ? error : describeUntrusted(error);
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function overrideForFrame(override: VerdictOverride): NonNullable<AckFrame['override']> {
  return {
    id: override.id,
    runId: override.runId,
    kind: override.kind,
    createdAt: override.createdAt,
    ...(override.itemId === undefined ? {} : { itemId: override.itemId }),
    ...(override.debateId === undefined ? {} : { debateId: override.debateId }),
    ...(override.candidateId === undefined ? {} : { candidateId: override.candidateId }),
    ...(override.note === undefined ? {} : { note: override.note }),
  };
}
