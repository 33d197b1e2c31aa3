import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { DEFAULT_PANEL_FILE } from '../config/index.js';
import { type HelloFrame, PROTOCOL_NAME, PROTOCOL_VERSION, type ProtocolErrorCode, TribunalError } from '../contracts/index.js';
import {
  createModelRegistry,
  loadSettings,
  type ModelRegistry,
  redactText,
  resolveDefaultModel,
  type Settings,
} from '../models/index.js';
import { openStore, type Store } from '../store/index.js';
import { type Access, accessOf, allowedOrigins, generateToken, isLoopbackHost, originAllowed, presentedToken } from './auth.js';
import { httpStatusFor } from './close-codes.js';
import { Connection } from './connection.js';
import { DebateHub } from './debate-hub.js';
import { quoteUntrusted } from './frame-guard.js';
import { handleApi, sendApiError } from './http-api.js';
import { LIVE_RUN_ID, LiveDebates } from './live-debates.js';
import { PanelDirectory } from './panel-directory.js';
import { RunCatalog } from './run-catalog.js';
import { DEFAULT_RUNS_DIR, RunsRoot } from './runs-root.js';
import { DEFAULT_LIMITS, publicLimits, type ServeLimits } from './server-limits.js';
import { loadStaticFiles, SECURITY_HEADERS } from './static-files.js';

/** The WebSocket endpoint's path. */
export const STREAM_PATH = '/v1/stream';

/** Options of `startServer`. */
export interface ServeOptions {
  /** Default 127.0.0.1. A non-loopback host needs an explicit `token`. */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** The operator's bearer token (everything); generated when omitted (loopback only). */
  token?: string;
  /** A second, read-only token (`--read-token`): watch runs and training, use the JSON API; no start, cancel or override. */
  readToken?: string;
  /**
   * The only directory whose runs clients may name by path (`run`, `dir`, `runDir`), links followed; resolved against
   * `cwd`. Default: `runs` (the working directory's `runs/`, where `tribunal train` writes by default).
   */
  runsDir?: string;
  /** The server's store directory: the live run, overrides. */
  storeDir: string;
  /**
   * Keep the server's store in this Postgres database instead (`--store postgres://…`, default `TRIBUNAL_STORE`):
   * runs that `tribunal label --store` writes there, from any machine, can then be watched by run id. An empty
   * string keeps the SQLite store in `storeDir` even when `TRIBUNAL_STORE` is set.
   */
  storeUrl?: string | undefined;
  /** The default panel of debates started over the socket. Default: the built-in panels/default.yaml. */
  panelFile?: string;
  /** Every critic's model for debates started over the socket (like `tribunal debate --model`). */
  model?: string;
  /** Resolves relative paths (panels, run directories). Default: process.cwd(). */
  cwd?: string;
  /** Browser origins allowed besides the server's own. */
  allowedOrigins?: readonly string[];
  limits?: Partial<ServeLimits>;
  /** Read from the environment when omitted. */
  settings?: Settings;
  /** Built from `settings` when omitted (and then closed with the server). */
  models?: ModelRegistry;
  /** How often watched labeling runs (default 100 ms) and training runs (default 250 ms) are polled for new events. */
  pollMs?: number;
  /** Server log lines (default: stderr). Never receives tokens or keys. */
  log?: (line: string) => void;
}

/** A running server. */
export interface TribunalServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** `ws://host:port/v1/stream`. */
  readonly streamUrl: string;
  /** The viewer, with the token in the fragment (never sent to the server in a request line or a log). */
  readonly viewerUrl: string;
  readonly token: string;
  /** The read-only token, when one was given. */
  readonly readToken: string | undefined;
  /** The runs directory clients' paths are confined to (absolute). */
  readonly runsDir: string;
  /** True when no token was given and one was generated. */
  readonly tokenGenerated: boolean;
  readonly store: Store;
  readonly hub: DebateHub;
  readonly live: LiveDebates;
  readonly catalog: RunCatalog;
  /** Connections open now. */
  readonly connections: ReadonlySet<Connection>;
  /** Stops accepting, cancels running debates (their events are stored), closes every connection with 1001. */
  close(): Promise<void>;
}

/**
 * Starts `tribunal serve`: one HTTP server with the viewer at `/`, a JSON API under `/v1`, and the WebSocket
 * protocol at `/v1/stream` (docs/protocol.md). Every `/v1` request and upgrade needs the bearer token; browser
 * origins are checked against an allowlist.
 * @example
 * const server = await startServer({ storeDir: '.tribunal/serve', model: 'fake:judge' });
 * console.log(server.viewerUrl);
 * await server.close();
 */
