import { type ErrorCode, type GenerationSample, TribunalError, type Usage, ZERO_USAGE } from '../contracts/index.js';
import {
  costOf,
  lookupPricing,
  type ModelPricing,
  OPENAI_DEFAULT_BASE_URL,
  OPENAI_PLACEHOLDER_KEY,
  type PricingTable,
  redactText,
  type Settings,
} from '../models/index.js';
import { type CallPolicy, promptMessages } from './policy.js';

/** Longest response body read from a provider (K samples of long answers fit easily). */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Per-request timeout when the settings name none. */
const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_RETRIES = 2;

/** Options shared by the HTTP policies. */
export interface HttpPolicyOptions {
  /** The policy id, `openai:NAME` or `anthropic:NAME`. */
  id: string;
  settings: Settings;
  pricing?: PricingTable | undefined;
  /** Retry waits (tests pass 0). Default 500 ms, doubling. */
  backoffMs?: number | undefined;
}

/**
 * `openai:NAME`: OpenAI or any OpenAI-compatible server (`OPENAI_BASE_URL`: vLLM, Ollama, llama.cpp, LM Studio),
 * free-text chat completions with `temperature`, `top_p`, `max_tokens`, `seed` and `logprobs`. K samples are asked
 * for in one request with `n`; a server that answers fewer choices (it ignores `n`) gets the rest one request each,
 * and the policy remembers that for later prompts. A server that refuses `logprobs` is asked again without them.
 * @example const policy = createOpenAIPolicy({ id: 'openai:gpt-4.1-mini', settings: loadSettings() });
 */
