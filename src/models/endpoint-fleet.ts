import type { BaseMessage } from '@langchain/core/messages';
import type { ModelEndpoint } from '../contracts/index.js';
import { EndpointsUnavailableError } from './endpoint-fleet-error.js';
import { Limiter } from './limiter.js';
import { redactText } from './redact-secrets.js';
import { classifyError } from './reliable-model.js';
import type { ProviderAdapter, RawCallOptions, RawCompletion } from './types.js';

/** Defaults of a fleet's circuit breaker (documented in docs/file-formats.md, "Endpoint fleets"). */
export const FLEET_DEFAULTS = {
  failureThreshold: 3,
  probeIntervalMs: 2000,
  maxProbeIntervalMs: 60_000,
  probeTimeoutMs: 5000,
} as const;

/** Runs `task` after `ms` and returns what cancels it; the default uses timers that keep no process alive. */
export type FleetScheduler = (task: () => Promise<void>, ms: number) => () => void;

/** Options of `EndpointFleet`. */
export interface EndpointFleetOptions {
  /** The fleet's name in messages: the models file's key (`openai:qwen2.5-72b`, `openai:*`). */
  name: string;
  endpoints: readonly ModelEndpoint[];
  /** Concurrency of an endpoint that sets none (the provider's concurrency). */
  defaultConcurrency: number;
  /** Most calls in flight over all endpoints (default: the sum of theirs). */
  concurrency?: number | undefined;
  /** Consecutive failures that take an endpoint out. */
  failureThreshold?: number | undefined;
  /** Wait before the first probe of an endpoint taken out; doubles per failed probe up to `maxProbeIntervalMs`. */
  probeIntervalMs?: number | undefined;
  maxProbeIntervalMs?: number | undefined;
  /** Deadline of one health probe. */
  probeTimeoutMs?: number | undefined;
  /** Checks that an endpoint answers (OpenAI-compatible: `GET {baseURL}/models`); rejects saying why not. */
  probe: (baseURL: string, signal: AbortSignal) => Promise<void>;
  /** Schedules the probes; tests pass one they run by hand. */
  schedule?: FleetScheduler | undefined;
  /** Keys to scrub from the errors kept per endpoint. */
  secrets?: readonly string[] | undefined;
}

/** How one endpoint stands: what `tribunal check` and error messages show. */
export interface EndpointStatus {
  /** The base URL as shown (any user:password removed). */
  baseURL: string;
  concurrency: number;
  weight: number;
  inFlight: number;
  healthy: boolean;
  consecutiveFailures: number;
  /** The endpoint's last error, keys scrubbed. */
  lastError?: string;
}

/** One endpoint's live state. */
interface EndpointState {
  readonly baseURL: string;
  readonly shown: string;
  readonly concurrency: number;
  readonly share: number;
  inFlight: number;
  healthy: boolean;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** When it was last picked (a counter): ties go to the endpoint picked longest ago. */
  lastPicked: number;
  probeDelayMs: number;
  cancelProbe: (() => void) | undefined;
}

/**
 * The servers behind one model entry (a fleet of vLLM or llama.cpp servers) and their health. Calls go to the healthy
 * endpoint with the fewest calls in flight relative to its share (its `weight`, else its concurrency), never above an
 * endpoint's own concurrency. An endpoint that fails with a connection error, a 5xx or a timeout `failureThreshold`
 * times in a row is taken out; it is probed after `probeIntervalMs` (doubling per failed probe) and rejoins when the
 * probe answers. A call that fails at one endpoint before its first token goes to another within the same attempt,
 * so it costs no retry; a 4xx that is the request's fault (400, 401, 404…) goes nowhere else. `gate` is the fleet's
 * limiter: the entry's concurrency, shrunk to what the healthy endpoints take.
 * @example
 * const fleet = new EndpointFleet({ name: 'openai:qwen', endpoints, defaultConcurrency: 8, probe });
 * const adapter = await fleet.adapter((baseURL) => createOpenAIAdapter({ model: 'qwen', baseURL }));
 */
export class EndpointFleet {
  /** The fleet-wide limiter the reliability wrapper takes a slot from before each attempt. */
  readonly gate: Limiter;
  private readonly states: EndpointState[];
  private readonly limit: number;
  private readonly failureThreshold: number;
  private readonly probeIntervalMs: number;
  private readonly maxProbeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly schedule: FleetScheduler;
  private readonly secrets: readonly string[];
  private waiters: Array<() => void> = [];
  private picks = 0;
  private closed = false;

