import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { DebateEvent, LabelRow } from '../../src/contracts/index.js';
import { openStore, STORE_FILE_NAME } from '../../src/store/index.js';
import { tempDir } from './store-fixtures.js';

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ITEMS = 240;
const DELTAS = 12;
const EVENTS_PER_DEBATE = DELTAS + 2; // debate-start, the deltas, debate-end (as emitted; the writer coalesces deltas)
/** The text of the first `count` deltas of a debate (store-fixtures' `debateEvents`). */
const deltaText = (count: number) => Array.from({ length: count }, (_, index) => `token ${index} `).join('');
const RUN_ID = 'crash-run';
/** One kill per round; the modes are explained in fixtures/crash-writer.ts. */
const ROUNDS: { mode: 'external' | 'transaction' | 'after-settle'; seed: number }[] = [
  { mode: 'transaction', seed: 7 },
  { mode: 'after-settle', seed: 1234 },
  { mode: 'external', seed: 99 },
  { mode: 'transaction', seed: 2024 },
  { mode: 'after-settle', seed: 31 },
  { mode: 'external', seed: 5 },
];

/** mulberry32: a tiny seeded PRNG, so each kill point is random but the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Spawns the writer; resolves with how it ended after `killAfter` done items (then SIGKILL) or at its end. */
function runWriter(options: {
  dir: string;
  mode: 'none' | 'external' | 'transaction' | 'after-settle';
  killAt?: number;
  extraTicks?: number;
}): Promise<{
  signal: NodeJS.Signals | null;
  code: number | null;
  doneLines: number;
  finished: boolean;
  stderr: string;
}> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', WRITER, options.dir, String(ITEMS), String(DELTAS), options.mode, String(options.killAt ?? 0)],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let doneLines = 0;
    let finished = false;
    let killed = false;
    let stderr = '';
    let partial = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('done ')) doneLines += 1;
        if (line === 'finished') finished = true;
      }
      if (!killed && options.mode === 'external' && doneLines >= (options.killAt ?? 0)) {
        killed = true;
        // A seeded number of event-loop turns later, so the kill lands at varying points of the writer's loop.
        let ticks = options.extraTicks ?? 0;
        const fire = () => {
          if (ticks-- > 0) setImmediate(fire);
          else child.kill('SIGKILL');
        };
        fire();
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ signal, code, doneLines, finished, stderr }));
  });
}

interface Snapshot {
  done: Map<string, { debateId: string; result: string }>;
  pending: number;
}

/** Checks every invariant a crash must not break and returns the done items. */
async function verify(dir: string): Promise<Snapshot> {
  const file = join(dir, STORE_FILE_NAME);
  const raw = new Database(file);
  try {
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(raw.pragma('foreign_key_check')).toEqual([]);
  } finally {
    raw.close();
  }

  const store = openStore({ dir });
  try {
    await store.resetRunning({ runId: RUN_ID });
    const events = [];
    for (let afterId = 0; ; ) {
      const page = await store.eventsAfter({ runId: RUN_ID, afterId, limit: 5_000 });
      if (page.length === 0) break;
      events.push(...page);
      afterId = page.at(-1)?.id ?? afterId;
    }
    const byDebate = new Map<string, DebateEvent[]>();
    for (const { event } of events) {
      const list = byDebate.get(event.debateId) ?? [];
      list.push(event);
      byDebate.set(event.debateId, list);
    }
    // Every debate's stored events are a prefix of its stream, turn-deltas coalesced: batches commit whole and in
    // order. Seqs increase from 0, and the deltas' text is exactly the emitted text up to the last stored delta.
    for (const [debateId, list] of byDebate) {
      const seqs = list.map((event) => event.seq);
      expect(seqs[0], debateId).toBe(0);
      expect(seqs, debateId).toEqual([...new Set(seqs)].sort((left, right) => left - right));
      const deltas = list.filter((event) => event.type === 'turn-delta');
      expect(deltas.map((event) => event.text).join(''), debateId).toBe(deltaText(deltas.at(-1)?.seq ?? 0));
    }

    const done = new Map<string, { debateId: string; result: string }>();
    let pending = 0;
    for (let index = 1; index <= ITEMS; index++) {
      const itemId = `item-${index}`;
      const item = await store.getItem({ runId: RUN_ID, itemId });
      expect(item, itemId).toBeDefined();
      if (item?.state === 'pending') {
        pending += 1;
        expect(item.result).toBeUndefined();
        continue;
      }
      // Never half done: a done item has its result and every event of its debate, ending in debate-end.
      expect(item?.state, itemId).toBe('done');
      const result = item?.result as LabelRow;
      expect(result.id).toBe(itemId);
      const debateId = result.debateId ?? '';
      const debate = byDebate.get(debateId) ?? [];
      expect(debate.at(-1), debateId).toMatchObject({ type: 'debate-end', seq: EVENTS_PER_DEBATE - 1 });
      const text = debate.flatMap((event) => (event.type === 'turn-delta' ? [event.text] : [])).join('');
      expect(text, debateId).toBe(deltaText(DELTAS));
      expect(await store.getDebate({ runId: RUN_ID, debateId })).toMatchObject({
        status: 'done',
        events: debate.length,
        lastSeq: EVENTS_PER_DEBATE - 1,
        itemId,
      });
      done.set(itemId, { debateId, result: JSON.stringify(result) });
    }
    expect(done.size + pending).toBe(ITEMS);
    return { done, pending };
  } finally {
    await store.close();
  }
}

describe('crash safety', () => {
  const { dir: root, remove } = tempDir('tribunal-crash-');
  const dir = join(root, 'out');
  afterAll(remove);

  it('after SIGKILL at seeded points, every item is fully done or pending, and a rerun finishes each exactly once', async () => {
    let previous: Snapshot = { done: new Map(), pending: ITEMS };
    for (const { mode, seed } of ROUNDS) {
      const random = seededRandom(seed);
      // external: after 1..40 done items; transaction: at the 1..600th row written; after-settle: the 1..40th item.
      const killAt = 1 + Math.floor(random() * (mode === 'transaction' ? 600 : 40));
      const extraTicks = Math.floor(random() * 20);
      const outcome = await runWriter({ dir, mode, killAt, extraTicks });
      expect(outcome.stderr).toBe('');
      expect(outcome.signal, `${mode} seed ${seed}`).toBe('SIGKILL');
      expect(outcome.finished).toBe(false);

      const snapshot = await verify(dir);
      // Nothing lost: what was done stays done with the same result (and so the same debate: nothing twice).
      for (const [itemId, before] of previous.done) expect(snapshot.done.get(itemId), itemId).toEqual(before);
      // Everything the writer reported done was committed.
      expect(snapshot.done.size).toBeGreaterThanOrEqual(previous.done.size + outcome.doneLines);
      previous = snapshot;
    }

    const final = await runWriter({ dir, mode: 'none' });
    expect(final.stderr).toBe('');
    expect(final).toMatchObject({ code: 0, finished: true });
    const snapshot = await verify(dir);
    expect(snapshot.done.size).toBe(ITEMS);
    for (const [itemId, before] of previous.done) expect(snapshot.done.get(itemId), itemId).toEqual(before);
    expect(final.doneLines).toBe(ITEMS - previous.done.size);
  });
});
