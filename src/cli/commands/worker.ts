import { statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TribunalError } from '../../contracts/index.js';
import { createModelRegistry, loadSettings } from '../../models/index.js';
import {
  DEFAULT_LEASE_MS,
  LABELING_DELTA_INTERVAL_MS,
  LabelingWorker,
  type LabelingWorkerOptions,
  type WorkerOutcome,
  workerSpecOf,
} from '../../runner/index.js';
import { isPostgresUrl, openStore, type RunRecord, STORE_FILE_NAME, type Store } from '../../store/index.js';
import { endpointsFrom } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import { integerFlag, numberFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import { ProgressBar } from '../progress-bar.js';
import { styleFor, terminalSafe } from '../terminal.js';

export const WORKER_HELP = `Usage: tribunal worker --store URL|DIR [options]

Joins labeling runs that "tribunal label" created (or queued with --no-work) and labels their items beside any
other workers, on this machine or others: each item is claimed with a lease that a heartbeat renews while its
debate runs, so a worker killed anywhere costs at most one lease period and never a duplicate label. Works until
every item of the run is settled (by whoever), then exits 0; with --follow it keeps waiting for new work.

Options:
  --store URL|DIR           the store: a Postgres URL (postgres://…; default $TRIBUNAL_STORE), or a run directory
                            (or its tribunal.sqlite) on this machine
  --run ID                  the run to join (default: every unfinished run in the store, newest first)
  --concurrency N           items debated at once by this worker (default 8)
  --lease-s S               seconds a claim lasts without a heartbeat (default ${DEFAULT_LEASE_MS / 1000}); heartbeats go every third
  --follow                  keep polling for new items and runs instead of exiting when there is nothing to do
  --poll-s S                with --follow, seconds between looks for new work (default 5)
  --json                    print a summary per run as JSON lines on stdout
  -h, --help                show this help

Progress goes to stderr (a bar on a terminal, a line every 10 s otherwise). The panel, models, prices and
breaker settings come from the run (what "tribunal label" stored); API keys and endpoint fleets (TRIBUNAL_MODELS) come
from this machine's environment. Ctrl-C stops gracefully (in-flight items go back to the queue). Exit codes: 0 no
work left, 2 usage, unknown run, or the run was reconfigured (start the worker again), 3 the model kept failing, 70 the store failed, 130 interrupted. See README.md
("Many cores and many machines") and docs/labeling.md.`;

/** `tribunal worker`: label the items of runs in a shared store, beside other workers. */
export async function workerCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      store: { type: 'string' },
      run: { type: 'string' },
      concurrency: { type: 'string' },
      'lease-s': { type: 'string' },
      follow: { type: 'boolean' },
      'poll-s': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${WORKER_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new TribunalError('CONFIG_INVALID', 'tribunal worker takes no positional argument');
  const concurrency = integerFlag(values.concurrency, '--concurrency', { min: 1, max: 4096 }) ?? 8;
  const leaseS = numberFlag(values['lease-s'], '--lease-s', { min: 0.1, max: 86_400, unit: 'seconds' });
  const pollS = numberFlag(values['poll-s'], '--poll-s', { min: 0.1, max: 3600, unit: 'seconds' }) ?? 5;
  const settings = loadSettings();
  const store = openWorkerStore({ given: values.store ?? settings.store, cwd: io.cwd });
  const runId = values.run;
  let exitCode: number = EXIT.ok;
  try {
    if (runId !== undefined && (await store.getRun({ runId })) === undefined) {
      throw new TribunalError(
        'CONFIG_INVALID',
        `${store.location} holds no run "${terminalSafe(runId).slice(0, 100)}": omit --run to join every unfinished run, or see the run ids with "tribunal export --help"`,
      );
    }
    for (;;) {
      const runs = await joinableRuns({ store, runId });
      for (const run of runs) {
        if (signal.aborted) break;
        const bar = new ProgressBar({ stream: io.stderr, style: styleFor(io.stderr) });
        let outcome: WorkerOutcome;
        try {
          outcome = await workOn({
            store,
            run,
            concurrency,
            leaseMs: leaseS === undefined ? undefined : leaseS * 1000,
            signal,
            onProgress: (progress) => bar.update(progress),
            onItemFailed: (failure) =>
              bar.log(
                `item ${failure.itemId} (line ${failure.line}) ${failure.state}: ${failure.code}: ${terminalSafe(failure.message)}`,
              ),
          });
        } finally {
          bar.finish();
        }
        const totals = (await store.getRun({ runId: run.id }))?.totals ?? run.totals;
        if (outcome.stopReason === undefined && totals.pending + totals.running === 0) {
          await store.setRunStatus({ runId: run.id, status: 'done' });
        }
        // What no resume needs any more: the snapshots and turn-deltas of settled items (safe while others work).
        await store.pruneSettled({ runId: run.id });
        const summary = {
          runId: run.id,
          stopReason: outcome.stopReason ?? null,
          session: outcome.counts,
          usage: outcome.usage,
          totals,
        };
        if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
        else {
          io.stdout.write(
            `run ${run.id}: this worker labeled ${outcome.counts.done} items (${outcome.counts.failed} failed, ${outcome.counts.rejected} refused, ${outcome.counts.deadLettered} dead-lettered); ` +
              `run: ${totals.done}/${totals.items} done, ${totals.pending} pending, ${totals.running} running\n`,
          );
        }
        if (outcome.stopReason === 'interrupted') exitCode = EXIT.interrupted;
        else if (outcome.stopReason === 'provider-failing') exitCode = EXIT.model;
        if (outcome.stopReason !== undefined) return exitCode;
      }
      if (!values.follow || signal.aborted) break;
      await sleep(pollS * 1000, signal);
      if (signal.aborted) break;
    }
    return signal.aborted ? EXIT.interrupted : exitCode;
  } finally {
    await store.close();
  }
}

/** The store a worker joins: a Postgres URL, or an existing run directory or SQLite file (never created here). */
function openWorkerStore(options: { given: string | undefined; cwd: string }): Store {
  const { given } = options;
  if (given === undefined || given === '') {
    throw new TribunalError(
      'CONFIG_INVALID',
      'tribunal worker needs --store: a postgres:// URL (or $TRIBUNAL_STORE), or the run directory of a "tribunal label" run',
    );
  }
  if (isPostgresUrl(given)) return openStore({ dir: options.cwd, url: given });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(given)) {
    // Another scheme: let openStore name what it accepts (without echoing a password).
    return openStore({ dir: options.cwd, url: given });
  }
  const resolved = path.resolve(options.cwd, given);
  const stats = statOf(resolved);
  const file = stats?.isDirectory() ? path.join(resolved, STORE_FILE_NAME) : resolved;
  if (!statOf(file)?.isFile()) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--store ${terminalSafe(given).slice(0, 200)}: no store there (${stats?.isDirectory() ? `the directory has no ${STORE_FILE_NAME}` : 'no such file or directory'}): give the run directory of a "tribunal label" run, or a postgres:// URL`,
      { location: { file } },
    );
  }
  return openStore({ file });
}

