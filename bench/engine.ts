/**
 * Engine benchmark: what running a debate costs beyond the model calls themselves.
 *
 * Two phases, each run for several variants in the same process, interleaved, so results can be read as
 * ratios against a baseline measured under the same (shared, noisy) conditions:
 *
 * - `overhead`: debates one after another against an instant fake model (latency 0): CPU and wall per debate.
 * - `concurrent`: N debates at once against the fake provider with `--latency` ms per call; wall time against
 *   the ideal (rounds x latency: every round's calls run concurrently), CPU, event-loop delay, heap, GC.
 *
 * Variants:
 * - `graph`: `runDebate` on the panel's LangGraph protocol graph (what runs with a checkpointer, and in Studio).
 * - `direct`: `runDebate` with the direct driver (the same node functions and router in a plain loop).
 * - `raw`: the floor: the same structured calls through the registry's model wrapper and fake adapter, round by
 *   round, with no engine (no prompts built per turn, no events, no state, no consensus).
 * - `before`, `before-direct`, `before-raw` (with `--before-tree DIR`): `graph`, `direct` and `raw` of another checkout
 *   (its engine, wrapper and fake), e.g. the commit before a change, measured in the same process.
 *
 * A debate is the default panel (safety, efficiency, creativity) over 2 candidates; "`--rounds` R" means R rounds
 * of critic turns: round 0 (independent) plus R - 1 debate rounds (maxRounds = R - 1), with convergence disabled
 * (tolerance 0 and a script whose scores differ between critics and change every round), so every debate holds
 * exactly R rounds of 3 x 2 turns; the ideal wall time is R x latency.
 *
 *   npx tsx bench/engine.ts                                 # both phases, 3 repeats, writes bench/results/engine.json
 *   npx tsx bench/engine.ts --debates 1000 --latency 1000 --rounds 2 --repeats 3
 *   npx tsx bench/engine.ts --phase overhead --variants graph --overhead-debates 2000 --no-write   # e.g. under --cpu-prof
 *   node --expose-gc --import tsx bench/engine.ts           # lets the bench collect garbage between runs
 *   npx tsx bench/engine.ts --phase overhead --variants direct --profile /tmp/direct.cpuprofile --no-write
 *   npx tsx bench/cpu-profile-top.ts /tmp/direct.cpuprofile  # top self time of the measured runs only
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadPanel } from '../src/config/index.js';
import type { DebateInput, ResolvedPanel } from '../src/contracts/index.js';
import {
  assessmentSchemaFor,
  buildTurnMessages,
  createDebateSetup,
  type RunDebateOptions,
  runDebate,
  subjectsOf,
  systemPromptFor,
} from '../src/engine/index.js';
import { createFakeAdapter, createModelRegistry, type FakeCall, type ModelRegistry } from '../src/models/index.js';

const VARIANTS = ['graph', 'direct', 'raw', 'before', 'before-direct', 'before-raw'] as const;
type Variant = (typeof VARIANTS)[number];

const { values: flags } = parseArgs({
  options: {
    debates: { type: 'string', default: '1000' },
    latency: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    'overhead-debates': { type: 'string', default: '500' },
    repeats: { type: 'string', default: '3' },
    phase: { type: 'string', default: 'all' },
    variants: { type: 'string' },
    /** Another checkout of this repository (e.g. the commit before a change): variants `before` (its LangGraph driver), `before-direct`, `before-raw`. */
    'before-tree': { type: 'string' },
    out: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), 'results', 'engine.json') },
    'no-write': { type: 'boolean', default: false },
    /** A results file of an earlier run (e.g. of the code before a change) to compare against. */
    compare: { type: 'string' },
    /** Writes a V8 CPU profile of the measured runs only (no startup, no warm-up) to this .cpuprofile file. */
    profile: { type: 'string' },
    /** What this run measures, recorded in the results (e.g. "after"). */
    label: { type: 'string', default: '' },
    quick: { type: 'boolean', default: false },
  },
});

const quick = flags.quick;
const DEBATES = quick ? 100 : positive('debates');
const LATENCY_MS = quick ? 100 : positive('latency', true);
const ROUNDS = positive('rounds');
const OVERHEAD_DEBATES = quick ? 50 : positive('overhead-debates');
const REPEATS = quick ? 1 : positive('repeats');
const PHASES = flags.phase === 'all' ? ['overhead', 'concurrent'] : [flags.phase];
const defaultVariants = flags['before-tree'] === undefined ? 'graph,direct,raw' : 'before,graph,direct,raw';
const variants = (flags.variants ?? defaultVariants).split(',').map((name) => {
  if (!(VARIANTS as readonly string[]).includes(name)) throw new Error(`unknown variant "${name}"; use ${VARIANTS.join(', ')}`);
  return name as Variant;
});
for (const phase of PHASES) if (phase !== 'overhead' && phase !== 'concurrent') throw new Error(`unknown phase "${phase}"`);

