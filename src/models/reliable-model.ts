import { AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { addUsage, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
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
  /** Per-attempt timeout in ms. */
  timeoutMs?: number;
  /** Retries after the first attempt for 429, 5xx, timeouts and connection errors. */
  maxRetries?: number;
  /** First backoff delay in ms; doubles each retry (capped by maxBackoffMs). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Sleep function, replaceable in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Shared limiter, so several models of one provider share a concurrency budget. */
  limiter?: Limiter;
}

/**
 * Wraps a provider adapter with retries (exponential backoff honouring retry-after), a concurrency limit,
 * a per-attempt timeout, cancellation, usage and cost accounting, JSON parsing, schema validation and one
 * repair attempt with the validation error fed back.
 */
export function createCriticModel(
  options: { id: string; adapter: ProviderAdapter; pricing?: ModelPricing | undefined } & ReliabilityOptions,
): CriticModel {
  const { id, adapter } = options;
  // A price given for this id (--price, a panel's prices) beats the adapter's own.
  const pricing = options.pricing ?? adapter.pricing;
  const limiter = options.limiter ?? new Limiter(options.concurrency ?? 8);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const maxRetries = options.maxRetries ?? 4;
  const baseBackoffMs = options.baseBackoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const sleep = options.sleep ?? abortableSleep;
  const schemaCache = new WeakMap<object, Record<string, unknown>>();

  /** One call with retries; returns the completion, and counts every attempt made in `tally`. */
  async function callWithRetries(
    messages: BaseMessage[],
    request: StructuredRequest<unknown>,
    jsonSchema: Record<string, unknown>,
    tally: { attempts: number },
  ): Promise<RawCompletion> {
    const caller = request.signal;
    for (let attempt = 1; ; attempt++) {
      if (caller?.aborted) throw new TribunalError('ABORTED', `call to ${id} was cancelled`, { cause: caller.reason });
      // The timeout starts when the call leaves the limiter queue, so waiting for a slot never counts against it.
      const attemptCall = new AttemptSignal(caller, timeoutMs);
      try {
        // A free slot is taken without a promise; only a full limiter makes the call wait.
        if (!limiter.tryAcquire()) await limiter.acquire(caller);
        try {
          tally.attempts++;
          return await adapter.complete(messages, rawCallOptions(request, jsonSchema, attemptCall.start()));
        } finally {
          attemptCall.dispose();
          limiter.release();
        }
      } catch (error) {
        if (caller?.aborted) throw new TribunalError('ABORTED', `call to ${id} was cancelled`, { cause: error });
        const failure = classifyError(error, id, attemptCall.timedOut ? timeoutMs : undefined);
        if (!failure.retryable || attempt > maxRetries) {
          throw new TribunalError(failure.code, `${failure.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, {
            cause: error,
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
      const tally = { attempts: 0 };
      let messages = request.messages;
      let text = '';
      for (let pass = 0; pass < 2; pass++) {
        const before = tally.attempts;
        try {
          const completion = await callWithRetries(messages, request as StructuredRequest<unknown>, jsonSchema, tally);
          text = completion.text;
          // Tokens the server did not report are estimated from the text (and counted in usage.estimatedCalls).
          usage = addUsage(usage, completionUsage({ completion, messages, pricing, calls: tally.attempts - before }));
        } catch (error) {
          usage = addUsage(usage, { inputTokens: 0, outputTokens: 0, calls: tally.attempts - before, costUsd: 0 });
          const failure =
            error instanceof TribunalError ? error : new TribunalError('PROVIDER_FAILED', String(error), { cause: error });
          return { success: false, error: failure, usage, attempts: Math.max(1, tally.attempts), text };
        }
        const parsed = parseStructured(text, request.schema);
        if (parsed.success) return { success: true, value: parsed.value, usage, attempts: tally.attempts, text };
        if (pass === 1) {
          return {
            success: false,
            error: new TribunalError('OUTPUT_INVALID', `${id} returned invalid output twice: ${parsed.error}`),
            usage,
            attempts: tally.attempts,
            text,
          };
        }
        messages = [
          ...request.messages,
          new AIMessage(text),
          new HumanMessage(
            `Your reply was not valid: ${parsed.error}\nReply again with only a JSON object that matches the schema, nothing else.`,
          ),
        ];
      }
      throw new Error('unreachable');
    },
  };
}

/** The options of one provider call, set field by field (a literal with conditional spreads allocates one object per spread). */
function rawCallOptions(
  request: StructuredRequest<unknown>,
  jsonSchema: Record<string, unknown>,
  signal: AbortSignal,
): RawCallOptions {
  const call: RawCallOptions = { jsonSchema, schemaName: request.schemaName, signal };
  if (request.temperature !== undefined) call.temperature = request.temperature;
  if (request.maxTokens !== undefined) call.maxTokens = request.maxTokens;
  if (request.onToken !== undefined) call.onToken = request.onToken;
  if (request.turn !== undefined) call.turn = request.turn;
  return call;
}

const ONCE = { once: true } as const;

/**
 * The signal of one attempt: aborts when the caller's signal does or after `timeoutMs`. A plain timer that is
 * cleared when the attempt settles, rather than AbortSignal.timeout + AbortSignal.any, which keep a timer and
 * signal bookkeeping alive for the whole timeout after every call (thousands at a time in a large run). It is its
 * own abort listener (`handleEvent`) and its timer gets it as an argument, so an attempt allocates no closures.
 */
class AttemptSignal {
  timedOut = false;
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** Starts the timeout and returns the signal to pass to the provider. */
  start(): AbortSignal {
    const controller = new AbortController();
    this.controller = controller;
    // Like AbortSignal.timeout's timer, it does not keep the process alive on its own.
    this.timer = setTimeout(attemptTimedOut, this.timeoutMs, this).unref();
    if (this.caller?.aborted) controller.abort(this.caller.reason);
    else this.caller?.addEventListener('abort', this, ONCE);
    return controller.signal;
  }

  /** Listens on the caller's signal. */
  handleEvent(): void {
    this.controller?.abort(this.caller?.reason);
  }

  /** The attempt ran out of time. */
  timeOut(): void {
    this.timedOut = true;
    this.controller?.abort(new DOMException(`the call timed out after ${this.timeoutMs} ms`, 'TimeoutError'));
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this);
  }
}

function attemptTimedOut(attempt: AttemptSignal): void {
  attempt.timeOut();
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

interface ClassifiedFailure {
  code: 'RATE_LIMITED' | 'TIMEOUT' | 'PROVIDER_FAILED' | 'MODEL_CREDENTIALS_MISSING' | 'MODEL_NOT_FOUND' | 'MODEL_UNREACHABLE';
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** Decides whether a provider error is worth retrying, and how long the provider asked us to wait. */
export function classifyError(error: unknown, id: string, timedOutAfterMs?: number): ClassifiedFailure {
  if (timedOutAfterMs !== undefined) {
    return { code: 'TIMEOUT', message: `${id} did not answer within ${timedOutAfterMs} ms`, retryable: true };
  }
  const record = (error ?? {}) as Record<string, unknown>;
  const status = typeof record.status === 'number' ? record.status : undefined;
  const retryAfterMs = readRetryAfter(record.headers);
  const detail = redactText(error instanceof Error ? error.message : String(error));
  if (status === 401 || status === 403) {
    return {
      code: 'MODEL_CREDENTIALS_MISSING',
      message: `${id} refused the credentials (HTTP ${status}): check the API key`,
      retryable: false,
    };
  }
  if (status === 404) return { code: 'MODEL_NOT_FOUND', message: `${id} was not found (HTTP 404): ${detail}`, retryable: false };
  if (status === 429) {
    return {
      code: 'RATE_LIMITED',
      message: `${id} is rate limited (HTTP 429)`,
      retryable: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  if (status === 408 || status === 409 || (status !== undefined && status >= 500)) {
    return {
      code: 'PROVIDER_FAILED',
      message: `${id} failed (HTTP ${status}): ${detail}`,
      retryable: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  const name = error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}` : '';
  if (/Connection|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|fetch failed|socket hang up/i.test(`${name} ${detail}`)) {
    return { code: 'MODEL_UNREACHABLE', message: `${id} is unreachable: ${detail}`, retryable: true };
  }
  if (/timeout|timed out/i.test(`${name} ${detail}`))
    return { code: 'TIMEOUT', message: `${id} timed out: ${detail}`, retryable: true };
  return { code: 'PROVIDER_FAILED', message: `${id} failed: ${detail}`, retryable: status === undefined ? false : status >= 500 };
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
