import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when the body was empty or not JSON). */
  body: Record<string, unknown> | undefined;
}

/** A scripted reply: a successful completion, an HTTP error, or a stall. */
export type WireReply =
  | {
      /** The assistant text, streamed in `chunks` pieces (or returned whole for non-streaming requests). */
      text: string;
      inputTokens?: number;
      outputTokens?: number;
      chunks?: number;
      /** Stream this many chunks, then stop sending and hold the connection open until the client leaves. */
      stallAfterChunks?: number;
      /** Send no token usage at all (as many OpenAI-compatible servers do), whatever the request asked for. */
      omitUsage?: boolean;
      /** The provider's stop reason (OpenAI `finish_reason`, Anthropic `stop_reason`); the dialect's normal one by default. */
      stopReason?: string;
      /** OpenAI: refusal text streamed in `delta.refusal` (in addition to `text`, which may be empty). */
      refusal?: string;
      /** Anthropic: the cumulative input tokens restated in `message_delta` (as the API does after server tools). */
      finalInputTokens?: number;
      /** End the stream after the content without its end frames: `close` ends the response cleanly, `drop` destroys the socket. */
      cut?: 'close' | 'drop';
      /** Send the provider's in-stream error event in place of the end frames (no HTTP status: the stream began with 200). */
      streamError?: { type: string; message: string };
      /** Wait this long before each frame: a slow stream that is still alive. */
      frameDelayMs?: number;
      /** Non-streaming replies with several choices (OpenAI's `n`): their texts; `text` is then unused. */
      choices?: string[];
      /** Answer only once this settles: the request stays in flight (counted in `active`) until the test lets it go. */
      hold?: Promise<unknown>;
    }
  | { status: number; message?: string; headers?: Record<string, string> }
  /** Close the connection without answering (a server that crashed or refuses work: the client sees a reset). */
  | { reset: true }
  /** Accept the request and never answer (the client must time out or abort). */
  | { hang: true };

export type WireScript = (request: RecordedRequest) => WireReply | undefined;

/** How a provider renders replies on the wire. */
export interface WireDialect {
  /** Paths the dialect answers (e.g. `/v1/chat/completions`). */
  paths: string[];
  /** The model list a health probe reads (`GET /v1/models`), when the dialect has one, and its body. */
  models?: { path: string; body: unknown };
  json(
    reply: { text: string; inputTokens: number; outputTokens: number; omitUsage?: boolean; choices?: string[] },
    request: RecordedRequest,
  ): unknown;
  /** SSE frames (without the trailing blank line), one per piece of text, including start/usage/end frames. */
  events(reply: StreamReply, request: RecordedRequest): SseFrame[];
  error(status: number, message: string): unknown;
  /** The frame a provider sends for an error after the stream has begun. */
  streamError(error: { type: string; message: string }): SseFrame;
}

/** What a dialect renders as a stream. */
export interface StreamReply {
  pieces: string[];
  inputTokens: number;
  outputTokens: number;
  stopReason?: string | undefined;
  refusal?: string | undefined;
  finalInputTokens?: number | undefined;
  /** Send no token usage at all. */
  omitUsage?: boolean | undefined;
}

/** One server-sent event. */
export interface SseFrame {
  event?: string;
  data: string;
  /** True for frames that carry one text piece. */
  content?: boolean;
  /** True for the frames that end a stream (stop reason, final usage, `[DONE]`, `message_stop`). */
  end?: boolean;
}

