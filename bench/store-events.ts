/**
 * Micro-benchmark of the event log: the cost per event of `appendEvents` with 1, 64 and 512 events per call (one
 * transaction each) on a real SQLite file in WAL mode with synchronous=NORMAL, the settings `openStore` uses.
 * Writes bench/results/store-events.json and prints a table. Not a test: numbers depend on the machine and its disk.
 *
 *   npx tsx bench/store-events.ts            # full run
 *   npx tsx bench/store-events.ts --quick    # fewer events, for a smoke check
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { DebateEvent } from '../src/contracts/index.js';
import { openStore, STORE_FILE_NAME } from '../src/store/index.js';

const quick = process.argv.includes('--quick');
const BATCH_SIZES = [1, 64, 512];
/** Events appended per measurement, per batch size: enough for the run to last about a second or more. */
const EVENTS: Record<number, number> = quick ? { 1: 1_000, 64: 5_000, 512: 10_000 } : { 1: 10_000, 64: 100_000, 512: 200_000 };
const REPEATS = quick ? 1 : 5;
const DELTAS_PER_DEBATE = 200;
const AT = '2025-01-01T00:00:00.000Z';

/** Debates of one debate-start and `DELTAS_PER_DEBATE` token deltas: the bulk of a real stream is turn-delta events. */
function makeEvents(runId: string, count: number): DebateEvent[] {
  const events: DebateEvent[] = [];
  for (let debate = 0; events.length < count; debate++) {
    const debateId = `debate-${debate}`;
    events.push({
      type: 'debate-start',
      runId,
      debateId,
      seq: 0,
      at: AT,
      itemId: `item-${debate}`,
      panel: {
        id: 'default',
        hash: '0123456789abcdef',
        protocol: 'simultaneous',
        mode: 'pointwise',
        scale: { min: 1, max: 10 },
        maxRounds: 2,
        tolerance: 1,
        aggregation: 'weighted-mean',
        constitution: { id: 'default', version: '1', hash: 'fedcba9876543210' },
      },
      critics: [{ id: 'safety', name: 'Safety', focus: 'harm', weight: 1, model: 'openai:gpt-4.1-mini' }],
      prompt: 'How do I bake bread at home?',
      candidates: [{ id: 'c1', text: 'Mix flour, water, yeast and salt; knead, let it rise, shape, and bake at 230 °C.' }],
    });
    for (let seq = 1; seq <= DELTAS_PER_DEBATE && events.length < count; seq++) {
      events.push({
        type: 'turn-delta',
        runId,
        debateId,
        seq,
        at: AT,
        round: 0,
        criticId: 'safety',
        candidateId: 'c1',
        turnId: '0/safety/c1',
        text: ' the answer explains kneading',
      });
    }
  }
  return events;
}

interface Measurement {
  batchSize: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  microsecondsPerEvent: number;
  databaseBytesPerEvent: number;
}

async function measure(batchSize: number, count: number): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'tribunal-bench-'));
  try {
    const store = openStore({ dir });
    const { run } = await store.createOrResumeRun({
      config: {
        input: { file: 'bench.jsonl', sha256: 'b'.repeat(64) },
        panel: { id: 'default', hash: 'h' },
        personas: {},
        constitution: null,
        models: {},
        options: {},
      },
    });
    const events = makeEvents(run.id, count);
    const started = process.hrtime.bigint();
    for (let offset = 0; offset < events.length; offset += batchSize) {
      await store.appendEvents({ events: events.slice(offset, offset + batchSize) });
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await store.close();
    const file = join(dir, STORE_FILE_NAME);
    const bytes = statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    return {
      batchSize,
      events: events.length,
      seconds: round(seconds, 4),
      eventsPerSecond: Math.round(events.length / seconds),
      microsecondsPerEvent: round((seconds * 1e6) / events.length, 2),
      databaseBytesPerEvent: Math.round(bytes / events.length),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function median(values: Measurement[]): Measurement {
  const sorted = [...values].sort((left, right) => left.seconds - right.seconds);
  return sorted[Math.floor(sorted.length / 2)] as Measurement;
}

await measure(64, 2_000); // warm-up: JIT, page cache
const results: (Measurement & { best: { eventsPerSecond: number; microsecondsPerEvent: number } })[] = [];
for (const batchSize of BATCH_SIZES) {
  const runs: Measurement[] = [];
  for (let repeat = 0; repeat < REPEATS; repeat++) runs.push(await measure(batchSize, EVENTS[batchSize] ?? 10_000));
  const middle = median(runs);
  const fastest = [...runs].sort((left, right) => left.seconds - right.seconds)[0] as Measurement;
  results.push({
    ...middle,
    best: { eventsPerSecond: fastest.eventsPerSecond, microsecondsPerEvent: fastest.microsecondsPerEvent },
  });
  console.log(
    `batch ${String(batchSize).padStart(3)}: median ${String(middle.eventsPerSecond).padStart(7)} events/s (${middle.microsecondsPerEvent} µs/event), best ${String(fastest.eventsPerSecond).padStart(7)} events/s (${fastest.microsecondsPerEvent} µs/event), ${middle.databaseBytesPerEvent} B/event on disk`,
  );
}

const probe = new Database(':memory:');
const sqliteVersion = (probe.prepare('SELECT sqlite_version() AS version').get() as { version: string }).version;
probe.close();
const report = {
  benchmark: 'store-events',
  command: `npx tsx bench/store-events.ts${quick ? ' --quick' : ''}`,
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    platform: `${process.platform}-${process.arch}`,
    tmpdir: tmpdir(),
  },
  node: process.version,
  sqlite: sqliteVersion,
  settings: {
    journalMode: 'wal',
    synchronous: 'NORMAL',
    eventsPerDebate: DELTAS_PER_DEBATE + 1,
    repeats: REPEATS,
    statistic: 'median',
  },
  results,
};
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'store-events.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${join(resultsDir, 'store-events.json')}`);
