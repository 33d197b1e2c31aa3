// The viewer's protocol client: one WebSocket to /v1/stream (protocol v1, docs/protocol.md) that sends the bearer
// token as a subprotocol, answers requests by id, and after a dropped connection reconnects and resubscribes with
// afterSeq = the last seq it has (training runs: afterLine = the last line it has), so nothing is lost or shown twice.

const PROTOCOL = 'tribunal.v1';

export class TribunalClient {
  /**
   * @param {{ url: string, token: string, onStatus: (state: string, detail?: string) => void, onHello?: (hello: object) => void }} options
   */
  constructor(options) {
    this.url = options.url;
    this.token = options.token;
    this.onStatus = options.onStatus;
    this.onHello = options.onHello ?? (() => {});
    this.nextId = 1;
    this.nextTrainingKey = 1;
    /** @type {Map<string, { resolve: Function, reject: Function }>} */
    this.pending = new Map();
    /** Subscriptions by a local key; each knows how to resubscribe. */
    this.subscriptions = new Map();
    this.socket = undefined;
    this.retryMs = 500;
    this.stopped = false;
    this.connect();
  }

  connect() {
    this.onStatus('connecting');
    const socket = new WebSocket(this.url, [PROTOCOL, `bearer.${this.token}`]);
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.retryMs = 500;
      this.onStatus('open');
      for (const subscription of this.subscriptions.values()) this.resubscribe(subscription);
    });
    socket.addEventListener('message', (message) => this.onFrame(JSON.parse(String(message.data))));
    socket.addEventListener('close', (close) => {
      for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
      this.pending.clear();
      for (const subscription of this.subscriptions.values()) subscription.sub = undefined;
      if (this.stopped) return;
      if (close.code === 1008) {
        this.onStatus('refused', close.reason || 'the server refused the connection (policy)');
      } else {
        this.onStatus('closed', close.reason || `closed (${close.code}); reconnecting`);
      }
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    });
  }

  onFrame(frame) {
    switch (frame.type) {
      case 'hello':
        this.onHello(frame);
        return;
      case 'ack':
      case 'error': {
        const waiting = frame.id === undefined ? undefined : this.pending.get(frame.id);
        if (waiting) {
          this.pending.delete(frame.id);
          if (frame.type === 'ack') waiting.resolve(frame);
          else waiting.reject(Object.assign(new Error(frame.message), { code: frame.code }));
        } else if (frame.type === 'error') {
          const subscription = this.bySub(frame.sub);
          subscription?.onError?.(frame);
          if (!subscription) console.warn('tribunal:', frame.code, frame.message);
        }
        return;
      }
      case 'event': {
        const subscription = this.bySub(frame.sub);
        if (!subscription) return;
        const last = subscription.lastSeq.get(frame.event.debateId) ?? -1;
        if (frame.event.seq <= last) return;
        subscription.lastSeq.set(frame.event.debateId, frame.event.seq);
        subscription.onEvent(frame.event, frame);
        return;
      }
      case 'subscription.live':
        this.bySub(frame.sub)?.onLive?.(frame);
        return;
      case 'train.event': {
        const subscription = this.bySub(frame.sub);
        if (!subscription?.training || frame.line <= subscription.lastLine) return;
        subscription.lastLine = frame.line;
        subscription.onTrainEvent(frame.event, frame.line);
        return;
      }
      default:
        return;
    }
  }

  bySub(sub) {
    if (sub === undefined) return undefined;
    for (const subscription of this.subscriptions.values()) if (subscription.sub === sub) return subscription;
    return undefined;
  }

  /** Sends a request and resolves with its ack (rejects with the error frame's code and message). */
  request(frame) {
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ v: 1, id, ...frame }));
    });
  }

  /**
   * Starts a debate; its events go to `handlers.onEvent`. Returns the ack ({ runId, debateId, sub }).
   * @param {{ prompt: string, candidates: string[], panel?: string, tests?: string, entryPoint?: string }} input
   */
  async startDebate(input, handlers) {
    const ack = await this.request({ type: 'debate.start', ...input });
    const key = `${ack.runId}/${ack.debateId}`;
    this.subscriptions.set(key, { key, run: ack.runId, debateId: ack.debateId, sub: ack.sub, lastSeq: new Map(), ...handlers });
    return ack;
  }

  /** Subscribes to one debate from its start (or from what this client already has); returns the local key. */
  async watchDebate({ run, debateId }, handlers) {
    const key = `${run}/${debateId}`;
    const subscription = { key, run, debateId, sub: undefined, lastSeq: new Map(), ...handlers };
    this.subscriptions.set(key, subscription);
    await this.resubscribe(subscription);
    return key;
  }

  async resubscribe(subscription) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    if (subscription.training) return this.resubscribeTraining(subscription);
    const afterSeq = subscription.lastSeq.get(subscription.debateId) ?? -1;
    try {
      const ack = await this.request({ type: 'run.subscribe', run: subscription.run, debateId: subscription.debateId, afterSeq });
      if (this.subscriptions.get(subscription.key) === subscription) subscription.sub = ack.sub;
      else await this.request({ type: 'run.unsubscribe', sub: ack.sub }).catch(() => {});
    } catch (error) {
      subscription.onError?.({ code: error.code ?? 'INTERNAL', message: error.message });
    }
  }

  /**
   * Follows a training run's events.jsonl (`train.subscribe`): each event goes to `handlers.onTrainEvent(event, line)`
   * once, in file order; `handlers.onAck(ack)` gets each (re)subscription's ack (its resolved `runDir`). After a
   * reconnect it resubscribes with afterLine = the last line it has. Resolves with the local key once the first
   * subscription is acked (or, while disconnected, at once: it subscribes on reconnect); rejects (and forgets the
   * subscription) when the server refuses it, e.g. NOT_FOUND.
   * @param {string} runDir
   * @param {{ onTrainEvent: (event: object, line: number) => void, onAck?: (ack: object) => void, onError?: (frame: object) => void }} handlers
   * @param {{ afterLine?: number }} [options] start after this line (the last one a view already has)
   */
  async watchTraining(runDir, handlers, options = {}) {
    const key = `train:${this.nextTrainingKey++}`;
    const subscription = { key, training: true, runDir, sub: undefined, lastLine: options.afterLine ?? 0, ...handlers };
    this.subscriptions.set(key, subscription);
    try {
      await this.subscribeTraining(subscription);
    } catch (error) {
      // Refused by the server: forget it. Not connected: it subscribes when the socket opens again.
      if (error.code !== undefined) {
        this.subscriptions.delete(key);
        throw error;
      }
    }
    return key;
  }

  async subscribeTraining(subscription) {
    const ack = await this.request({ type: 'train.subscribe', runDir: subscription.runDir, afterLine: subscription.lastLine });
    if (this.subscriptions.get(subscription.key) !== subscription) {
      await this.request({ type: 'train.unsubscribe', sub: ack.sub }).catch(() => {});
      return;
    }
    subscription.sub = ack.sub;
    subscription.onAck?.(ack);
  }

  async resubscribeTraining(subscription) {
    try {
      await this.subscribeTraining(subscription);
    } catch (error) {
      subscription.onError?.({ code: error.code ?? 'INTERNAL', message: error.message });
    }
  }

  /** Ends a subscription made by `watchDebate`, `startDebate` or `watchTraining`. */
  async unwatch(key) {
    const subscription = this.subscriptions.get(key);
    if (!subscription) return;
    this.subscriptions.delete(key);
    if (subscription.sub === undefined) return;
    const type = subscription.training ? 'train.unsubscribe' : 'run.unsubscribe';
    await this.request({ type, sub: subscription.sub }).catch(() => {});
  }

  cancel({ run, debateId }) {
    return this.request({ type: 'run.cancel', run, debateId });
  }

  override({ run, debateId, kind, candidateId, note }) {
    return this.request({
      type: 'verdict.override',
      run,
      debateId,
      kind,
      ...(candidateId ? { candidateId } : {}),
      ...(note ? { note } : {}),
    });
  }
}

/** GET a JSON endpoint of the server's /v1 API with the bearer token. */
export async function api(token, path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(body?.error?.message ?? response.statusText), { code: body?.error?.code });
  return body;
}
