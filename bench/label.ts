/**
 * Benchmark of `runLabeling` (what `tribunal label` runs): items per second and the engine's overhead per item at
 * concurrency 1, 16 and 256 against the fake judge with a fixed model latency, compared with the ideal run where
 * every turn of a round runs in parallel and nothing but the model takes time. Also the SQLite time per item and
 * per event (event log, item queue, checkpoints, turn cache), measured by timing every store call.
 * Writes bench/results/label.json and prints a table. Not a test: numbers depend on the machine.
 *
 *   npx tsx bench/label.ts            # full run (three repeats, a few minutes)
 *   npx tsx bench/label.ts --quick    # fewer items, for a smoke check
 *   npx tsx bench/label.ts --quick --only 256   # one concurrency (e.g. under node --cpu-prof); writes nothing
 *   npx tsx bench/label.ts --quick --only 256 --repeats 5 --json FILE   # the median of 5, written to FILE (A/B runs)
 *   npx tsx bench/label.ts --quick --only 256 --methods   # also the store time of each method, per item
 *   npx tsx bench/label.ts --quick --only 256 --each-token   # a turn-delta per token (as before deltaIntervalMs)
 *
 * Runs as `tribunal label` does: a turn's tokens joined into a delta per LABELING_DELTA_INTERVAL_MS (`--each-token`:
 * one per token, as the server's own debates emit them).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPanel } from '../src/config/index.js';
import type { DebateEvent, LabelRow } from '../src/contracts/index.js';
import { createModelRegistry } from '../src/models/index.js';
import { LABELING_DELTA_INTERVAL_MS, runLabeling } from '../src/runner/index.js';
import { openStore } from '../src/store/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARENA = path.resolve(ROOT, '../shared/datasets/arena-hard-candidates.jsonl');
const quick = process.argv.includes('--quick');
const eachToken = process.argv.includes('--each-token');
/** Runs per concurrency; the median run (by wall time) is reported, with the best items/s beside it. */
const repeatsIndex = process.argv.indexOf('--repeats');
const REPEATS = repeatsIndex === -1 ? (quick ? 1 : 3) : Math.max(1, Number(process.argv[repeatsIndex + 1]));
const LATENCY_MS = 200;
const CHUNKS = 16;
const MODEL = `fake:judge?latencyMs=${LATENCY_MS}&chunks=${CHUNKS}`;
/** Items per concurrency: enough for several waves of the pool. */
const PLAN: Array<{ concurrency: number; items: number }> = quick
  ? [
      { concurrency: 1, items: 3 },
      { concurrency: 16, items: 32 },
      { concurrency: 256, items: 256 },
    ]
  : [
      { concurrency: 1, items: 10 },
      { concurrency: 16, items: 96 },
      { concurrency: 256, items: 478 },
    ];

/** Synchronous time per method name: SQLite work happens inside the call, before its promise is returned. */
type Timings = Map<string, { ms: number; calls: number }>;

/** Wraps every method of an object so the synchronous time inside each call is added to `timings` under its name. */
function timed<T extends object>(target: T, timings: Timings, prefix: string): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || property === 'constructor' || typeof property !== 'string') return value;
      if (property === 'checkpointer') {
        // The store's checkpointer (LangGraph's SqliteSaver on the same connection), timed the same way.
        return async () => timed(await (value as () => Promise<object>).call(object), timings, 'checkpointer.');
      }
      return (...args: unknown[]) => {
        const started = performance.now();
        try {
          return (value as (...params: unknown[]) => unknown).apply(object, args);
        } finally {
          const entry = timings.get(prefix + property) ?? { ms: 0, calls: 0 };
          entry.ms += performance.now() - started;
          entry.calls += 1;
          timings.set(prefix + property, entry);
        }
      };
    },
  });
}

/** Which part of the store each timed method belongs to. */
function groupOf(name: string): 'events' | 'checkpoints' | 'turnCache' | 'queue' {
  if (['appendEvents', 'markDone', 'markFailed'].includes(name)) return 'events';
  // Debate snapshots are labeling's checkpoints (the direct driver's); LangGraph's only serve older runs now.
  if (name.startsWith('checkpointer.') || name === 'deleteCheckpoints' || /DebateSnapshots?$/.test(name)) return 'checkpoints';
  if (name === 'getTurn' || name === 'putTurn') return 'turnCache';
  return 'queue';
}