function statOf(file: string) {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** The runs to work on: the one named, or every run still `running` with items to settle, newest first. */
async function joinableRuns(options: { store: Store; runId: string | undefined }): Promise<RunRecord[]> {
  if (options.runId !== undefined) {
    const run = await options.store.getRun({ runId: options.runId });
    return run !== undefined && run.totals.pending + run.totals.running > 0 ? [run] : [];
  }
  return (await options.store.listRuns()).filter(
    (run) => run.status === 'running' && run.totals.pending + run.totals.running > 0 && run.config.runtime?.worker !== undefined,
  );
}

async function workOn(options: {
  store: Store;
  run: RunRecord;
  concurrency: number;
  leaseMs: number | undefined;
  signal: AbortSignal;
  onProgress: LabelingWorkerOptions['onProgress'];
  onItemFailed: LabelingWorkerOptions['onItemFailed'];
}): Promise<WorkerOutcome> {
  const { run } = options;
  const { spec, panel } = workerSpecOf(run);
  const settings = loadSettings();
  // Endpoint fleets come from this machine's TRIBUNAL_MODELS (label --processes passes its --models file that way).
  const endpoints = await endpointsFrom({ values: {}, settings, cwd: process.cwd() });
  const models = createModelRegistry({
    settings,
    pricing: spec.pricing ?? {},
    ...(endpoints === undefined ? {} : { endpoints }),
  });
  try {
    const worker = new LabelingWorker({
      store: options.store,
      runId: run.id,
      configHash: run.configHash,
      panel,
      models,
      defaultModel: spec.defaultModel,
      modelOverride: spec.modelOverride,
      concurrency: options.concurrency,
      leaseMs: options.leaseMs,
      ...(spec.breaker === undefined ? {} : { breaker: definedFields(spec.breaker) }),
      sharedTotals: true,
      // Nothing in this process watches single tokens: a turn's tokens become a delta per flush interval.
      deltaIntervalMs: LABELING_DELTA_INTERVAL_MS,
      signal: options.signal,
      onProgress: options.onProgress,
      onItemFailed: options.onItemFailed,
    });
    return await worker.run();
  } finally {
    await models.close();
  }
}

function definedFields<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
