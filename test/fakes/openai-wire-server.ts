import {
  type RecordedRequest,
  type SseFrame,
  split,
  startWireServer,
  type WireDialect,
  type WireServer,
} from './scripted-wire-server.js';

/**
 * Speaks OpenAI's chat completions wire format: JSON responses, and SSE `data: <chunk>` frames ending with
 * a usage chunk (when `stream_options.include_usage` is set and the reply does not `omitUsage`) and `data: [DONE]`. Errors use OpenAI's
 * `{ error: { message, type, code } }` body.
 */
export const openAIDialect: WireDialect = {
  paths: ['/v1/chat/completions'],
  models: { path: '/v1/models', body: { object: 'list', data: [{ id: 'served-model', object: 'model', owned_by: 'test' }] } },
  json({ text, inputTokens, outputTokens, omitUsage, choices }, request) {
    // With `logprobs: true`, each whitespace-separated piece of a text is one token of log-probability -0.25.
    const logprobs = (content: string) =>
      request.body?.logprobs === true
        ? { content: (content.match(/\S+\s*/g) ?? []).map((token) => ({ token, logprob: -0.25, bytes: null, top_logprobs: [] })) }
        : null;
    return {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: modelOf(request),
      choices: (choices ?? [text]).map((content, index) => ({
        index,
        message: { role: 'assistant', content, refusal: null },
        finish_reason: 'stop',
        logprobs: logprobs(content),
      })),
      ...(omitUsage
        ? {}
        : { usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens } }),
    };
  },
  events({ pieces, inputTokens, outputTokens, stopReason, refusal, omitUsage }, request) {
    const base = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: modelOf(request) };
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}, content = false, end = false): SseFrame => ({
      data: JSON.stringify({ ...base, choices, ...extra }),
      ...(content ? { content } : {}),
      ...(end ? { end } : {}),
    });
    const frames = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])];
    for (const piece of pieces) frames.push(chunk([{ index: 0, delta: { content: piece }, finish_reason: null }], {}, true));
    // A refusal streams in `delta.refusal` pieces, with no content.
    if (refusal !== undefined) {
      for (const piece of split(refusal, 3)) {
        frames.push(chunk([{ index: 0, delta: { refusal: piece }, finish_reason: null }], {}, true));
      }
    }
    frames.push(chunk([{ index: 0, delta: {}, finish_reason: stopReason ?? 'stop' }], {}, false, true));
    const streamOptions = request.body?.stream_options as { include_usage?: boolean } | undefined;
    if (streamOptions?.include_usage && !omitUsage) {
      frames.push(
        chunk(
          [],
          { usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens } },
          false,
          true,
        ),
      );
    }
    frames.push({ data: '[DONE]', end: true });
    return frames;
  },
  streamError({ type, message }) {
    return { data: JSON.stringify({ error: { message, type, param: null, code: null } }) };
  },
  error(status, message) {
    const type =
      status === 401 || (status >= 400 && status < 500 && status !== 429)
        ? 'invalid_request_error'
        : status === 429
          ? 'rate_limit_exceeded'
          : 'server_error';
    return { error: { message, type, param: null, code: status === 401 ? 'invalid_api_key' : null } };
  },
};

function modelOf(request: RecordedRequest): string {
  return typeof request.body?.model === 'string' ? request.body.model : 'unknown';
}

/** Starts an OpenAI-compatible server; `baseURL` is what OPENAI_BASE_URL would be. */
export async function startOpenAIWireServer(): Promise<WireServer & { baseURL: string }> {
  const server = await startWireServer(openAIDialect);
  return Object.assign(server, { baseURL: `${server.origin}/v1` });
}
