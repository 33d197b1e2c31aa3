import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TribunalError } from '../../contracts/index.js';
import { startServer } from '../../server/index.js';
import { isPostgresUrl } from '../../store/index.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { styleFor } from '../terminal.js';

export const SERVE_HELP = `Usage: tribunal serve [--host 127.0.0.1] [--port 8787] [--token TOKEN] [--read-token TOKEN] [--runs-dir DIR]
                     [--store DIR|URL] [--panel FILE] [--model ID]

Serves live debates over WebSocket (ws://HOST:PORT/v1/stream, protocol v1: docs/protocol.md) and the viewer at
http://HOST:PORT/: start debates, watch them and labeling runs stream, replay finished ones, override verdicts.

Options:
  --host HOST            address to bind (default 127.0.0.1); any other than loopback needs --token
  --port PORT            port (default 8787; 0 picks a free one)
  --token TOKEN          the operator's bearer token (at least 16 characters): start, cancel, override, watch;
                         generated and printed when omitted
  --read-token TOKEN     a second, read-only token (at least 16 characters): watch runs, training and loops, list; no
                         start, cancel or override
  --runs-dir DIR         the only directory whose runs clients may name by path, links followed (default ./runs);
                         paths outside it are refused
  --store DIR|URL        the server's store: debates started here, and overrides (default .tribunal/serve, or
                         $TRIBUNAL_STORE); a postgres:// URL shares the database of \`tribunal label --store\`, whose
                         runs can then be watched live by run id from here (woken by LISTEN/NOTIFY, no polling)
  --panel FILE           default panel of debates started over the socket (default: panels/default.yaml)
  --model ID             model of every critic in debates started over the socket, e.g. openai:gpt-4.1-mini,
                         local:/path/model.gguf, fake:judge (default: panel, then environment, then local)
  --allow-origin ORIGIN  another browser origin allowed to connect (repeatable), e.g. https://viewer.example
  -h, --help             show this help

Watch a labeling run: open the viewer and enter its directory (tribunal label --out DIR, inside --runs-dir), or
subscribe to it with {"v":1,"type":"run.subscribe","id":"1","run":"DIR","afterSeq":{}}.
Watch a training run: the viewer's Training tab lists the runs in --runs-dir (./runs, where tribunal train writes by
default) and takes any other directory inside it, or subscribe with {"v":1,"type":"train.subscribe","id":"2","runDir":"DIR"}.
Watch a loop: the viewer's Loop tab lists the tribunal loop directories in --runs-dir and one level below, and
polls the one picked (GET /v1/loop-report?dir=DIR): stage, win rate, KL, length and diversity per iteration.
Limits, tokens and what the server trusts: docs/security.md.`;

/** `tribunal serve`: the WebSocket server and viewer, until Ctrl-C. */
export async function serveCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
      'read-token': { type: 'string' },
      'runs-dir': { type: 'string' },
      store: { type: 'string' },
      panel: { type: 'string' },
      model: { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${SERVE_HELP}\n`);
    return EXIT.ok;
  }
  const port = values.port === undefined ? 8787 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TribunalError('CONFIG_INVALID', `--port must be an integer from 0 to 65535, got "${values.port}"`);
  }
  for (const origin of values['allow-origin'] ?? []) {
    if (!/^https?:\/\/[^/\s]+$/i.test(origin)) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `--allow-origin must be an origin such as https://viewer.example, got "${origin}"`,
      );
    }
  }
  const dim = styleFor(io.stderr).dim;
  const server = await startServer({
    host: values.host ?? '127.0.0.1',
    port,
    storeDir: values.store === undefined || isPostgresUrl(values.store) ? '.tribunal/serve' : values.store,
    // An explicit --store DIR wins over TRIBUNAL_STORE ('' keeps SQLite).
    ...(values.store === undefined ? {} : { storeUrl: isPostgresUrl(values.store) ? values.store : '' }),
    cwd: io.cwd,
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values['read-token'] === undefined ? {} : { readToken: values['read-token'] }),
    ...(values['runs-dir'] === undefined ? {} : { runsDir: values['runs-dir'] }),
    ...(values.panel === undefined ? {} : { panelFile: values.panel }),
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values['allow-origin'] === undefined ? {} : { allowedOrigins: values['allow-origin'] }),
    log: (line) => io.stderr.write(`${dim(line)}\n`),
  });
  io.stdout.write(`tribunal serve: listening on ${server.url} (WebSocket ${server.streamUrl})\n`);
  if (server.tokenGenerated) {
    io.stdout.write(`token: ${server.token} (generated; pass --token to choose one)\n`);
    io.stdout.write(`viewer: ${server.viewerUrl}\n`);
  } else {
    io.stdout.write(`viewer: ${server.url}/#token=<your token>\n`);
  }
  io.stdout.write(`store: ${server.store.location}\n`);
  const runsNote = existsSync(server.runsDir)
    ? 'clients may name runs only inside it'
    : 'does not exist yet: no run can be named by path until it does';
  io.stdout.write(`runs: ${server.runsDir} (${runsNote})\n`);
  if (server.readToken !== undefined) io.stdout.write('read-only token: set (--read-token)\n');
  if (!signal.aborted) await once(signal, 'abort');
  io.stderr.write('closing: cancelling running debates and closing connections…\n');
  await server.close();
  return EXIT.ok;
}
