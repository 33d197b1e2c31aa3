import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { LabelRow } from '../../src/contracts/index.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { REPO_ROOT, readJsonl } from '../runner/fixtures.js';

/**
 * Drives `tribunal label` as a separate process and kills it (kill -9, Ctrl-C) at chosen moments, then checks what a
 * run directory holds. Shared by the crash tests (test/cli/label-crash*.test.ts) and the many-trial loop
 * (scripts/label-kill-loop.ts).
 */

export const BIN = path.join(REPO_ROOT, 'bin', 'tribunal.js');

/** Item states in a store, read the way another process would (read-only, while the writer runs). */
export function itemStates(out: string): Record<string, number> {
  const file = path.join(out, STORE_FILE_NAME);
  if (!existsSync(file)) return {};
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT state, count(*) AS n FROM items GROUP BY state').all() as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  } catch {
    return {}; // the schema is not there yet
  } finally {
    db?.close();
  }
}

/** How a CLI run ended, and the item states when it was signalled. */
export interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  atKill?: Record<string, number>;
  /** Ms from the start until the store first held items (undefined if it never did while the run lived). */
  readyMs?: number;
  /** Ms from the start until the process exited. */
  elapsedMs: number;
}

/** When to signal a run; without any of these it runs to its end. */
export interface KillPlan {
  /** Wait until the store holds the items and this many are done (default 0)... */
  killWhenDone?: number;
  /** ...then this many ms more (default: at once). */
  killAfterMs?: number;
  /** Signal this many ms after the process started, whatever it is doing (overrides the two above). */
  killAtMs?: number;
  /** Signal this many ms after the store first held items (overrides the three above). */
  killAfterReadyMs?: number;
  /** Default SIGKILL. */
  signal?: NodeJS.Signals;
}

/**
 * Runs `node bin/tribunal.js ...args` with model keys cleared, and signals it as `plan` says. `out` is the run
 * directory the args write to (watched for item states).
 */
export function runCli(options: { args: string[]; out: string; plan?: KillPlan }): Promise<RunOutcome> {
  const { args, out } = options;
  const plan = options.plan ?? {};
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '' },
    });
    let stdout = '';
    let stderr = '';
    let atKill: Record<string, number> | undefined;
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let exited = false;
    const kill = () => {
      if (atKill !== undefined || exited) return;
      atKill = itemStates(out);
      child.kill(plan.signal ?? 'SIGKILL');
    };
    const startedAt = Date.now();
    let readyMs: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    let watch: NodeJS.Timeout | undefined;
    // Notes when the store first holds items (for `readyMs` and `killAfterReadyMs`), then stops polling.
    let ready: NodeJS.Timeout | undefined = setInterval(() => {
      if (Object.keys(itemStates(out)).length === 0) return;
      readyMs = Date.now() - startedAt;
      clearInterval(ready);
      ready = undefined;
      if (plan.killAfterReadyMs !== undefined) timer = setTimeout(kill, plan.killAfterReadyMs);
    }, 20);
    if (plan.killAfterReadyMs !== undefined) {
      // The ready watch above signals.
    } else if (plan.killAtMs !== undefined) {
      timer = setTimeout(kill, plan.killAtMs);
    } else if (plan.killWhenDone !== undefined || plan.killAfterMs !== undefined) {
      // Signal once the store holds the items and `killWhenDone` of them are done, `killAfterMs` later (default at once).
      watch = setInterval(() => {
        const states = itemStates(out);
        if (Object.keys(states).length === 0 || (states.done ?? 0) < (plan.killWhenDone ?? 0)) return;
        clearInterval(watch);
        if (plan.killAfterMs === undefined) kill();
        else timer = setTimeout(kill, plan.killAfterMs);
      }, 10);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      clearInterval(watch);
      clearInterval(ready);
      clearTimeout(timer);
      const elapsedMs = Date.now() - startedAt;
      resolve({
        code,
        signal,
        stdout,
        stderr,
        elapsedMs,
        ...(atKill ? { atKill } : {}),
        ...(readyMs === undefined ? {} : { readyMs }),
      });
    });
  });
}

/**
 * What is wrong with a finished run directory, as a list of problems (empty when sound): every expected item
 * labeled exactly once in labels.jsonl and in the store, no pair for an unknown item or twice, each debate's events
 * stored once per seq, no debate snapshot or LangGraph checkpoint left, no temporary file left.
 */
export function runProblems(options: { out: string; itemIds: readonly string[] }): string[] {
  const { out, itemIds } = options;
  const problems: string[] = [];
  const labels = existsSync(path.join(out, 'labels.jsonl')) ? readJsonl<LabelRow>(path.join(out, 'labels.jsonl')) : [];
  const seen = new Map<string, number>();
  for (const row of labels) seen.set(row.id, (seen.get(row.id) ?? 0) + 1);
  const lost = itemIds.filter((id) => !seen.has(id));
  const duplicated = [...seen].filter(([, count]) => count > 1).map(([id]) => id);
  const unknown = [...seen.keys()].filter((id) => !itemIds.includes(id));
  if (lost.length > 0) problems.push(`labels.jsonl lost ${lost.length} items: ${lost.join(', ')}`);
  if (duplicated.length > 0) problems.push(`labels.jsonl duplicated ${duplicated.join(', ')}`);
  if (unknown.length > 0) problems.push(`labels.jsonl has unknown items ${unknown.join(', ')}`);
  if (existsSync(path.join(out, 'pairs.jsonl'))) {
    const pairs = readJsonl<{ id: string; chosen_id: string; rejected_id: string }>(path.join(out, 'pairs.jsonl'));
    const keys = pairs.map((pair) => `${pair.id}/${pair.chosen_id}/${pair.rejected_id}`);
    if (new Set(keys).size !== keys.length) problems.push('pairs.jsonl holds a pair twice');
    if (pairs.some((pair) => !itemIds.includes(pair.id))) problems.push('pairs.jsonl has a pair of an unknown item');
  } else {
    problems.push('pairs.jsonl is missing');
  }
  const temporary = readdirSync(out).filter((name) => name.endsWith('.tmp'));
  if (temporary.length > 0) problems.push(`temporary files left: ${temporary.join(', ')}`);
  const db = new Database(path.join(out, STORE_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    const states = db.prepare('SELECT state, count(*) AS n FROM items GROUP BY state').all() as Array<{
      state: string;
      n: number;
    }>;
    const done = states.find((row) => row.state === 'done')?.n ?? 0;
    const other = states.filter((row) => row.state !== 'done');
    if (done !== itemIds.length || other.length > 0) problems.push(`store items: ${JSON.stringify(states)}`);
    const duplicates = db
      .prepare('SELECT debate_id, seq FROM events GROUP BY run_id, debate_id, seq HAVING count(*) > 1')
      .all() as unknown[];
    if (duplicates.length > 0) problems.push(`${duplicates.length} event seqs stored twice`);
    const snapshots = (db.prepare('SELECT count(*) AS n FROM debate_snapshots').get() as { n: number }).n;
    if (snapshots > 0) problems.push(`${snapshots} debate snapshots left`);
    if (db.prepare("SELECT name FROM sqlite_master WHERE name = 'checkpoints'").get()) {
      const threads = (db.prepare('SELECT count(DISTINCT thread_id) AS n FROM checkpoints').get() as { n: number }).n;
      if (threads > 0) problems.push(`${threads} LangGraph checkpoint threads left`);
    }
  } finally {
    db.close();
  }
  return problems;
}

/** mulberry32: a tiny seeded PRNG, so kill times are random but the same on every run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}
