import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const API_DIST = path.join(ROOT, 'node_modules/@langchain/langgraph-api/dist');

/** A LangGraph API server started by `startLangGraphServer`. */
export interface LangGraphServer {
  url: string;
  /** The server's storage directory (its `.langgraph_api` checkpoints, threads and runs live under it). */
  cwd: string;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Environment that keeps the server and LangChain offline: no tracing, no LangSmith, no keys. */
export function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(LANGSMITH_|LANGCHAIN_|OPENAI_|ANTHROPIC_)/.test(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    LANGSMITH_TRACING: 'false',
    LANGSMITH_TRACING_V2: 'false',
    LANGCHAIN_TRACING: 'false',
    LANGCHAIN_TRACING_V2: 'false',
    LANGCHAIN_CALLBACKS_BACKGROUND: 'false',
    NODE_ENV: 'development',
    LOOPBACK_ONLY_ANNOUNCE: '1',
    // Refuses (and reports) any connection that is not to this machine, in the server and everything it loads.
    NODE_OPTIONS:
      `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(path.join(ROOT, 'test/fakes/loopback-only.mjs')).href}`.trim(),
  };
}

/**
 * Starts the LangGraph API server (`@langchain/langgraph-api`, what `npx @langchain/langgraph-cli dev` runs) over the
 * project's langgraph.json, on a free loopback port, as a child process with the CLI's own entrypoint and tsx loader,
 * without file watching. Its storage goes to `cwd` (a fresh temporary directory unless given: give the same one to
 * start it again over the same threads). Resolves once it answers `GET /ok`.
 */
export async function startLangGraphServer(options: { cwd?: string; timeoutMs?: number } = {}): Promise<LangGraphServer> {
  const cwd = options.cwd ?? mkdtempSync(path.join(tmpdir(), 'langgraph-api-'));
  const config = JSON.parse(readFileSync(path.join(ROOT, 'langgraph.json'), 'utf8')) as { graphs: Record<string, string> };
  // The server resolves graph files against its cwd: point them back at the project.
  const graphs = Object.fromEntries(
    Object.entries(config.graphs).map(([id, spec]) => {
      const [file, symbol] = spec.split(':');
      return [id, `${path.relative(cwd, path.join(ROOT, file ?? ''))}:${symbol ?? 'graph'}`];
    }),
  );
  const port = await freePort();
  const payload = { port, nWorkers: 2, host: '127.0.0.1', cwd, graphs };
  const tsxCli = path.join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  const child = spawn(
    process.execPath,
    [
      tsxCli,
      '--import',
      pathToFileURL(path.join(API_DIST, 'preload.mjs')).href,
      path.join(API_DIST, 'cli/entrypoint.mjs'),
      String(process.pid),
      JSON.stringify(payload),
    ],
    { cwd: ROOT, env: offlineEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const url = `http://127.0.0.1:${port}`;
  const server: LangGraphServer = { url, cwd, output: () => output, stop: () => stopChild(child) };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the LangGraph server exited (${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/ok`);
      if (response.ok) return server;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`the LangGraph server did not answer within the time limit:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
