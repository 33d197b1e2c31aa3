import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A throwaway Postgres cluster for tests: initdb in a temporary directory, a server that listens only on a Unix
 * socket in that directory (no TCP), trust authentication for the `postgres` user, and `fsync=off` (a test cluster
 * never outlives its process). As root, the server runs as the `postgres` user (initdb refuses root) and its
 * directory is made under /tmp, which that user can reach. Each test file starts its own cluster and creates
 * databases in it; `stop` removes everything.
 */
export interface PostgresCluster {
  /** A URL for `database` on this cluster. */
  url(database: string, options?: { schema?: string }): string;
  /** Creates a database (named for the test file) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** Where Debian (and most distributions) put the server binaries, newest first; TRIBUNAL_PG_BIN overrides. */
export function findPostgresBin(): string | undefined {
  const override = process.env.TRIBUNAL_PG_BIN;
  if (override) return existsSync(path.join(override, 'initdb')) ? override : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => existsSync(path.join(root, name, 'bin', 'initdb')))
      .sort((left, right) => Number(right) - Number(left));
    if (versions[0] !== undefined) return path.join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? path.dirname(found) : undefined;
}

/**
 * Why the Postgres tests cannot run here, or undefined when they can. In CI (CI=true) a missing server is an error,
 * not a skip: `.ci/run` installs Debian's postgresql.
 */
export function postgresUnavailable(): string | undefined {
  if (findPostgresBin() !== undefined) return undefined;
  const reason =
    'Postgres server binaries (initdb, pg_ctl) not found: install Debian\'s "postgresql" package or set TRIBUNAL_PG_BIN';
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must run the Postgres tests (see .ci/run)`);
  return reason;
}

/** Starts a cluster; call `stop()` in afterAll. */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (bin === undefined) throw new Error(postgresUnavailable() ?? 'no Postgres binaries');
  const asRoot = process.getuid?.() === 0;
  // As root the server runs as `postgres`, which cannot enter the test run's private TMPDIR: use /tmp itself.
  const dir = mkdtempSync(path.join(asRoot ? '/tmp' : tmpdir(), 'tribunal-pg-'));
  const data = path.join(dir, 'data');
  const socket = dir;
  const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 40_000);
  const run = (command: string, args: string[]) => {
    const full = path.join(bin, command);
    if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', full, ...args], { stdio: 'pipe' });
    else execFileSync(full, args, { stdio: 'pipe' });
  };
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const settings = [
      `-k ${socket}`,
      `-p ${port}`,
      "-c listen_addresses=''",
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=100',
    ].join(' ');
    run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = (database: string, options: { schema?: string } = {}) => {
    const search = new URLSearchParams({ host: socket, port: String(port) });
    if (options.schema) search.set('options', `-c search_path=${options.schema}`);
    return `postgres://postgres@localhost/${database}?${search.toString()}`;
  };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test worker that exits without its afterAll (a crash, a timeout) must not leave a server running.
  process.on('exit', stop);
  return {
    url,
    async createDatabase(name: string) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '')}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}

function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}