export function createOpenAIPolicy(options: HttpPolicyOptions): CallPolicy {
  const model = options.id.slice('openai:'.length);
  const { settings } = options;
  if (!settings.openaiApiKey && !settings.openaiBaseUrl) {
    throw new TribunalError(
      'MODEL_CREDENTIALS_MISSING',
      `${options.id} needs credentials: set OPENAI_API_KEY, or OPENAI_BASE_URL to an OpenAI-compatible server that needs no key`,
    );
  }
  const baseURL = (settings.openaiBaseUrl ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const apiKey = settings.openaiApiKey ?? OPENAI_PLACEHOLDER_KEY;
  const official = hostOf(baseURL) === 'api.openai.com';
  const pricing = lookupPricing(options.id, { overrides: options.pricing, builtIn: official });
  const client = new JsonClient({ ...options, secrets: settings.openaiApiKey ? [settings.openaiApiKey] : [] });
  let supportsN = true;
  let supportsLogprobs = true;

  return {
    kind: 'call',
    id: options.id,
    fingerprint: `${options.id}@${withoutCredentials(baseURL)}`,
    logprobs: true,
    async samplePrompt({ item, settings: sampling, signal }) {
      const messages = promptMessages(item);
      const samples: GenerationSample[] = [];
      let usage: Usage = ZERO_USAGE;
      const call = async (n: number) => {
        const body: Record<string, unknown> = {
          model,
          messages,
          temperature: sampling.temperature,
          top_p: sampling.topP,
          max_tokens: sampling.maxTokens,
          // one request per sample (a server without n): each its own seed, or a seeded server repeats itself
          seed: sampling.seed + samples.length,
          ...(n > 1 ? { n } : {}),
          ...(supportsLogprobs ? { logprobs: true } : {}),
        };
        let response: OpenAIResponse;
        try {
          response = (await client.post(
            `${baseURL}/chat/completions`,
            body,
            { authorization: `Bearer ${apiKey}` },
            signal,
          )) as OpenAIResponse;
        } catch (error) {
          // A server that does not do logprobs: once more without them, and never again.
          if (
            supportsLogprobs &&
            error instanceof TribunalError &&
            error.message.includes('HTTP 400') &&
            /logprob/i.test(error.message)
          ) {
            supportsLogprobs = false;
            response = (await client.post(
              `${baseURL}/chat/completions`,
              { ...body, logprobs: undefined },
              { authorization: `Bearer ${apiKey}` },
              signal,
            )) as OpenAIResponse;
          } else {
            throw error;
          }
        }
        const inputTokens = response.usage?.prompt_tokens ?? 0;
        const outputTokens = response.usage?.completion_tokens ?? 0;
        usage = addCall(usage, { inputTokens, outputTokens }, pricing);
        const choices = (response.choices ?? []).slice(0, n);
        for (const choice of choices) {
          const content = choice.logprobs?.content;
          const logprob = Array.isArray(content) ? content.reduce((sum, token) => sum + (token.logprob ?? 0), 0) : null;
          samples.push({
            index: samples.length,
            text: typeof choice.message?.content === 'string' ? choice.message.content : '',
            tokens: Array.isArray(content) ? content.length : n === 1 ? outputTokens : null,
            logprob: Number.isFinite(logprob) ? logprob : null,
            finish: choice.finish_reason === 'length' ? 'length' : 'stop',
          });
        }
        return choices.length;
      };
      if (supportsN && sampling.n > 1) {
        const got = await call(sampling.n);
        if (got < sampling.n) supportsN = false;
      }
      while (samples.length < sampling.n) {
        if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted');
        if ((await call(1)) === 0) {
          throw new TribunalError('PROVIDER_FAILED', `${options.id} answered with no choices: check the model name and server`);
        }
      }
      return { samples, usage };
    },
    async close() {},
  };
}

/**
 * `anthropic:NAME`: the Messages API (`ANTHROPIC_BASE_URL` or the official endpoint) with `temperature`, `top_p` and
 * `max_tokens`; one request per sample (the API has no `n`) and no log-probabilities.
 */
export function createAnthropicPolicy(options: HttpPolicyOptions): CallPolicy {
  const model = options.id.slice('anthropic:'.length);
  const { settings } = options;
  if (!settings.anthropicApiKey) {
    throw new TribunalError('MODEL_CREDENTIALS_MISSING', `${options.id} needs credentials: set ANTHROPIC_API_KEY`);
  }
  const apiKey = settings.anthropicApiKey;
  const baseURL = (settings.anthropicBaseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '').replace(/\/v1$/, '');
  const pricing = lookupPricing(options.id, { overrides: options.pricing });
  const client = new JsonClient({ ...options, secrets: [apiKey] });
  return {
    kind: 'call',
    id: options.id,
    fingerprint: `${options.id}@${withoutCredentials(baseURL)}`,
    logprobs: false,
    async samplePrompt({ item, settings: sampling, signal }) {
      const messages = promptMessages(item);
      const system = messages.filter((message) => message.role === 'system').map((message) => message.content);
      const turns = messages.filter((message) => message.role !== 'system');
      const samples: GenerationSample[] = [];
      let usage: Usage = ZERO_USAGE;
      for (let index = 0; index < sampling.n; index++) {
        const body = {
          model,
          max_tokens: sampling.maxTokens,
          temperature: Math.min(1, sampling.temperature),
          ...(sampling.topP < 1 ? { top_p: sampling.topP } : {}),
          ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
          messages: turns,
        };
        const response = (await client.post(
          `${baseURL}/v1/messages`,
          body,
          { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' },
          signal,
        )) as AnthropicResponse;
        const outputTokens = response.usage?.output_tokens ?? 0;
        usage = addCall(usage, { inputTokens: response.usage?.input_tokens ?? 0, outputTokens }, pricing);
        const text = (response.content ?? [])
          .filter((block) => block.type === 'text' && typeof block.text === 'string')
          .map((block) => block.text)
          .join('');
        samples.push({
          index,
          text,
          tokens: outputTokens,
          logprob: null,
          finish: response.stop_reason === 'max_tokens' ? 'length' : 'stop',
        });
      }
      return { samples, usage };
    },
    async close() {},
  };
}

interface OpenAIResponse {
  choices?: Array<{
    message?: { content?: unknown };
    finish_reason?: string;
    logprobs?: { content?: Array<{ logprob?: number }> | null } | null;
  }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

interface AnthropicResponse {
  content?: Array<{ type?: string; text?: string }>;
  stop_reason?: string;
  usage?: { input_tokens?: number; output_tokens?: number };
}

function addCall(usage: Usage, tokens: { inputTokens: number; outputTokens: number }, pricing: ModelPricing | undefined): Usage {
  return {
    inputTokens: usage.inputTokens + tokens.inputTokens,
    outputTokens: usage.outputTokens + tokens.outputTokens,
    calls: usage.calls + 1,
    costUsd: usage.costUsd + costOf(pricing, tokens),
  };
}

/** A base URL without user name, password or query (the fingerprint is stored in the run config). */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

/**
 * POSTs JSON and reads a bounded JSON answer; retries rate limits, server errors, timeouts and unreachable servers
 * with a doubling wait; maps failures to error codes; scrubs keys out of every message.
 */
class JsonClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly secrets: readonly string[];
  private readonly id: string;

  constructor(options: HttpPolicyOptions & { secrets: readonly string[] }) {
    this.timeoutMs = options.settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = options.settings.maxRetries ?? DEFAULT_RETRIES;
    this.backoffMs = options.backoffMs ?? 500;
    this.secrets = options.secrets;
    this.id = options.id;
  }

  async post(url: string, body: unknown, headers: Record<string, string>, signal: AbortSignal): Promise<unknown> {
    let attempt = 0;
    for (;;) {
      try {
        return await this.once(url, body, headers, signal);
      } catch (error) {
        const retryable =
          error instanceof TribunalError &&
          ['RATE_LIMITED', 'MODEL_UNREACHABLE', 'TIMEOUT', 'PROVIDER_FAILED'].includes(error.code);
        if (!retryable || attempt >= this.retries || signal.aborted) throw error;
        attempt += 1;
        await sleep(this.backoffMs * 2 ** (attempt - 1), signal);
      }
    }
  }

  private async once(url: string, body: unknown, headers: Record<string, string>, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted');
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      if (signal.aborted) throw new TribunalError('ABORTED', 'sampling was interrupted', { cause: error });
      if (timeout.aborted) throw new TribunalError('TIMEOUT', `${this.id}: no answer within ${this.timeoutMs} ms`);
      throw new TribunalError('MODEL_UNREACHABLE', `${this.id}: cannot reach ${url}: ${this.scrub((error as Error).message)}`);
    }
    const text = await readBounded(response);
    if (!response.ok) {
      const code: ErrorCode =
        response.status === 401 || response.status === 403
          ? 'MODEL_CREDENTIALS_MISSING'
          : response.status === 404
            ? 'MODEL_NOT_FOUND'
            : response.status === 429
              ? 'RATE_LIMITED'
              : response.status >= 500
                ? 'PROVIDER_FAILED'
                : 'OUTPUT_INVALID';
      throw new TribunalError(code, `${this.id}: HTTP ${response.status}: ${this.scrub(text.slice(0, 500))}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new TribunalError('PROVIDER_FAILED', `${this.id}: the answer is not JSON: ${this.scrub(text.slice(0, 200))}`);
    }
  }

  private scrub(text: string): string {
    return redactText(text, this.secrets);
  }
}

async function readBounded(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new TribunalError('PROVIDER_FAILED', `the answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
