import {
  type RecordedRequest,
  type SseFrame,
  startWireServer,
  type WireDialect,
  type WireServer,
} from './scripted-wire-server.js';

/**
 * Speaks Anthropic's Messages wire format: JSON responses, and SSE events `message_start`,
 * `content_block_start`, `content_block_delta` (text_delta), `content_block_stop`, `message_delta` (usage),
 * `message_stop`. Errors use Anthropic's `{ type: 'error', error: { type, message } }` body.
 */
export const anthropicDialect: WireDialect = {
  paths: ['/v1/messages'],
  json({ text, inputTokens, outputTokens }, request) {
    return {
      id: 'msg_test',
      type: 'message',
      role: 'assistant',
      model: modelOf(request),
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens },
    };
  },
  events({ pieces, inputTokens, outputTokens, stopReason, finalInputTokens }, request) {
    const event = (type: string, payload: Record<string, unknown>, content = false, end = false): SseFrame => ({
      event: type,
      data: JSON.stringify({ type, ...payload }),
      ...(content ? { content } : {}),
      ...(end ? { end } : {}),
    });
    return [
      event('message_start', {
        message: {
          id: 'msg_test',
          type: 'message',
          role: 'assistant',
          model: modelOf(request),
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: inputTokens, output_tokens: 1 },
        },
      }),
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      event('ping', {}),
      ...pieces.map((text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }, true)),
      event('content_block_stop', { index: 0 }),
      event(
        'message_delta',
        {
          delta: { stop_reason: stopReason ?? 'end_turn', stop_sequence: null },
          usage: {
            ...(finalInputTokens === undefined ? {} : { input_tokens: finalInputTokens }),
            output_tokens: outputTokens,
          },
        },
        false,
        true,
      ),
      event('message_stop', {}, false, true),
    ];
  },
  streamError({ type, message }) {
    return { event: 'error', data: JSON.stringify({ type: 'error', error: { type, message } }) };
  },
  error(status, message) {
    const type =
      status === 401
        ? 'authentication_error'
        : status === 429
          ? 'rate_limit_error'
          : status === 529
            ? 'overloaded_error'
            : status >= 500
              ? 'api_error'
              : 'invalid_request_error';
    return { type: 'error', error: { type, message } };
  },
};

function modelOf(request: RecordedRequest): string {
  return typeof request.body?.model === 'string' ? request.body.model : 'unknown';
}

/** Starts an Anthropic-compatible server; `baseURL` is what ANTHROPIC_BASE_URL would be. */
export async function startAnthropicWireServer(): Promise<WireServer & { baseURL: string }> {
  const server = await startWireServer(anthropicDialect);
  return Object.assign(server, { baseURL: server.origin });
}