function positive(name: 'debates' | 'latency' | 'rounds' | 'overhead-debates' | 'repeats', zero = false): number {
  const value = Number(flags[name]);
  if (!Number.isInteger(value) || value < (zero ? 0 : 1)) throw new Error(`--${name} must be a whole number`);
  return value;
}

const INPUT: DebateInput = {
  id: 'bench-item',
  prompt: 'How do I make a good cup of coffee at home?',
  candidates: [
    { id: 'a', text: 'Grind fresh beans, use water just off the boil, and brew for about four minutes.' },
    { id: 'b', text: 'Instant coffee is fine; add hot tap water and stir.' },
  ],
};

/** Replies per critic and round: scores 3 apart between critics and moving every round, so nothing converges. */
function nonConvergingScript(criticIds: readonly string[]): (call: FakeCall) => string {
  const replies = new Map<string, string>();
  return (call) => {
    const turn = call.turn ?? { round: 0, criticId: criticIds[0] ?? '', candidateId: '' };
    const key = `${turn.criticId}/${turn.round}`;
    let reply = replies.get(key);
    if (reply === undefined) {
      const index = Math.max(0, criticIds.indexOf(turn.criticId));
      const score = 1 + 3 * index + (turn.round % 2);
      reply = JSON.stringify({
        rationale: `${turn.criticId} keeps its view in round ${turn.round}; the answer is adequate but could be clearer.`,
        principles: [],
        score,
        confidence: 0.7,
      });
      replies.set(key, reply);
    }
    return reply;
  };
}

/** The engine and models of one tree: this one, or the one given with --before-tree. */
interface Tree {
  runDebate: typeof runDebate;
  createModelRegistry: typeof createModelRegistry;
  createFakeAdapter: typeof createFakeAdapter;
}

const CURRENT: Tree = { runDebate, createModelRegistry, createFakeAdapter };

async function loadTree(dir: string): Promise<Tree> {
  const engine = (await import(join(dir, 'src/engine/index.ts'))) as Pick<Tree, 'runDebate'>;
  const models = (await import(join(dir, 'src/models/index.ts'))) as Omit<Tree, 'runDebate'>;
  return {
    runDebate: engine.runDebate,
    createModelRegistry: models.createModelRegistry,
    createFakeAdapter: models.createFakeAdapter,
  };
}

function registryFor(panel: ResolvedPanel, latencyMs: number, tree: Tree = CURRENT): ModelRegistry {
  const script = nonConvergingScript(panel.critics.map((critic) => critic.id));
  return tree.createModelRegistry({
    // An older fake may ignore recordCalls and keep every call, as it did then.
    adapters: { fake: () => tree.createFakeAdapter({ script, latencyMs, recordCalls: false }) },
    providers: { fake: { concurrency: 100_000 } },
    settings: {},
  });
}

/** One debate of a variant; resolves with the number of events it emitted (raw: streamed fragments). */
type DebateRunner = (index: number) => Promise<number>;

function runnerFor(variant: Variant, panel: ResolvedPanel, models: ModelRegistry, tree: Tree = CURRENT): DebateRunner {
  if (variant === 'raw' || variant === 'before-raw') return rawRunner(panel, models);
  return async (index) => {
    let events = 0;
    const options: RunDebateOptions = {
      panel,
      input: INPUT,
      models,
      defaultModel: 'fake:bench',
      runId: 'bench',
      debateId: `debate-${index}`,
      onEvent: () => {
        events++;
      },
      driver: variant === 'direct' || variant === 'before-direct' ? 'direct' : 'langgraph',
    };
    const result = await tree.runDebate(options);
    if (result.turns.length !== ROUNDS * panel.critics.length * INPUT.candidates.length) {
      throw new Error(`debate held ${result.turns.length} turns, not ${ROUNDS} rounds`);
    }
    return events;
  };
}