async function measure(plan: { concurrency: number; items: number }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-bench-label-'));
  const models = createModelRegistry({ settings: {}, providers: { fake: { concurrency: 1_000_000 } } });
  const panel = await loadPanel();
  const raw = openStore({ dir });
  const timings: Timings = new Map();
  // Events handed to the store (after the EventWriter coalesced turn-deltas), counted on their way in.
  let written = 0;
  const counted = new Proxy(raw, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (property !== 'appendEvents' && property !== 'markDone' && property !== 'markFailed') return value;
      return (options: { events?: readonly unknown[] }) => {
        written += options.events?.length ?? 0;
        return (value as (argument: unknown) => unknown).call(object, options);
      };
    },
  });
  const store = timed(counted, timings, '');
  let events = 0;
  let turns = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await runLabeling({
    input: ARENA,
    outDir: dir,
    panel,
    models,
    defaultModel: MODEL,
    concurrency: plan.concurrency,
    limit: plan.items,
    store,
    ...(eachToken ? {} : { deltaIntervalMs: LABELING_DELTA_INTERVAL_MS }),
    onEvent: (event: DebateEvent) => {
      events += 1;
      if (event.type === 'turn-end') turns += 1;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const rows: LabelRow[] = [];
  for await (const done of raw.iterateDone({ runId: result.runId })) rows.push(done.result);
  // What the store holds after the session pruned its settled items (their turn-deltas) at the end.
  let kept = 0;
  for (let afterId = 0; ; ) {
    const page = await raw.eventsAfter({ runId: result.runId, afterId, limit: 10_000 });
    if (page.length === 0) break;
    kept += page.length;
    afterId = page.at(-1)?.id ?? afterId;
  }
  await raw.close();
  await models.close();
  rmSync(dir, { recursive: true, force: true });

  const items = result.totals.done;
  // Model time on an item's critical path: one latency per round held (round 0 plus each debate round).
  const modelSeconds = rows.reduce((sum, row) => sum + (row.roundsUsed + 1) * (LATENCY_MS / 1000), 0);
  const idealSeconds = modelSeconds / plan.concurrency;
  const slotSecondsPerItem = (seconds * plan.concurrency) / items;
  const modelSecondsPerItem = modelSeconds / items;
  const cpuMsPerItem = (cpu.user + cpu.system) / 1000 / items;
  const groups = { events: 0, checkpoints: 0, turnCache: 0, queue: 0 };
  const cacheWrites = (timings.get('putTurns')?.calls ?? 0) + (timings.get('putTurn')?.calls ?? 0);
  for (const [name, entry] of timings) groups[groupOf(name)] += entry.ms;
  const sqliteMs = groups.events + groups.checkpoints + groups.turnCache + groups.queue;
  const round = (value: number, digits = 2) => Number(value.toFixed(digits));
  // --methods: the store time per method (ms and calls per item), to see which part of a group costs.
  if (process.argv.includes('--methods')) {
    const rows = [...timings].sort((left, right) => right[1].ms - left[1].ms);
    console.table(
      rows.map(([name, entry]) => ({
        method: name,
        'ms/item': round(entry.ms / items, 3),
        'calls/item': round(entry.calls / items, 2),
      })),
    );
  }
  return {
    concurrency: plan.concurrency,
    items,
    turns,
    events,
    seconds: round(seconds, 3),
    itemsPerSecond: round(items / seconds),
    idealSeconds: round(idealSeconds, 3),
    idealItemsPerSecond: round(items / idealSeconds),
    efficiency: round(idealSeconds / seconds, 3),
    perItem: {
      modelMs: round(modelSecondsPerItem * 1000, 1),
      slotMs: round(slotSecondsPerItem * 1000, 1),
      overheadMs: round((slotSecondsPerItem - modelSecondsPerItem) * 1000, 1),
      cpuMs: round(cpuMsPerItem, 1),
      sqliteMs: round(sqliteMs / items, 2),
      events: round(events / items, 1),
      storedEvents: round(written / items, 1),
      keptEvents: round(kept / items, 1),
    },
    sqlite: {
      eventWriteUsPerEvent: round((groups.events * 1000) / Math.max(1, events), 2),
      allUsPerEvent: round((sqliteMs * 1000) / Math.max(1, events), 2),
      msPerItem: {
        events: round(groups.events / items, 2),
        checkpoints: round(groups.checkpoints / items, 2),
        turnCache: round(groups.turnCache / items, 2),
        queue: round(groups.queue / items, 2),
      },
      turnCacheWrites: cacheWrites,
      shareOfCpu: round(sqliteMs / ((cpu.user + cpu.system) / 1000), 3),
    },
    cpuShareOfModelTime: round(cpuMsPerItem / (modelSecondsPerItem * 1000), 4),
  };
}

// --only N: just that concurrency (for profiling); nothing is written.
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex === -1 ? undefined : Number(process.argv[onlyIndex + 1]);
const results = [];
for (const plan of PLAN.filter((entry) => only === undefined || entry.concurrency === only)) {
  const runs = [];
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    process.stderr.write(
      `concurrency ${plan.concurrency}: ${plan.items} items (run ${repeat + 1} of ${REPEATS}, ${performance.now().toFixed(0)} ms after start: cpu-profile-top --from) ...\n`,
    );
    runs.push(await measure(plan));
  }
  runs.sort((left, right) => left.seconds - right.seconds);
  const median = runs[Math.floor(runs.length / 2)] ?? runs[0];
  if (median) {
    results.push({
      ...median,
      repeats: REPEATS,
      bestItemsPerSecond: Math.max(...runs.map((run) => run.itemsPerSecond)),
      bestCpuMsPerItem: Math.min(...runs.map((run) => run.perItem.cpuMs)),
    });
  }
}

console.table(
  results.map((entry) => ({
    concurrency: entry.concurrency,
    items: entry.items,
    'items/s': entry.itemsPerSecond,
    'best items/s': entry.bestItemsPerSecond,
    'ideal items/s': entry.idealItemsPerSecond,
    efficiency: entry.efficiency,
    'model ms/item': entry.perItem.modelMs,
    'overhead ms/item': entry.perItem.overheadMs,
    'CPU ms/item': entry.perItem.cpuMs,
    'SQLite ms/item': entry.perItem.sqliteMs,
    'event write µs/event': entry.sqlite.eventWriteUsPerEvent,
    'events/item': entry.perItem.events,
    'written/item': entry.perItem.storedEvents,
    'kept/item': entry.perItem.keptEvents,
  })),
);

// --json FILE: the medians as measured here, with the command and the load average, whatever the other flags.
const jsonIndex = process.argv.indexOf('--json');
if (jsonIndex !== -1 && process.argv[jsonIndex + 1]) {
  writeFileSync(
    path.resolve(process.argv[jsonIndex + 1] as string),
    `${JSON.stringify({ command: `npx tsx bench/label.ts ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(), loadAverage: loadavg(), results }, null, 2)}\n`,
  );
}

if (!quick && only === undefined) {
  const out = path.join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'label.json'),
    `${JSON.stringify(
      {
        benchmark: 'label',
        command: 'npx tsx bench/label.ts',
        date: new Date().toISOString(),
        machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, platform: `${process.platform}-${process.arch}` },
        node: process.version,
        settings: {
          input: '../shared/datasets/arena-hard-candidates.jsonl (4 candidates an item)',
          panel: 'panels/default.yaml (3 critics, up to 2 debate rounds, simultaneous)',
          model: MODEL,
          providerConcurrency: 'unlimited (fake provider limiter set to 1e6), so only the item pool limits parallelism',
          ideal: 'sum over items of (rounds held x latency) / concurrency',
          statistic: `median of ${REPEATS} runs by wall time (best items/s and CPU ms/item beside it)`,
          sqliteMs:
            'synchronous time inside store and checkpointer calls (SQLite and the serialisation around it); includes time the OS gave to other processes',
          overheadMs: 'wall time x concurrency / items - model time per item: what a pool slot spends per item beyond the model',
        },
        results,
      },
      null,
      2,
    )}\n`,
  );
}