  constructor(private readonly options: EndpointFleetOptions) {
    this.failureThreshold = options.failureThreshold ?? FLEET_DEFAULTS.failureThreshold;
    this.probeIntervalMs = options.probeIntervalMs ?? FLEET_DEFAULTS.probeIntervalMs;
    this.maxProbeIntervalMs = Math.max(this.probeIntervalMs, options.maxProbeIntervalMs ?? FLEET_DEFAULTS.maxProbeIntervalMs);
    this.probeTimeoutMs = options.probeTimeoutMs ?? FLEET_DEFAULTS.probeTimeoutMs;
    this.schedule = options.schedule ?? timerScheduler;
    this.secrets = options.secrets ?? [];
    this.states = options.endpoints.map((endpoint) => {
      const concurrency = endpoint.concurrency ?? options.defaultConcurrency;
      return {
        baseURL: endpoint.baseURL,
        shown: this.redact(shownURL(endpoint.baseURL)),
        concurrency,
        share: endpoint.weight ?? concurrency,
        inFlight: 0,
        healthy: true,
        consecutiveFailures: 0,
        lastError: undefined,
        lastPicked: 0,
        probeDelayMs: this.probeIntervalMs,
        cancelProbe: undefined,
      };
    });
    if (this.states.length === 0) throw new RangeError(`${options.name}: an endpoint fleet needs at least one endpoint`);
    const total = this.states.reduce((sum, state) => sum + state.concurrency, 0);
    this.limit = Math.min(options.concurrency ?? total, total);
    this.gate = new Limiter(this.limit);
  }

  /** Every endpoint's state, in the order of the entry. */
  status(): EndpointStatus[] {
    return this.states.map((state) => ({
      baseURL: state.shown,
      concurrency: state.concurrency,
      weight: state.share,
      inFlight: state.inFlight,
      healthy: state.healthy,
      consecutiveFailures: state.consecutiveFailures,
      ...(state.lastError === undefined ? {} : { lastError: state.lastError }),
    }));
  }

  /**
   * The adapter of one model over the fleet: `build` makes the adapter of each endpoint (same model, its base URL).
   * Its `chat` is the first endpoint's chat model; structured calls (`complete`) spread and fail over.
   */
  async adapter(build: (baseURL: string) => ProviderAdapter | Promise<ProviderAdapter>): Promise<ProviderAdapter> {
    const adapters = await Promise.all(this.states.map((state) => build(state.baseURL)));
    const first = adapters[0] as ProviderAdapter;
    const byState = new Map(this.states.map((state, index) => [state, adapters[index] as ProviderAdapter]));
    // One price per model, whichever endpoint answers: the endpoints' own price only when they all know one.
    const pricing = adapters.every((adapter) => adapter.pricing !== undefined) ? first.pricing : undefined;
    return {
      provider: first.provider,
      chat: first.chat,
      pricing,
      complete: (messages, call) => this.complete(messages, call, byState),
      close: async () => {
        for (const adapter of adapters) await adapter.close?.();
      },
    };
  }

  /** Stops every pending probe; the fleet takes no more calls after it. */
  close(): void {
    this.closed = true;
    for (const state of this.states) {
      state.cancelProbe?.();
      state.cancelProbe = undefined;
    }
    this.notify();
  }

  private async complete(
    messages: BaseMessage[],
    call: RawCallOptions,
    adapters: ReadonlyMap<EndpointState, ProviderAdapter>,
  ): Promise<RawCompletion> {
    const tried = new Set<EndpointState>();
    let lastError: unknown;
    let onlyBusy = true;
    for (;;) {
      const state = await this.take(tried, call.signal);
      if (state === undefined) {
        // Every endpoint tried was only busy (429): the wrapper waits as the last one asked (retry-after) and retries.
        if (tried.size > 0 && onlyBusy) throw lastError;
        throw this.unavailable(tried, lastError);
      }
      let tokens = 0;
      const attempt: RawCallOptions = {
        ...call,
        onToken: (text) => {
          tokens++;
          call.onToken?.(text);
        },
      };
      try {
        const completion = await (adapters.get(state) as ProviderAdapter).complete(messages, attempt);
        this.succeeded(state);
        return completion;
      } catch (error) {
        if (call.signal.aborted) {
          // The attempt's deadline is the endpoint's failure; the caller giving up is nobody's.
          if (isTimeout(call.signal.reason)) this.failed(state, `${state.shown} timed out`);
          throw error;
        }
        const failure = classifyError(error, state.shown);
        const fault = faultOf(failure.code, failure.retryable);
        if (fault === 'request') {
          // The server answered: it is up, and another endpoint would reject the request the same way.
          this.succeeded(state);
          throw error;
        }
        if (fault === 'endpoint') {
          this.failed(state, failure.message);
          onlyBusy = false;
        } else state.lastError = this.redact(failure.message);
        // Tokens already reached the caller: the wrapper's mid-stream rules apply (the same request sent again).
        if (tokens > 0) throw error;
        tried.add(state);
        lastError = error;
      } finally {
        state.inFlight--;
        this.notify();
      }
    }
  }