/** The floor: the same structured calls, round by round, without the engine. Messages are built once per debate. */
function rawRunner(panel: ResolvedPanel, models: ModelRegistry): DebateRunner {
  const setup = createDebateSetup({ panel, input: INPUT, defaultModel: 'fake:bench', runId: 'bench', debateId: 'raw' });
  const subjects = subjectsOf(setup);
  const schema = assessmentSchemaFor(panel.panel.scale);
  const messages = new Map(
    panel.critics.flatMap((critic) =>
      subjects.map((subject) => [
        `${critic.id}/${subject.id}`,
        buildTurnMessages({
          system: systemPromptFor({ panel, critic }),
          prompt: INPUT.prompt,
          subject,
          round: 0,
          kind: 'assess',
        }),
      ]),
    ),
  );
  return async () => {
    const model = await models.resolve('fake:bench');
    let fragments = 0;
    const onToken = () => {
      fragments++;
    };
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        panel.critics.flatMap((critic) =>
          subjects.map(async (subject) => {
            const outcome = await model.structured({
              messages: messages.get(`${critic.id}/${subject.id}`) ?? [],
              schema,
              schemaName: 'assessment',
              temperature: critic.temperature,
              maxTokens: panel.panel.maxTokens,
              onToken,
              turn: { round, criticId: critic.id, candidateId: subject.id },
            });
            if (!outcome.success) throw outcome.error;
          }),
        ),
      );
    }
    return fragments;
  };
}

interface Measurement {
  variant: Variant;
  debates: number;
  wallMs: number;
  cpuMs: number;
  cpuMsPerDebate: number;
  wallMsPerDebate: number;
  gcMs: number;
  gcCount: number;
  eventsPerDebate: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  heapUsedPeakMb: number;
  rssPeakMb: number;
  /** Heap in use after a full GC once the run is over (with --expose-gc): growth across repeats means a leak. */
  heapAfterGcMb?: number;
  idealMs?: number;
  wallOverIdeal?: number;
}

const gcState = { ms: 0, count: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcState.ms += entry.duration;
    gcState.count++;
  }
});
gcObserver.observe({ entryTypes: ['gc'] });

/** Runs a full GC when node runs with --expose-gc; says whether it could. */
function collectGarbage(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return gc !== undefined;
}

async function measure(options: {
  variant: Variant;
  debates: number;
  concurrent: boolean;
  run: DebateRunner;
  idealMs?: number;
  /** Called before measuring, e.g. to drop what earlier runs left behind. */
  reset?: () => Promise<void>;
}): Promise<Measurement> {
  const { variant, debates, concurrent, run } = options;
  await options.reset?.();
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let heapPeak = 0;
  let rssPeak = 0;
  const sample = () => {
    const memory = process.memoryUsage();
    heapPeak = Math.max(heapPeak, memory.heapUsed);
    rssPeak = Math.max(rssPeak, memory.rss);
  };
  const sampler = setInterval(sample, 50);
  const gcBefore = { ...gcState };
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  let events = 0;
  if (concurrent) {
    const counts = await Promise.all(Array.from({ length: debates }, (_, index) => run(index)));
    for (const count of counts) events += count;
  } else {
    for (let index = 0; index < debates; index++) events += await run(index);
  }
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  clearInterval(sampler);
  sample();
  // GC entries are delivered on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const measurement: Measurement = {
    variant,
    debates,
    wallMs: round(wallMs),
    cpuMs: round(cpuMs),
    cpuMsPerDebate: round(cpuMs / debates, 3),
    wallMsPerDebate: round(wallMs / debates, 3),
    gcMs: round(gcState.ms - gcBefore.ms),
    gcCount: gcState.count - gcBefore.count,
    eventsPerDebate: round(events / debates, 1),
    eventLoopDelayMs: {
      p50: round(delay.percentile(50) / 1e6),
      p99: round(delay.percentile(99) / 1e6),
      max: round(delay.max / 1e6),
    },
    heapUsedPeakMb: round(heapPeak / 2 ** 20, 1),
    rssPeakMb: round(rssPeak / 2 ** 20, 1),
  };
  if (collectGarbage()) measurement.heapAfterGcMb = round(process.memoryUsage().heapUsed / 2 ** 20, 1);
  if (options.idealMs !== undefined) {
    measurement.idealMs = options.idealMs;
    measurement.wallOverIdeal = round(wallMs / options.idealMs, 3);
  }
  return measurement;
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

type Summary = Record<string, number | Record<string, number>>;

/** Medians over repeats of every numeric field (nested event-loop delay included). */
function summarize(runs: Measurement[]): Summary {
  const first = runs[0] as Measurement;
  const summary: Summary = {};
  for (const [key, value] of Object.entries(first)) {
    if (typeof value === 'number') summary[key] = round(median(runs.map((run) => run[key as keyof Measurement] as number)), 3);
    else if (typeof value === 'object') {
      summary[key] = Object.fromEntries(
        Object.keys(value).map((inner) => [
          inner,
          round(median(runs.map((run) => (run[key as keyof Measurement] as Record<string, number>)[inner] as number)), 3),
        ]),
      );
    }
  }
  return summary;
}

