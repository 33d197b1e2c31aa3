import { readdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabelRow } from '../../src/contracts/index.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { ARENA, labelEssence, readJsonl, tempDir } from '../runner/fixtures.js';
import { type KillPlan, mulberry32, type RunOutcome, runCli } from './label-process.js';

const ITEMS = 12;
/** Latency keeps several debates in flight at any moment, so the kill lands mid-debate; it does not change any score. */
const MODEL = 'fake:judge?latencyMs=100';

function labelArgs(out: string): string[] {
  return ['label', ARENA, '--limit', String(ITEMS), '--model', MODEL, '--out', out, '--concurrency', '4', '--json'];
}

/** Runs the CLI; signals it as `plan` says (see `KillPlan`). */
function run(out: string, plan: KillPlan = {}): Promise<RunOutcome> {
  return runCli({ args: labelArgs(out), out, plan });
}

describe('tribunal label after kill -9', () => {
  const dir = tempDir('tribunal-crash-');
  const clean = path.join(dir, 'clean');
  beforeAll(async () => {
    const uninterrupted = await run(clean);
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);
  });

  it('resumes and ends with every item labeled exactly once, as an uninterrupted run labels them', async () => {
    const crashed = path.join(dir, 'crashed');

    const killed = await run(crashed, { killWhenDone: 3 });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // The kill landed mid-run: items were done, others were being debated or waiting.
    expect(killed.atKill?.done ?? 0).toBeGreaterThanOrEqual(3);
    expect(killed.atKill?.done ?? ITEMS).toBeLessThan(ITEMS);
    expect(killed.atKill?.running ?? 0).toBeGreaterThan(0);

    const resumed = await run(crashed);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout) as {
      opening: string;
      recovered: number;
      totals: { items: number; done: number; pending: number; running: number };
    };
    expect(summary.opening).toBe('resumed');
    expect(summary.recovered).toBeGreaterThan(0);
    expect(summary.totals).toMatchObject({ items: ITEMS, done: ITEMS, pending: 0, running: 0 });

    const labels = readJsonl<LabelRow>(path.join(crashed, 'labels.jsonl'));
    const ids = labels.map((row) => row.id);
    expect(new Set(ids).size).toBe(ITEMS);
    expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(clean, 'labels.jsonl'))));
    expect(readJsonl(path.join(crashed, 'pairs.jsonl')).map((pair) => [pair.id, pair.chosen_id, pair.rejected_id])).toEqual(
      readJsonl(path.join(clean, 'pairs.jsonl')).map((pair) => [pair.id, pair.chosen_id, pair.rejected_id]),
    );

    // Interrupted debates resumed from their checkpoints (a second debate-start on the same debate id), and the
    // store holds each debate's events once per seq.
    const db = new Database(path.join(crashed, STORE_FILE_NAME), { readonly: true });
    try {
      const restarted = db
        .prepare("SELECT debate_id FROM events WHERE type = 'debate-start' GROUP BY debate_id HAVING count(*) > 1")
        .all();
      expect(restarted.length).toBeGreaterThan(0);
      const duplicates = db
        .prepare('SELECT debate_id, seq FROM events GROUP BY run_id, debate_id, seq HAVING count(*) > 1')
        .all();
      expect(duplicates).toEqual([]);
      expect(db.prepare("SELECT count(*) AS n FROM items WHERE state = 'done'").get()).toEqual({ n: ITEMS });
      const threads = db.prepare("SELECT name FROM sqlite_master WHERE name = 'checkpoints'").get()
        ? (db.prepare('SELECT count(DISTINCT thread_id) AS n FROM checkpoints').get() as { n: number }).n
        : 0;
      expect(threads).toBe(0);
      // Debates run on the direct driver and resumed from their snapshots; settled items leave none behind.
      expect(db.prepare('SELECT count(*) AS n FROM debate_snapshots').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('stops gracefully on Ctrl-C (SIGINT): exit 130, run stopped, done items exported; the rerun finishes', async () => {
    const out = path.join(dir, 'interrupted');
    const interrupted = await run(out, { killWhenDone: 3, signal: 'SIGINT' });
    expect([interrupted.code, interrupted.signal], interrupted.stderr).toEqual([130, null]);
    expect(interrupted.stderr).toContain('Stopping…');
    const summary = JSON.parse(interrupted.stdout) as {
      status: string;
      stopReason: string;
      totals: { done: number; running: number };
      session: { aborted: number };
    };
    expect(summary).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
    expect(summary.totals.running).toBe(0);
    expect(summary.session.aborted).toBeGreaterThan(0);
    expect(readJsonl(path.join(out, 'labels.jsonl'))).toHaveLength(summary.totals.done);

    const resumed = await run(out);
    expect(resumed.code, resumed.stderr).toBe(0);
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(clean, 'labels.jsonl'))));
  });

  it('survives a kill at any moment: five kills at seeded random times, then a clean finish', async () => {
    const out = path.join(dir, 'killed-often');
    const random = mulberry32(20251127);
    const killedWith: Array<Record<string, number>> = [];
    for (let kill = 0; kill < 5; kill++) {
      // A random moment after the run got a little further each time: kills land in debates, settling or the export.
      const result = await run(out, { killWhenDone: 2 * kill, killAfterMs: Math.floor(random() * 500) });
      expect(result.code === 0 || result.signal === 'SIGKILL', result.stderr).toBe(true);
      if (result.signal === 'SIGKILL') killedWith.push(result.atKill ?? {});
    }
    // Most runs were killed (later ones have less left to do and may finish first).
    expect(killedWith.length, JSON.stringify(killedWith)).toBeGreaterThanOrEqual(3);
    const last = await run(out);
    expect(last.code, last.stderr).toBe(0);
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(new Set(labels.map((row) => row.id)).size).toBe(ITEMS);
    expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(clean, 'labels.jsonl'))));
    expect(readdirSync(out).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