  /** Reserves a slot at the best endpoint not yet tried; undefined when no healthy one is left. */
  private async take(tried: ReadonlySet<EndpointState>, signal: AbortSignal): Promise<EndpointState | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      let best: EndpointState | undefined;
      let open = false;
      for (const state of this.states) {
        if (!state.healthy || tried.has(state)) continue;
        open = true;
        if (state.inFlight >= state.concurrency) continue;
        if (best === undefined || better(state, best)) best = state;
      }
      if (best !== undefined) {
        best.inFlight++;
        best.lastPicked = ++this.picks;
        return best;
      }
      if (!open) return undefined;
      // Healthy endpoints are all full (one went out while calls were in flight): wait for a slot or a change.
      await this.changed(signal);
    }
  }

  private changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        reject(signal.reason);
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(wake);
    });
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private succeeded(state: EndpointState): void {
    state.consecutiveFailures = 0;
  }

  private failed(state: EndpointState, message: string): void {
    state.consecutiveFailures++;
    state.lastError = this.redact(message);
    if (state.healthy && state.consecutiveFailures >= this.failureThreshold) {
      state.healthy = false;
      state.probeDelayMs = this.probeIntervalMs;
      this.scheduleProbe(state);
      this.resizeGate();
    }
  }

  private scheduleProbe(state: EndpointState): void {
    if (this.closed) return;
    state.cancelProbe?.();
    state.cancelProbe = this.schedule(() => this.probe(state), state.probeDelayMs);
  }

  /** Probes an endpoint that is out: it rejoins when the probe answers, else the next probe waits twice as long. */
  private async probe(state: EndpointState): Promise<void> {
    state.cancelProbe = undefined;
    if (this.closed || state.healthy) return;
    try {
      await this.options.probe(state.baseURL, AbortSignal.timeout(this.probeTimeoutMs));
    } catch (error) {
      if (this.closed) return;
      state.lastError = this.redact(`${state.shown}: health probe failed: ${probeFailure(error)}`);
      state.probeDelayMs = Math.min(this.maxProbeIntervalMs, state.probeDelayMs * 2);
      this.scheduleProbe(state);
      return;
    }
    if (this.closed) return;
    state.healthy = true;
    state.consecutiveFailures = 0;
    state.probeDelayMs = this.probeIntervalMs;
    this.resizeGate();
    this.notify();
  }

  /** The gate follows the healthy capacity; with none left it lets calls through, to fail at once with the reasons. */
  private resizeGate(): void {
    const healthy = this.states.reduce((sum, state) => sum + (state.healthy ? state.concurrency : 0), 0);
    this.gate.resize(healthy === 0 ? this.limit : Math.min(this.limit, healthy));
  }

  private unavailable(tried: ReadonlySet<EndpointState>, lastError: unknown): EndpointsUnavailableError {
    const each = this.states
      .map((state) => {
        const how = state.healthy ? (tried.has(state) ? 'failed' : 'up') : 'out, being probed';
        return `  - ${state.shown} (${how}): ${state.lastError ?? 'no error'}`;
      })
      .join('\n');
    const what =
      tried.size === 0
        ? `all ${this.states.length} endpoints of ${this.options.name} are out after repeated failures`
        : `every endpoint of ${this.options.name} left to try failed`;
    return new EndpointsUnavailableError(`${what}; the last error of each:\n${each}`, {
      retryable: !this.closed,
      cause: lastError,
    });
  }

  private redact(text: string): string {
    return redactText(text, this.secrets);
  }
}

/** Whether an endpoint is a better pick than another: lighter loaded, then fewer recent failures, then picked longer ago. */
function better(state: EndpointState, than: EndpointState): boolean {
  const load = state.inFlight / state.share - than.inFlight / than.share;
  if (load !== 0) return load < 0;
  if (state.consecutiveFailures !== than.consecutiveFailures) return state.consecutiveFailures < than.consecutiveFailures;
  return state.lastPicked < than.lastPicked;
}

/**
 * Whose fault a failed call is: the endpoint's (unreachable, 5xx, a timeout, an overload sent inside the stream: try
 * another, count it against the endpoint), the endpoint being busy (429: try another, not counted), or the request's
 * (any other 4xx, a refused key, a missing model: no other endpoint would do better).
 */
function faultOf(code: string, retryable: boolean): 'endpoint' | 'busy' | 'request' {
  if (code === 'RATE_LIMITED') return 'busy';
  if (!retryable) return 'request';
  return code === 'MODEL_UNREACHABLE' || code === 'TIMEOUT' || code === 'PROVIDER_FAILED' ? 'endpoint' : 'request';
}

function isTimeout(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

/** A base URL without any user:password in it, and without a trailing slash. */
function shownURL(baseURL: string): string {
  try {
    const url = new URL(baseURL);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/+$/, '');
  } catch {
    return baseURL;
  }
}

/** Why a probe failed, in a few words: the HTTP status or the connection error's code. */
function probeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (error.name === 'TimeoutError') return 'no answer in time';
  if (typeof cause?.code === 'string') return `${error.message} (${cause.code})`;
  return error.message;
}

const timerScheduler: FleetScheduler = (task, ms) => {
  const timer = setTimeout(() => void task(), ms);
  timer.unref();
  return () => clearTimeout(timer);
};