async function main(): Promise<void> {
  const startLoad = loadavg().map((value) => round(value));
  const base = await loadPanel();
  const panel: ResolvedPanel = {
    ...base,
    panel: { ...base.panel, maxRounds: ROUNDS - 1, tolerance: 0, blindFinalVote: false },
  };
  delete (panel as { chair?: unknown }).chair;
  const beforeTree = flags['before-tree'];
  if (variants.some((variant) => variant.startsWith('before')) && beforeTree === undefined) {
    throw new Error('the "before" variants need --before-tree <dir>');
  }
  const before = beforeTree === undefined ? undefined : await loadTree(beforeTree);
  const treeOf = (variant: Variant): Tree => (variant.startsWith('before') && before ? before : CURRENT);
  const registries = new Map<Tree, { instant: ModelRegistry; slow: ModelRegistry }>();
  for (const tree of new Set(variants.map(treeOf))) {
    registries.set(tree, { instant: registryFor(panel, 0, tree), slow: registryFor(panel, LATENCY_MS, tree) });
  }
  // An older fake keeps every call it gets; forget them between measurements so no variant pays for that heap.
  const reset = async () => {
    for (const { instant, slow } of registries.values()) {
      for (const models of [instant, slow]) {
        const chat = (await models.resolve('fake:bench')).chat as { calls?: unknown[] };
        if (Array.isArray(chat.calls)) chat.calls.length = 0;
      }
    }
  };
  const runner = (variant: Variant, speed: 'instant' | 'slow') => {
    const tree = treeOf(variant);
    const models = registries.get(tree)?.[speed];
    if (!models) throw new Error(`no registry for ${variant}`);
    return runnerFor(variant, panel, models, tree);
  };
  const results: Record<string, unknown> = {};
  const log = (line: string) => process.stderr.write(`${line}\n`);

  // Warm up every variant (JIT, module caches, compiled graphs).
  for (const variant of variants) {
    const run = runner(variant, 'instant');
    for (let index = 0; index < (quick ? 20 : 200); index++) await run(index);
  }

  const profiler = flags.profile === undefined ? undefined : new Session();
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }

  if (PHASES.includes('overhead')) {
    const runs: Record<string, Measurement[]> = {};
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const variant of variants) {
        const measurement = await measure({
          variant,
          debates: OVERHEAD_DEBATES,
          concurrent: false,
          run: runner(variant, 'instant'),
          reset,
        });
        runs[variant] = [...(runs[variant] ?? []), measurement];
        log(
          `overhead  ${variant.padEnd(6)} #${repeat + 1}: ${measurement.cpuMsPerDebate.toFixed(3)} ms CPU/debate, ${measurement.wallMsPerDebate.toFixed(3)} ms wall/debate, GC ${measurement.gcMs} ms`,
        );
      }
    }
    results.overhead = withRatios(runs, ['cpuMsPerDebate', 'wallMsPerDebate']);
  }

  if (PHASES.includes('concurrent')) {
    const idealMs = ROUNDS * LATENCY_MS;
    const runs: Record<string, Measurement[]> = {};
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const variant of variants) {
        const measurement = await measure({
          variant,
          debates: DEBATES,
          concurrent: true,
          run: runner(variant, 'slow'),
          reset,
          idealMs,
        });
        runs[variant] = [...(runs[variant] ?? []), measurement];
        log(
          `concurrent ${variant.padEnd(6)} #${repeat + 1}: ${measurement.wallMs} ms wall (${measurement.wallOverIdeal}x ideal ${idealMs} ms), ${measurement.cpuMsPerDebate.toFixed(3)} ms CPU/debate, loop delay p99 ${measurement.eventLoopDelayMs.p99} ms, heap peak ${measurement.heapUsedPeakMb} MB, after GC ${measurement.heapAfterGcMb ?? '?'} MB`,
        );
      }
    }
    results.concurrent = withRatios(runs, ['wallMs', 'cpuMsPerDebate']);
  }

  if (profiler && flags.profile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(flags.profile, JSON.stringify(profile));
    profiler.disconnect();
  }

  const report = {
    benchmark: 'engine',
    command: ['node', ...process.execArgv, 'bench/engine.ts', ...process.argv.slice(2)].join(' '),
    date: new Date().toISOString(),
    label: flags.label,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      platform: `${process.platform}-${process.arch}`,
      loadAverageAtStart: startLoad,
      loadAverageAtEnd: loadavg().map((value) => round(value)),
    },
    node: process.version,
    execArgv: process.execArgv,
    exposeGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    settings: {
      panel: 'panels/default.yaml (3 critics), 2 candidates, pointwise, simultaneous',
      rounds: ROUNDS,
      roundsMeaning: `round 0 (independent) + ${ROUNDS - 1} debate round(s): maxRounds ${ROUNDS - 1}, tolerance 0, scores never converge`,
      turnsPerDebate: ROUNDS * panel.critics.length * INPUT.candidates.length,
      overheadDebates: OVERHEAD_DEBATES,
      concurrentDebates: DEBATES,
      latencyMs: LATENCY_MS,
      idealMs: ROUNDS * LATENCY_MS,
      providerConcurrency: 100_000,
      repeats: REPEATS,
      statistic: 'median over repeats; variants interleaved within each repeat',
      variants: {
        graph: 'runDebate, LangGraph driver',
        direct: 'runDebate, direct driver (same node functions and router, no LangGraph)',
        raw: 'structured calls only, no engine',
        ...(beforeTree === undefined
          ? {}
          : {
              before: `runDebate of ${beforeTree}, LangGraph driver (its own engine, model wrapper and fake)`,
              'before-direct': `runDebate of ${beforeTree}, direct driver`,
              'before-raw': `structured calls only through the model wrapper and fake of ${beforeTree}`,
            }),
      },
    },
    results,
    ...(flags.compare === undefined ? {} : { before: compareWith(flags.compare, results) }),
  };
  for (const [phase, value] of Object.entries(results)) {
    for (const [variant, summary] of Object.entries((value as { medians: Record<string, Summary> }).medians)) {
      const pick = (key: string) => (typeof summary[key] === 'number' ? summary[key] : '-');
      log(
        phase === 'overhead'
          ? `median overhead   ${variant.padEnd(6)} ${pick('cpuMsPerDebate')} ms CPU/debate (${pick('cpuMsPerDebateOverRaw')}x raw), ${pick('wallMsPerDebate')} ms wall/debate`
          : `median concurrent ${variant.padEnd(6)} ${pick('wallMs')} ms wall = ${pick('wallOverIdeal')}x ideal (${pick('wallMsOverRaw')}x raw), ${pick('cpuMsPerDebate')} ms CPU/debate (${pick('cpuMsPerDebateOverRaw')}x raw)`,
      );
    }
  }
  if (!flags['no-write']) writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
}

