import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { DEFAULT_PANEL_FILE } from '../config/index.js';
import { type HelloFrame, PROTOCOL_NAME, PROTOCOL_VERSION, type ProtocolErrorCode, TribunalError } from '../contracts/index.js';
import { createModelRegistry, loadSettings, type ModelRegistry, resolveDefaultModel, type Settings } from '../models/index.js';
import { openStore, type Store } from '../store/index.js';
import { allowedOrigins, generateToken, isLoopbackHost, originAllowed, presentedToken, tokensMatch } from './auth.js';
import { httpStatusFor } from './close-codes.js';
import { Connection } from './connection.js';
import { DebateHub } from './debate-hub.js';
import { handleApi, sendApiError } from './http-api.js';
import { LIVE_RUN_ID, LiveDebates } from './live-debates.js';
import { PanelDirectory } from './panel-directory.js';
import { RunCatalog } from './run-catalog.js';
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
  /** The bearer token; generated when omitted (loopback only). */
  token?: string;
  /** The server's store directory: the live run, overrides. */
  storeDir: string;
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
  if (options.token !== undefined && options.token.length < 16) {
    throw new TribunalError('CONFIG_INVALID', '--token must be at least 16 characters long');
  }
  if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
    throw new TribunalError('CONFIG_INVALID', '--token must be printable ASCII without spaces');
  }
  const token = options.token ?? generateToken();
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const cwd = options.cwd ?? process.cwd();
  const settings = options.settings ?? loadSettings();
  const secrets = [token, settings.openaiApiKey, settings.anthropicApiKey].filter((value): value is string => !!value);
  const panelFile = path.resolve(cwd, options.panelFile ?? DEFAULT_PANEL_FILE);
  const panels = new PanelDirectory({ defaultPanelFile: panelFile, cwd });
  const defaultModel = resolveDefaultModel({ explicit: options.model, settings });
  const ownsModels = options.models === undefined;
  const models = options.models ?? createModelRegistry({ settings });
  const staticFiles = loadStaticFiles();

  const store = openStore({ dir: path.resolve(cwd, options.storeDir) });
  const catalog = new RunCatalog({ store, storeDir: path.resolve(cwd, options.storeDir), liveRunId: LIVE_RUN_ID, cwd });
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
  const hello = (): HelloFrame => ({
    v: PROTOCOL_VERSION,
    type: 'hello',
    server: 'tribunal',
    liveRunId: LIVE_RUN_ID,
    defaults: { panel: panels.defaultName, model: defaultModel.id },
    panels: panelNames,
    limits: publicLimits(limits),
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

  const authorized = (request: IncomingMessage): boolean =>
    tokensMatch({ expected: token, presented: presentedToken(request).token });

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
      if (!authorized(request)) {
        sendApiError(response, 'UNAUTHORIZED', 'send Authorization: Bearer TOKEN (printed by tribunal serve at start)');
        return;
      }
      void handleApi({
        context: { catalog, hub, live, panels, defaults: { panel: panels.defaultName, model: defaultModel.id }, cwd },
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
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `${code === 'UNAUTHORIZED' ? 'WWW-Authenticate: Bearer\r\n' : ''}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.destroy();
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
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
        `origin ${origin} is not allowed; start the server with --allow-origin ${origin}`,
      );
    }
    if (!authorized(request)) {
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
      const connection = new Connection(ws, {
        hub,
        live,
        catalog,
        limits,
        hello,
        secrets,
        log,
        cwd,
        ...(options.pollMs === undefined ? {} : { trainPollMs: options.pollMs }),
      });
      connections.add(connection);
      ws.on('close', () => connections.delete(connection));
    });
  };

  const server: Server = createServer(onRequest);
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
