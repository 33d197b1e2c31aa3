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
      /** Non-streaming replies with several choices (OpenAI's `n`): their texts; `text` is then unused. */
      choices?: string[];
    }
  | { status: number; message?: string; headers?: Record<string, string> }
  /** Accept the request and never answer (the client must time out or abort). */
  | { hang: true };

export type WireScript = (request: RecordedRequest) => WireReply | undefined;

/** How a provider renders replies on the wire. */
export interface WireDialect {
  /** Paths the dialect answers (e.g. `/v1/chat/completions`). */
  paths: string[];
  json(reply: { text: string; inputTokens: number; outputTokens: number; choices?: string[] }, request: RecordedRequest): unknown;
  /** SSE frames (without the trailing blank line), one per piece of text, including start/usage/end frames. */
  events(reply: { pieces: string[]; inputTokens: number; outputTokens: number }, request: RecordedRequest): SseFrame[];
  error(status: number, message: string): unknown;
}

/** One server-sent event; `stallPoint` marks where a stalling reply stops (after this many content frames). */
export interface SseFrame {
  event?: string;
  data: string;
  /** True for frames that carry one text piece. */
  content?: boolean;
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
  close(): Promise<void>;
}

/** Starts a scripted server for a dialect on a free loopback port. */
export async function startWireServer(dialect: WireDialect): Promise<WireServer> {
  const requests: RecordedRequest[] = [];
  const unscripted: RecordedRequest[] = [];
  const queue: WireReply[] = [];
  let script: WireScript | undefined;

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
      respond(res, reply, request, dialect);
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
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function respond(res: ServerResponse, reply: WireReply, request: RecordedRequest, dialect: WireDialect): void {
  if ('hang' in reply) return;
  if ('status' in reply) {
    send(res, reply.status, dialect.error(reply.status, reply.message ?? `scripted HTTP ${reply.status}`), reply.headers);
    return;
  }
  const inputTokens = reply.inputTokens ?? 11;
  const outputTokens = reply.outputTokens ?? 7;
  if (request.body?.stream !== true) {
    const choices = reply.choices === undefined ? {} : { choices: reply.choices };
    send(res, 200, dialect.json({ text: reply.text, inputTokens, outputTokens, ...choices }, request));
    return;
  }
  const pieces = split(reply.text, reply.chunks ?? 4);
  const frames = dialect.events({ pieces, inputTokens, outputTokens }, request);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let content = 0;
  for (const frame of frames) {
    if (reply.stallAfterChunks !== undefined && frame.content) {
      if (content >= reply.stallAfterChunks) return; // hold the connection open
      content++;
    }
    res.write(`${frame.event ? `event: ${frame.event}\n` : ''}data: ${frame.data}\n\n`);
  }
  res.end();
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