export async function startServer(options: ServeOptions): Promise<TribunalServer> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 8787;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!isLoopbackHost(host) && options.token === undefined) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `refusing to listen on ${host} without --token: other machines could reach it; pass --token TOKEN (a long random string) or bind 127.0.0.1`,
    );
  }
  for (const [flag, value] of [
    ['--token', options.token],
    ['--read-token', options.readToken],
  ] as const) {
    if (value !== undefined && value.length < 16) {
      throw new TribunalError('CONFIG_INVALID', `${flag} must be at least 16 characters long`);
    }
    if (value !== undefined && !/^[\x21-\x7e]+$/.test(value)) {
      throw new TribunalError('CONFIG_INVALID', `${flag} must be printable ASCII without spaces`);
    }
  }
  if (options.readToken !== undefined && options.readToken === options.token) {
    throw new TribunalError('CONFIG_INVALID', '--read-token must differ from --token: it grants less');
  }
  const token = options.token ?? generateToken();
  const readToken = options.readToken;
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const cwd = options.cwd ?? process.cwd();
  const settings = options.settings ?? loadSettings();
  const secrets = secretForms([token, readToken, settings.openaiApiKey, settings.anthropicApiKey]);
  const root = new RunsRoot({ root: options.runsDir ?? DEFAULT_RUNS_DIR, cwd });
  const panelFile = path.resolve(cwd, options.panelFile ?? DEFAULT_PANEL_FILE);
  const panels = new PanelDirectory({ defaultPanelFile: panelFile, cwd });
  const defaultModel = resolveDefaultModel({ explicit: options.model, settings });
  const ownsModels = options.models === undefined;
  const models = options.models ?? createModelRegistry({ settings });
  const staticFiles = loadStaticFiles();

  const storeUrl = options.storeUrl ?? settings.store;
  // The catalog keeps the store directory as the server's own, so it must exist even when the store is in Postgres.
  if (storeUrl) mkdirSync(path.resolve(cwd, options.storeDir), { recursive: true });
  const store = openStore({ dir: path.resolve(cwd, options.storeDir), url: storeUrl });
  const catalog = new RunCatalog({ store, storeDir: path.resolve(cwd, options.storeDir), liveRunId: LIVE_RUN_ID, root });
  const hub = new DebateHub({ ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }) });
  let live: LiveDebates;
  try {
    live = await LiveDebates.open({
      hub,
      source: catalog.liveSource(),
      store,
      models,
      settings,
      panels,
      model: options.model,
      cwd,
      maxLiveDebates: limits.maxLiveDebates,
      secrets,
      log,
    });
  } catch (error) {
    await store.close();
    throw error;
  }

  const panelNames = await panels.names();
  const hello = (access: Access): HelloFrame => ({
    v: PROTOCOL_VERSION,
    type: 'hello',
    server: 'tribunal',
    liveRunId: LIVE_RUN_ID,
    defaults: { panel: panels.defaultName, model: defaultModel.id },
    panels: panelNames,
    limits: publicLimits(limits),
    access,
  });
  const connections = new Set<Connection>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
  });
  let origins = new Set<string>();
  let closing = false;

  const accessFor = (request: IncomingMessage): Access | undefined =>
    accessOf({ presented: presentedToken(request).token, operatorToken: token, readToken });
  /** Sockets that have not finished their HTTP request or upgrade: bounded, and counted toward the connection limit. */
  const pending = new Set<Duplex>();

  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    try {
      serveRequest(request, response);
    } catch (error) {
      log(`http: internal error: ${(error as Error)?.stack ?? String(error)}`);
      if (!response.headersSent) sendApiError(response, 'INTERNAL', 'internal error; the server log has the details');
      else response.destroy();
    }
  };

  const serveRequest = (request: IncomingMessage, response: ServerResponse) => {
    const url = requestUrl(request);
    if (url === undefined) {
      sendApiError(response, 'BAD_FRAME', 'the request target is not a valid path');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
      return;
    }
    if (url.pathname.startsWith('/v1/')) {
      if (url.pathname === STREAM_PATH) {
        response.writeHead(426, { Upgrade: 'websocket', 'Content-Length': 0 }).end();
        return;
      }
      if (accessFor(request) === undefined) {
        sendApiError(response, 'UNAUTHORIZED', 'send Authorization: Bearer TOKEN (printed by tribunal serve at start)');
        return;
      }
      void handleApi({
        context: {
          catalog,
          hub,
          live,
          panels,
          defaults: { panel: panels.defaultName, model: defaultModel.id },
          root,
          secrets,
        },
        request,
        response,
        url,
      }).catch((error: unknown) => log(`api ${url.pathname}: ${(error as Error)?.stack ?? String(error)}`));
      return;
    }
    const file = staticFiles.get(url.pathname);
    if (file === undefined) {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, ...SECURITY_HEADERS });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  };

  const refuseUpgrade = (socket: Duplex, code: ProtocolErrorCode, message: string) => {
    const status = httpStatusFor(code);
    const body = JSON.stringify({ error: { code, message: redactText(message, secrets) } });
    socket.end(
      `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `${code === 'UNAUTHORIZED' ? 'WWW-Authenticate: Bearer\r\n' : ''}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.destroy();
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    pending.delete(socket);
    socket.on('error', () => socket.destroy());
    try {
      upgrade(request, socket, head);
    } catch (error) {
      log(`upgrade: internal error: ${(error as Error)?.stack ?? String(error)}`);
      socket.destroy();
    }
  };

  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = requestUrl(request);
    if (url === undefined) return refuseUpgrade(socket, 'BAD_FRAME', 'the request target is not a valid path');
    if (closing) return refuseUpgrade(socket, 'SHUTTING_DOWN', 'the server is shutting down');
    if (url.pathname !== STREAM_PATH) return refuseUpgrade(socket, 'NOT_FOUND', `the WebSocket endpoint is ${STREAM_PATH}`);
    const origin = request.headers.origin;
    if (!originAllowed({ origin, allowed: origins })) {
      return refuseUpgrade(
        socket,
        'FORBIDDEN_ORIGIN',
        `origin ${quoteUntrusted(origin ?? '')} is not allowed; start the server with --allow-origin ORIGIN`,
      );
    }
    const access = accessFor(request);
    if (access === undefined) {
      return refuseUpgrade(
        socket,
        'UNAUTHORIZED',
        'a valid bearer token is required (Authorization header, bearer.TOKEN subprotocol or ?token=)',
      );
    }
    if (connections.size >= limits.maxConnections) {
      return refuseUpgrade(socket, 'LIMIT_EXCEEDED', `the server has ${connections.size} connections (its limit)`);
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new Connection(
        ws,
        {
          hub,
          live,
          catalog,
          limits,
          hello,
          secrets,
          log,
          root,
          ...(options.pollMs === undefined ? {} : { trainPollMs: options.pollMs }),
        },
        access,
      );
      connections.add(connection);
      ws.on('close', () => connections.delete(connection));
    });
  };

  // A socket must finish its request headers (an upgrade included) within handshakeTimeoutMs; the check runs often
  // enough that it is closed soon after.
  const server: Server = createServer(
    {
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: limits.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.handshakeTimeoutMs / 4))),
    },
    onRequest,
  );
  server.on('connection', (socket: Duplex) => {
    if (pending.size >= limits.maxPendingHandshakes || connections.size + pending.size >= limits.maxConnections) {
      socket.destroy();
      return;
    }
    pending.add(socket);
    socket.once('close', () => pending.delete(socket));
  });
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_error, socket) => socket.destroy());
  server.listen(requestedPort, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    await live.close();
    await store.close();
    if (ownsModels) await models.close();
    throw new TribunalError('CONFIG_INVALID', `cannot listen on ${host}:${requestedPort}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // After listening, a server error (an accept that failed for lack of file descriptors) is logged, never thrown.
  server.on('error', (error) => log(`http: ${error.message}`));
  const port = (server.address() as AddressInfo).port;
  origins = allowedOrigins({ host, port, extra: options.allowedOrigins ?? [] });
  const heartbeat = setInterval(() => {
    for (const connection of connections) connection.heartbeat();
  }, limits.heartbeatMs);
  heartbeat.unref();

  const hostPart = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostPart}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    host,
    port,
    url,
    streamUrl: `ws://${hostPart}:${port}${STREAM_PATH}`,
    viewerUrl: `${url}/#token=${encodeURIComponent(token)}`,
    token,
    readToken,
    runsDir: root.dir,
    tokenGenerated: options.token === undefined,
    store,
    hub,
    live,
    catalog,
    connections,
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(heartbeat);
        server.close();
        await live.close();
        for (const connection of connections) connection.closeWith('SHUTTING_DOWN', 'the server is shutting down');
        server.closeAllConnections();
        hub.close();
        await catalog.close();
        if (ownsModels) await models.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** Each secret as it appears in text and inside a JSON string (escaped), so neither form reaches a message. */
function secretForms(values: ReadonlyArray<string | undefined>): string[] {
  const forms = new Set<string>();
  for (const value of values) {
    if (!value) continue;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(encodeURIComponent(value));
  }
  return [...forms];
}

/** The URL of a request, or undefined when its target does not parse (a raw client can send anything). */
function requestUrl(request: IncomingMessage): URL | undefined {
  try {
    return new URL(request.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

function statusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      429: 'Too Many Requests',
      503: 'Service Unavailable',
    }[status] ?? 'Error'
  );
}