/** A local HTTP server speaking a provider's wire format, scripted per test. */
export interface WireServer {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:4242`. */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  /** Requests that arrived with nothing scripted (answered 418 so the client fails loudly). */
  readonly unscripted: RecordedRequest[];
  /** Queues replies, used in order. */
  enqueue(...replies: WireReply[]): void;
  /** Replaces the queue with a function deciding each reply. */
  setScript(script: WireScript): void;
  /** Requests being answered now, and the most at once so far (count concurrency server-side). */
  readonly active: number;
  readonly peakActive: number;
  /** How the model list (health probes) answers: an HTTP error, a reset, or (undefined, the default) the list. */
  setModelsReply(reply: { status: number } | { reset: true } | undefined): void;
  close(): Promise<void>;
}

/** Starts a scripted server for a dialect on a free loopback port. */
export async function startWireServer(dialect: WireDialect): Promise<WireServer> {
  const requests: RecordedRequest[] = [];
  const unscripted: RecordedRequest[] = [];
  const queue: WireReply[] = [];
  let script: WireScript | undefined;
  let active = 0;
  let peakActive = 0;
  let modelsReply: { status: number } | { reset: true } | undefined;

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
      const request: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body };
      requests.push(request);
      if (dialect.models !== undefined && request.method === 'GET' && request.path.split('?')[0] === dialect.models.path) {
        if (modelsReply === undefined) send(res, 200, dialect.models.body);
        else if ('reset' in modelsReply) req.socket.destroy();
        else send(res, modelsReply.status, dialect.error(modelsReply.status, `scripted HTTP ${modelsReply.status}`));
        return;
      }
      if (!dialect.paths.includes(request.path.split('?')[0] ?? '')) {
        send(res, 404, dialect.error(404, `no route ${request.method} ${request.path}`));
        return;
      }
      const reply = script ? script(request) : queue.shift();
      if (!reply) {
        unscripted.push(request);
        send(res, 418, dialect.error(418, `unscripted request #${requests.length} to ${request.path}`));
        return;
      }
      active++;
      peakActive = Math.max(peakActive, active);
      res.on('close', () => active--);
      if ('reset' in reply) {
        req.socket.destroy();
        return;
      }
      const hold = 'hold' in reply ? reply.hold : undefined;
      if (hold === undefined) respond(res, reply, request, dialect);
      else void hold.then(() => respond(res, reply, request, dialect));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    unscripted,
    enqueue(...replies) {
      script = undefined;
      queue.push(...replies);
    },
    setScript(next) {
      script = next;
    },
    get active() {
      return active;
    },
    get peakActive() {
      return peakActive;
    },
    setModelsReply(reply) {
      modelsReply = reply;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function respond(
  res: ServerResponse,
  reply: Exclude<WireReply, { reset: true }>,
  request: RecordedRequest,
  dialect: WireDialect,
): void {
  if ('hang' in reply || res.destroyed) return;
  if ('status' in reply) {
    send(res, reply.status, dialect.error(reply.status, reply.message ?? `scripted HTTP ${reply.status}`), reply.headers);
    return;
  }
  const inputTokens = reply.inputTokens ?? 11;
  const outputTokens = reply.outputTokens ?? 7;
  if (request.body?.stream !== true) {
    const choices = reply.choices === undefined ? {} : { choices: reply.choices };
    send(
      res,
      200,
      dialect.json({ text: reply.text, inputTokens, outputTokens, omitUsage: reply.omitUsage === true, ...choices }, request),
    );
    return;
  }
  const pieces = split(reply.text, reply.chunks ?? 4);
  const frames = dialect.events(
    {
      pieces,
      inputTokens,
      outputTokens,
      stopReason: reply.stopReason,
      refusal: reply.refusal,
      finalInputTokens: reply.finalInputTokens,
      omitUsage: reply.omitUsage === true,
    },
    request,
  );
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const errorFrame = reply.streamError === undefined ? undefined : dialect.streamError(reply.streamError);
  void writeFrames(res, frames, reply, errorFrame);
}

async function writeFrames(
  res: ServerResponse,
  frames: SseFrame[],
  reply: Extract<WireReply, { text: string }>,
  errorFrame: SseFrame | undefined,
): Promise<void> {
  const ending = reply.cut !== undefined || reply.streamError !== undefined;
  let content = 0;
  for (const frame of frames) {
    if (reply.stallAfterChunks !== undefined && frame.content) {
      if (content >= reply.stallAfterChunks) return; // hold the connection open
      content++;
    }
    if (frame.end && ending) break;
    if (reply.frameDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, reply.frameDelayMs));
    if (res.destroyed) return;
    res.write(`${frame.event ? `event: ${frame.event}\n` : ''}data: ${frame.data}\n\n`);
  }
  if (errorFrame) res.write(`${errorFrame.event ? `event: ${errorFrame.event}\n` : ''}data: ${errorFrame.data}\n\n`);
  if (reply.cut === 'drop') res.socket?.destroy();
  else res.end();
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Splits text into about `count` pieces. */
export function split(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, count)));
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) pieces.push(text.slice(start, start + size));
  return pieces;
}