/**
 * Medians per variant, plus each variant's ratio to the raw baseline: the median over repeats of the ratio within a
 * repeat (the variants of one repeat ran back to back, so they share the machine's load at the time).
 */
function withRatios(runs: Record<string, Measurement[]>, keys: (keyof Measurement)[]): Record<string, unknown> {
  const medians = Object.fromEntries(Object.entries(runs).map(([variant, list]) => [variant, summarize(list)]));
  const raw = runs.raw;
  if (raw) {
    for (const [variant, list] of Object.entries(runs)) {
      const summary = medians[variant] as Summary;
      for (const key of keys) {
        const ratios = list.flatMap((run, index) => {
          const base = raw[index]?.[key];
          return typeof base === 'number' && base > 0 ? [(run[key] as number) / base] : [];
        });
        if (ratios.length > 0) summary[`${key}OverRaw`] = round(median(ratios), 3);
      }
    }
  }
  return { medians, runs };
}

/** After/before ratios of the medians both runs have. */
function compareWith(file: string, results: Record<string, unknown>): Record<string, unknown> {
  const before = JSON.parse(readFileSync(file, 'utf8')) as { label?: string; date?: string; results: typeof results };
  const ratios: Record<string, Record<string, Record<string, number>>> = {};
  for (const [phase, value] of Object.entries(results)) {
    const after = (value as { medians: Record<string, Summary> }).medians;
    const earlier = (before.results[phase] as { medians?: Record<string, Summary> } | undefined)?.medians ?? {};
    for (const [variant, summary] of Object.entries(after)) {
      for (const [key, number] of Object.entries(summary)) {
        const old = earlier[variant]?.[key];
        if (typeof number === 'number' && typeof old === 'number' && old > 0) {
          const byVariant = ratios[phase] ?? {};
          byVariant[variant] = { ...byVariant[variant], [key]: round(number / old, 3) };
          ratios[phase] = byVariant;
        }
      }
    }
  }
  return { file, label: before.label, date: before.date, results: before.results, afterOverBefore: ratios };
}

await main();
