import { AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { addUsage, type ErrorCode, MAX_REFUSAL_CHARS, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { EndpointsUnavailableError } from './endpoint-fleet-error.js';
import { Limiter } from './limiter.js';
import { redactText } from './redact-secrets.js';
import { completionUsage } from './token-estimate.js';
import type {
  CriticModel,
  ModelPricing,
  ProviderAdapter,
  RawCallOptions,
  RawCompletion,
  StructuredOutcome,
  StructuredRequest,
} from './types.js';

/** Settings of the one wrapper that every provider goes through. */
export interface ReliabilityOptions {
  /** Most calls in flight at once for this provider. */
  concurrency?: number;
  /** Total deadline of one attempt in ms, however busy the stream (default 600000, the SDKs' own default). */
  timeoutMs?: number;
  /** Longest wait in ms for the first chunk of a reply and between chunks (default 120000). */
  idleTimeoutMs?: number;
  /**
   * Highest output token limit a truncated reply is retried with: a reply cut at `maxTokens` is asked for once more
   * with twice the limit, at most this (default 8192); at or above it the call fails with "raise maxTokens".
   */
  maxTokensCap?: number;
  /** Retries after the first attempt for 429, 5xx, transient in-stream errors, timeouts, dropped streams and empty replies. */
  maxRetries?: number;
  /** First backoff delay in ms; doubles each retry (capped by maxBackoffMs). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Sleep function, replaceable in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Shared limiter, so several models of one provider share a concurrency budget. */
  limiter?: Limiter;
}

/** Defaults of the reliability settings (documented in docs/file-formats.md, "Model calls"). */
export const RELIABILITY_DEFAULTS = {
  timeoutMs: 600_000,
  idleTimeoutMs: 120_000,
  maxRetries: 4,
  maxTokensCap: 8192,
} as const;

/** Requests sent so far for one structured call, and what discarded attempts (empty replies) cost. */
interface Tally {
  attempts: number;
  discarded: Usage;
}

/**
 * Wraps a provider adapter with retries (exponential backoff honouring retry-after), a concurrency limit, an idle and
 * a total timeout per attempt, cancellation, usage and cost accounting, JSON parsing, schema validation and one repair
 * attempt with the validation error fed back. How the provider stopped decides what follows: a refusal or content
 * filter ends the call as REFUSED (never repaired); a reply cut at the token limit is asked for once more with a larger
 * limit (`maxTokensCap`), never repaired at the same limit; an empty reply, a stream without its end event and a
 * transient error inside the stream are retried as the same request.
 */
export function createCriticModel(
  options: { id: string; adapter: ProviderAdapter; pricing?: ModelPricing | undefined } & ReliabilityOptions,
): CriticModel {
  const { id, adapter } = options;
  // A price given for this id (--price, a panel's prices) beats the adapter's own.
  const pricing = options.pricing ?? adapter.pricing;
  const limiter = options.limiter ?? new Limiter(options.concurrency ?? 8);
  const timeoutMs = options.timeoutMs ?? RELIABILITY_DEFAULTS.timeoutMs;
  const idleTimeoutMs = options.idleTimeoutMs ?? RELIABILITY_DEFAULTS.idleTimeoutMs;
  const maxRetries = options.maxRetries ?? RELIABILITY_DEFAULTS.maxRetries;
  const maxTokensCap = options.maxTokensCap ?? RELIABILITY_DEFAULTS.maxTokensCap;
  const baseBackoffMs = options.baseBackoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const sleep = options.sleep ?? abortableSleep;
  const schemaCache = new WeakMap<object, Record<string, unknown>>();

  /** One call with retries; returns the completion, and counts every attempt made in `tally`. */
  async function callWithRetries(
    messages: BaseMessage[],
    request: StructuredRequest<unknown>,
    jsonSchema: Record<string, unknown>,
    maxTokens: number | undefined,
    tally: Tally,
  ): Promise<RawCompletion> {
    const caller = request.signal;
    for (let attempt = 1; ; attempt++) {
      if (caller?.aborted) throw new TribunalError('ABORTED', `call to ${id} was cancelled`, { cause: caller.reason });
      // The timeouts start when the call leaves the limiter queue, so waiting for a slot never counts against them.
      const attemptCall = new AttemptSignal(caller, timeoutMs, idleTimeoutMs);
      let failure: ClassifiedFailure;
      let cause: unknown;
      try {
        // A free slot is taken without a promise; only a full limiter makes the call wait.
        if (!limiter.tryAcquire()) await limiter.acquire(caller);
        let completion: RawCompletion;
        try {
          tally.attempts++;
          const call = rawCallOptions(request, jsonSchema, maxTokens, attemptCall.start());
          call.onChunk = attemptCall.touch;
          completion = await adapter.complete(messages, call);
        } finally {
          attemptCall.dispose();
          limiter.release();
        }
        if (!isEmptyReply(completion)) return completion;
        // An empty reply has nothing to repair (and an empty assistant message is a 400 at Anthropic): ask again.
        tally.discarded = addUsage(tally.discarded, usageOf(completion, messages, 0));
        failure = {
          code: 'OUTPUT_INVALID',
          message: `${id} returned an empty reply${completion.stopReason ? ` (stop reason ${completion.stopReason})` : ''}`,
          retryable: true,
        };
      } catch (error) {
        if (caller?.aborted) throw new TribunalError('ABORTED', `call to ${id} was cancelled`, { cause: error });
        failure = attemptCall.timedOut ? attemptCall.timeoutFailure(id) : classifyError(error, id);
        cause = error;
      }
      if (!failure.retryable || attempt > maxRetries) {
        throw new TribunalError(failure.code, `${failure.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, {
          cause,
        });
      }
      const backoff = Math.min(maxBackoffMs, baseBackoffMs * 2 ** (attempt - 1));
      try {
        await sleep(failure.retryAfterMs === undefined ? backoff : Math.min(maxBackoffMs, failure.retryAfterMs), caller);
      } catch (sleepError) {
        throw new TribunalError('ABORTED', `call to ${id} was cancelled while waiting to retry`, { cause: sleepError });
      }
    }
  }

  /**
   * Usage of one completion: its tokens, `calls` requests, and its cost at this id's price. Tokens the server did not
   * report are estimated from the text (and counted in `usage.estimatedCalls`).
   */
  function usageOf(completion: RawCompletion, messages: readonly BaseMessage[], calls: number): Usage {
    return completionUsage({ completion, messages, pricing, calls });
  }

  /** The limit a truncated reply is asked for again with, or undefined when it may not grow (unknown, or at the cap). */
  function largerLimit(limit: number | undefined): number | undefined {
    if (limit === undefined || limit >= maxTokensCap) return undefined;
    return Math.min(limit * 2, maxTokensCap);
  }

  return {
    id,
    provider: adapter.provider,
    chat: adapter.chat,
    pricing,
    async structured<T>(request: StructuredRequest<T>): Promise<StructuredOutcome<T>> {
      let jsonSchema = schemaCache.get(request.schema);
      if (!jsonSchema) {
        jsonSchema = z.toJSONSchema(request.schema, { target: 'draft-7' }) as Record<string, unknown>;
        schemaCache.set(request.schema, jsonSchema);
      }
      let usage: Usage = ZERO_USAGE;
      // Every request sent counts, including retried ones; `usage.calls` matches `attempts`.
      const tally: Tally = { attempts: 0, discarded: ZERO_USAGE };
      let messages = request.messages;
      let text = '';
      let maxTokens = request.maxTokens;
      let raisedFrom: number | undefined;
      for (let pass = 0; pass < 2; ) {
        const before = tally.attempts;
        let completion: RawCompletion;
        try {
          completion = await callWithRetries(messages, request as StructuredRequest<unknown>, jsonSchema, maxTokens, tally);
        } catch (error) {
          usage = addUsage(usage, { ...tally.discarded, calls: tally.attempts - before });
          tally.discarded = ZERO_USAGE;
          const failure =
            error instanceof TribunalError ? error : new TribunalError('PROVIDER_FAILED', String(error), { cause: error });
          return { success: false, error: failure, usage, attempts: Math.max(1, tally.attempts), text };
        }
        text = completion.text;
        usage = addUsage(addUsage(usage, tally.discarded), usageOf(completion, messages, tally.attempts - before));
        tally.discarded = ZERO_USAGE;
        const stop = completion.stop ?? 'complete';
        if (stop === 'refused') return refusedOutcome(id, completion, usage, tally.attempts);
        const parsed = parseStructured(text, request.schema);
        if (parsed.success) return { success: true, value: parsed.value, usage, attempts: tally.attempts, text };
        if (stop === 'truncated') {
          const larger = largerLimit(maxTokens);
          if (larger !== undefined && raisedFrom === undefined) {
            // The same request once more with room to finish; a repair at the same limit would be cut again.
            raisedFrom = maxTokens;
            maxTokens = larger;
            continue;
          }
          return truncatedOutcome({ id, completion, usage, attempts: tally.attempts, maxTokens, raisedFrom });
        }
        const reason = `${parsed.error}${stop === 'other' && completion.stopReason ? ` (stop reason ${completion.stopReason})` : ''}`;
        if (pass === 1) {
          const failure: StructuredOutcome<T> = {
            success: false,
            error: new TribunalError('OUTPUT_INVALID', `${id} returned invalid output twice: ${reason}`),
            usage,
            attempts: tally.attempts,
            text,
          };
          if (stop === 'other' && completion.stopReason !== undefined) failure.stopReason = completion.stopReason;
          return failure;
        }
        // `text` is never empty here (an empty reply is retried in callWithRetries), so no empty message is sent.
        messages = [
          ...request.messages,
          new AIMessage(text),
          new HumanMessage(
            `Your reply was not valid: ${reason}\nReply again with only a JSON object that matches the schema, nothing else.`,
          ),
        ];
        pass++;
      }
      throw new Error('unreachable');
    },
  };
}

/** A reply with no text, no refusal and not cut short: worth asking again, never worth repairing. */
function isEmptyReply(completion: RawCompletion): boolean {
  return completion.stop !== 'refused' && completion.stop !== 'truncated' && completion.text.trim() === '';
}

/** The outcome of a refused call: REFUSED with the stop reason and what the model said instead. */
function refusedOutcome(
  id: string,
  completion: RawCompletion,
  usage: Usage,
  attempts: number,
): { success: false; error: TribunalError; usage: Usage; attempts: number; text: string; stopReason?: string; refusal?: string } {
  const said = (completion.refusal ?? completion.text).trim().slice(0, MAX_REFUSAL_CHARS);
  const reason = completion.stopReason === undefined ? '' : ` (stop reason ${completion.stopReason})`;
  const quoted = said === '' ? '' : `: "${said.length > 200 ? `${said.slice(0, 200)}…` : said}"`;
  const outcome: {
    success: false;
    error: TribunalError;
    usage: Usage;
    attempts: number;
    text: string;
    stopReason?: string;
    refusal?: string;
  } = {
    success: false,
    error: new TribunalError('REFUSED', `${id} refused to answer${reason}${quoted}`),
    usage,
    attempts,
    text: completion.text,
  };
  if (completion.stopReason !== undefined) outcome.stopReason = completion.stopReason;
  if (said !== '') outcome.refusal = said;
  return outcome;
}

/** The outcome of a reply still cut at the token limit: names the limit and says to raise maxTokens. */
function truncatedOutcome(options: {
  id: string;
  completion: RawCompletion;
  usage: Usage;
  attempts: number;
  maxTokens: number | undefined;
  raisedFrom: number | undefined;
}): { success: false; error: TribunalError; usage: Usage; attempts: number; text: string; stopReason?: string } {
  const { id, completion, maxTokens, raisedFrom } = options;
  const limit =
    maxTokens === undefined
      ? "the provider's default token limit"
      : raisedFrom === undefined
        ? `maxTokens ${maxTokens}`
        : `maxTokens ${maxTokens} (raised from ${raisedFrom} for a second try)`;
  const thinking =
    completion.text.trim() === '' ? ' before writing any answer (a reasoning model can spend it all thinking)' : '';
  const outcome: { success: false; error: TribunalError; usage: Usage; attempts: number; text: string; stopReason?: string } = {
    success: false,
    error: new TribunalError(
      'OUTPUT_INVALID',
      `${id} stopped at ${limit}${thinking} (stop reason ${completion.stopReason ?? 'unknown'}): raise maxTokens in the panel`,
    ),
    usage: options.usage,
    attempts: options.attempts,
    text: completion.text,
  };
  if (completion.stopReason !== undefined) outcome.stopReason = completion.stopReason;
  return outcome;
}

/** The options of one provider call, set field by field (a literal with conditional spreads allocates one object per spread). */
function rawCallOptions(
  request: StructuredRequest<unknown>,
  jsonSchema: Record<string, unknown>,
  maxTokens: number | undefined,
  signal: AbortSignal,
): RawCallOptions {
  const call: RawCallOptions = { jsonSchema, schemaName: request.schemaName, signal };
  if (request.temperature !== undefined) call.temperature = request.temperature;
  if (maxTokens !== undefined) call.maxTokens = maxTokens;
  if (request.onToken !== undefined) call.onToken = request.onToken;
  if (request.turn !== undefined) call.turn = request.turn;
  return call;
}

const ONCE = { once: true } as const;

/**
 * The signal of one attempt: aborts when the caller's signal does, when no chunk arrives for `idleMs` (before the
 * first one: the time to first token), or after `totalMs` however busy the stream. Plain timers cleared when the
 * attempt settles, rather than AbortSignal.timeout + AbortSignal.any, which keep a timer and signal bookkeeping alive
 * for the whole timeout after every call (thousands at a time in a large run). A chunk only stamps the time
 * (`touch`); the idle timer, when it fires, reschedules itself for the rest of the window if a chunk came meanwhile.
 * It is its own abort listener (`handleEvent`) and its timers get it as an argument, so an attempt allocates one
 * closure (`touch`).
 */
class AttemptSignal {
  /** Which deadline aborted the attempt, if one did. */
  timedOut: 'first-chunk' | 'idle' | 'total' | undefined;
  private controller: AbortController | undefined;
  private totalTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lastChunkAt = 0;
  private chunks = 0;

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly totalMs: number,
    private readonly idleMs: number,
  ) {}

  /** Marks a chunk's arrival (passed to the adapter as `onChunk`). */
  readonly touch = (): void => {
    this.chunks++;
    this.lastChunkAt = performance.now();
  };

  /** Starts the timeouts and returns the signal to pass to the provider. */
  start(): AbortSignal {
    const controller = new AbortController();
    this.controller = controller;
    this.lastChunkAt = performance.now();
    // Like AbortSignal.timeout's timer, they do not keep the process alive on their own.
    this.totalTimer = setTimeout(totalTimedOut, this.totalMs, this).unref();
    if (this.idleMs < this.totalMs) this.idleTimer = setTimeout(idleCheck, this.idleMs, this).unref();
    if (this.caller?.aborted) controller.abort(this.caller.reason);
    else this.caller?.addEventListener('abort', this, ONCE);
    return controller.signal;
  }

  /** Listens on the caller's signal. */
  handleEvent(): void {
    this.controller?.abort(this.caller?.reason);
  }

  /** Aborts on the idle deadline, or waits out the rest of the window since the last chunk. */
  checkIdle(): void {
    const quiet = performance.now() - this.lastChunkAt;
    if (quiet < this.idleMs) {
      this.idleTimer = setTimeout(idleCheck, Math.max(1, this.idleMs - quiet), this).unref();
      return;
    }
    this.timeOut(this.chunks === 0 ? 'first-chunk' : 'idle');
  }

  timeOut(kind: 'first-chunk' | 'idle' | 'total'): void {
    if (this.timedOut !== undefined) return;
    this.timedOut = kind;
    const ms = kind === 'total' ? this.totalMs : this.idleMs;
    this.controller?.abort(new DOMException(`the call timed out (${kind}) after ${ms} ms`, 'TimeoutError'));
  }

  /** The retryable TIMEOUT failure that names the deadline that fired and the setting that sets it. */
  timeoutFailure(id: string): ClassifiedFailure {
    const message =
      this.timedOut === 'total'
        ? this.chunks === 0
          ? `${id} sent nothing within ${this.totalMs} ms (total timeout, TRIBUNAL_TIMEOUT_MS)`
          : `${id} was still answering after ${this.totalMs} ms (total timeout, TRIBUNAL_TIMEOUT_MS)`
        : this.timedOut === 'first-chunk'
          ? `${id} sent nothing within ${this.idleMs} ms (time to first token, TRIBUNAL_IDLE_TIMEOUT_MS)`
          : `${id} stopped sending for ${this.idleMs} ms after ${this.chunks} chunks (idle timeout, TRIBUNAL_IDLE_TIMEOUT_MS)`;
    return { code: 'TIMEOUT', message, retryable: true };
  }

  dispose(): void {
    if (this.totalTimer !== undefined) clearTimeout(this.totalTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.caller?.removeEventListener('abort', this);
  }
}

function totalTimedOut(attempt: AttemptSignal): void {
  attempt.timeOut('total');
}

function idleCheck(attempt: AttemptSignal): void {
  attempt.checkIdle();
}

/** Parses model text as JSON (tolerating code fences and surrounding prose) and validates it. */
export function parseStructured<T>(
  text: string,
  schema: z.ZodType<T>,
): { success: true; value: T } | { success: false; error: string } {
  const candidate = extractJson(text);
  if (candidate === undefined) return { success: false, error: 'no JSON object found in the reply' };
  let value: unknown;
  try {
    value = JSON.parse(candidate);
  } catch (error) {
    return { success: false, error: `invalid JSON (${(error as Error).message})` };
  }
  const result = schema.safeParse(value);
  if (result.success) return { success: true, value: result.data };
  return {
    success: false,
    error: result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
  };
}

function extractJson(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return trimmed;
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(trimmed);
  if (fenced?.[1]) return fenced[1].trim();
  const start = trimmed.indexOf('{');
  const end = trimmed.lastIndexOf('}');
  return start >= 0 && end > start ? trimmed.slice(start, end + 1) : undefined;
}

/** What a provider error means: its code, a message naming the model, and whether the same request may be sent again. */
export interface ClassifiedFailure {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** Longest piece of a provider's error message quoted in ours. */
const MAX_DETAIL_CHARS = 500;

/**
 * Provider error types (Anthropic `error.type`, OpenAI `error.type` or `error.code`) by what they mean. They decide
 * errors that carry no HTTP status: those sent inside a stream that began with 200 (Anthropic `event: error`, an OpenAI
 * `data: {"error": …}` chunk).
 */
const ERROR_TYPES: Record<string, { code: ClassifiedFailure['code']; retryable: boolean; says: string }> = {
  overloaded_error: { code: 'PROVIDER_FAILED', retryable: true, says: 'is overloaded' },
  api_error: { code: 'PROVIDER_FAILED', retryable: true, says: 'had a server error' },
  server_error: { code: 'PROVIDER_FAILED', retryable: true, says: 'had a server error' },
  internal_error: { code: 'PROVIDER_FAILED', retryable: true, says: 'had a server error' },
  service_unavailable: { code: 'PROVIDER_FAILED', retryable: true, says: 'is unavailable' },
  rate_limit_error: { code: 'RATE_LIMITED', retryable: true, says: 'is rate limited' },
  rate_limit_exceeded: { code: 'RATE_LIMITED', retryable: true, says: 'is rate limited' },
  timeout_error: { code: 'TIMEOUT', retryable: true, says: 'timed out' },
  insufficient_quota: { code: 'PROVIDER_FAILED', retryable: false, says: 'has no quota left (check the plan and billing)' },
  billing_error: { code: 'PROVIDER_FAILED', retryable: false, says: 'refused the call for billing (check the plan and billing)' },
  authentication_error: {
    code: 'MODEL_CREDENTIALS_MISSING',
    retryable: false,
    says: 'refused the credentials (check the API key)',
  },
  invalid_api_key: { code: 'MODEL_CREDENTIALS_MISSING', retryable: false, says: 'refused the credentials (check the API key)' },
  permission_error: { code: 'MODEL_CREDENTIALS_MISSING', retryable: false, says: 'denied permission (check the API key)' },
  not_found_error: { code: 'MODEL_NOT_FOUND', retryable: false, says: 'was not found' },
  model_not_found: { code: 'MODEL_NOT_FOUND', retryable: false, says: 'was not found' },
  invalid_request_error: { code: 'PROVIDER_FAILED', retryable: false, says: 'rejected the request' },
  request_too_large: { code: 'PROVIDER_FAILED', retryable: false, says: 'rejected the request as too large' },
};

/** Decides whether a provider error is worth retrying, and how long the provider asked us to wait. */
export function classifyError(error: unknown, id: string, timedOutAfterMs?: number): ClassifiedFailure {
  if (timedOutAfterMs !== undefined) {
    return { code: 'TIMEOUT', message: `${id} did not answer within ${timedOutAfterMs} ms`, retryable: true };
  }
  // Failures the adapters already classified keep their code (a stream cut before its end event is MODEL_UNREACHABLE).
  // An endpoint fleet with no endpoint left says itself whether waiting can help (its probes may bring one back).
  if (error instanceof EndpointsUnavailableError) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof TribunalError) {
    const retryable = error.code === 'MODEL_UNREACHABLE' || error.code === 'TIMEOUT' || error.code === 'RATE_LIMITED';
    return { code: error.code, message: error.message, retryable };
  }
  const record = (error ?? {}) as Record<string, unknown>;
  const status = typeof record.status === 'number' ? record.status : undefined;
  const retryAfterMs = readRetryAfter(record.headers);
  const wait = retryAfterMs === undefined ? {} : { retryAfterMs };
  const provider = providerErrorOf(record);
  const detail = clip(redactText(provider.message ?? (error instanceof Error ? error.message : String(error))));
  const known = provider.type === undefined ? undefined : ERROR_TYPES[provider.type];
  if (status === 401 || status === 403) {
    return {
      code: 'MODEL_CREDENTIALS_MISSING',
      message: `${id} refused the credentials (HTTP ${status}): check the API key`,
      retryable: false,
    };
  }
  if (status === 404) return { code: 'MODEL_NOT_FOUND', message: `${id} was not found (HTTP 404): ${detail}`, retryable: false };
  if (status === 429) {
    // OpenAI answers an exhausted quota with 429 too; waiting does not refill it.
    if (known !== undefined && !known.retryable) {
      return { code: known.code, message: `${id} ${known.says} (HTTP 429): ${detail}`, retryable: false };
    }
    return { code: 'RATE_LIMITED', message: `${id} is rate limited (HTTP 429)`, retryable: true, ...wait };
  }
  if (status === 408 || status === 409 || (status !== undefined && status >= 500)) {
    return { code: 'PROVIDER_FAILED', message: `${id} failed (HTTP ${status}): ${detail}`, retryable: true, ...wait };
  }
  if (status === 400 || status === 413 || status === 422) {
    return {
      code: 'PROVIDER_FAILED',
      message: `${id} rejected the request (HTTP ${status}): ${explainRejection(detail)}`,
      retryable: false,
    };
  }
  if (status === undefined && known !== undefined) {
    // An error event inside a stream that began with 200: the provider's error type says what it was.
    const hint = provider.type === 'invalid_request_error' ? explainRejection(detail) : detail;
    return {
      code: known.code,
      message: `${id} ${known.says} (${provider.type} in the stream): ${hint}`,
      retryable: known.retryable,
      ...wait,
    };
  }
  const name = error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}` : '';
  if (/Connection|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|fetch failed|socket hang up|terminated/i.test(`${name} ${detail}`)) {
    return { code: 'MODEL_UNREACHABLE', message: `${id} is unreachable: ${detail}`, retryable: true };
  }
  if (/timeout|timed out/i.test(`${name} ${detail}`))
    return { code: 'TIMEOUT', message: `${id} timed out: ${detail}`, retryable: true };
  return { code: 'PROVIDER_FAILED', message: `${id} failed: ${detail}`, retryable: status === undefined ? false : status >= 500 };
}

/**
 * The error type and message inside an SDK error's body: OpenAI `{ message, type, code }`, Anthropic
 * `{ type: 'error', error: { type, message } }`; the SDKs also copy the type to the error itself.
 */
function providerErrorOf(record: Record<string, unknown>): { type?: string; message?: string } {
  const body = isRecord(record.error) ? record.error : undefined;
  const inner = body && isRecord(body.error) ? body.error : body;
  const result: { type?: string; message?: string } = {};
  const candidates = [inner?.type, inner?.code, record.type, record.code];
  const type = candidates.find((value) => typeof value === 'string' && value !== 'error' && value in ERROR_TYPES);
  if (typeof type === 'string') result.type = type;
  else if (typeof inner?.type === 'string' && inner.type !== 'error') result.type = inner.type;
  if (typeof inner?.message === 'string' && inner.message !== '') result.message = inner.message;
  return result;
}

/** Request features a server may reject, how to recognise its complaint, and what to change. */
const REJECTIONS: Array<{ pattern: RegExp; feature: string; fix: string }> = [
  {
    pattern: /output_config|output_format|structured.output|json.outputs/i,
    feature: 'Anthropic JSON outputs (`output_config.format`)',
    fix: 'use a model that supports structured outputs (Claude Sonnet 4.5, Opus 4.1, Haiku 4.5 or later) in the panel, or point ANTHROPIC_BASE_URL at the official API',
  },
  {
    pattern: /json_schema|response_format|strict|invalid schema|schema/i,
    feature: 'the strict `response_format` json_schema built from the output schema',
    fix: 'use a model or server with structured outputs (OpenAI gpt-4o/gpt-4.1 or later; vLLM with guided decoding; Ollama 0.5 or later), or a `local:` GGUF model, which constrains output with a grammar instead',
  },
  {
    pattern: /max_tokens|max_completion_tokens|max_output_tokens/i,
    feature: 'the output token limit',
    fix: 'lower `maxTokens` in the panel to what the model allows',
  },
  {
    pattern: /temperature/i,
    feature: 'the temperature',
    fix: 'set `temperature` in the panel (or persona) to one the model accepts, or leave it at the default',
  },
  {
    pattern: /\btools?\b|tool_choice|function/i,
    feature: 'tools',
    fix: 'use a model that supports tool calls',
  },
  {
    pattern: /context.length|context.window|prompt is too long|too many tokens|maximum context/i,
    feature: 'the prompt length',
    fix: 'shorten the candidates or the persona, lower `maxRounds`, or use a model with a larger context window',
  },
];

/** Names the request feature a 400 rejected and what to change; the server's words follow, clipped. */
export function explainRejection(detail: string): string {
  const match = REJECTIONS.find((rejection) => rejection.pattern.test(detail));
  if (match === undefined) return `${detail} (nothing will change on retry; check the panel's model, maxTokens and temperature)`;
  return `the server does not accept ${match.feature}; ${match.fix}. The server said: ${detail}`;
}

function clip(text: string): string {
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readRetryAfter(headers: unknown): number | undefined {
  if (!headers) return undefined;
  const get = (name: string): string | undefined => {
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  };
  const ms = get('retry-after-ms');
  if (ms !== undefined && Number.isFinite(Number(ms))) return Number(ms);
  const seconds = get('retry-after');
  if (seconds === undefined) return undefined;
  if (Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  const date = Date.parse(seconds);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
