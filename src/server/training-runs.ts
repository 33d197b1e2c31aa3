import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TrainerEvent } from '../contracts/index.js';
import { followTrainerEvents, RUN_FILES } from '../trainer/index.js';

/**
 * Resolves the `runDir` of a `train.subscribe` frame to the real path of a training run directory, or says why it is
 * refused (naming the path). It must exist, be a directory (links are followed) and hold `events.jsonl` or
 * `config.json` as regular files (not links). Only that directory's events.jsonl is ever read, and only its lines
 * that are valid trainer events reach a client.
 * @example
 * const resolved = await resolveTrainingRunDir({ cwd: process.cwd(), runDir: 'runs/dpo' });
 * if (resolved.success) follow(resolved.value);
 */
export async function resolveTrainingRunDir(options: {
  cwd: string;
  runDir: string;
}): Promise<{ success: true; value: string } | { success: false; error: string }> {
  const resolved = path.resolve(options.cwd, options.runDir);
  const named = resolved === options.runDir ? resolved : `${options.runDir} (${resolved})`;
  let dir: string;
  try {
    dir = await realpath(resolved);
  } catch {
    return refused(`no training run directory at ${named}: it does not exist; give the --out directory of tribunal train`);
  }
  if (
    !(await stat(dir).then(
      (stats) => stats.isDirectory(),
      () => false,
    ))
  ) {
    return refused(`${named} is not a directory; give the --out directory of tribunal train`);
  }
  const kinds = await Promise.all(
    [RUN_FILES.events, RUN_FILES.config].map((name) =>
      lstat(path.join(dir, name)).then(
        (stats) => (stats.isFile() ? 'file' : 'other'),
        () => 'absent',
      ),
    ),
  );
  if (kinds[0] === 'other') {
    return refused(`${path.join(dir, RUN_FILES.events)} is not a regular file; the server follows only a run's own events.jsonl`);
  }
  if (!kinds.includes('file')) {
    return refused(
      `${named} is not a training run directory: it has neither ${RUN_FILES.events} nor ${RUN_FILES.config}; give the --out directory of tribunal train`,
    );
  }
  return { success: true, value: dir };
}

/** Why a directory cannot be followed: the message names the path and what to do. */
function refused(message: string): { success: false; error: string } {
  return { success: false, error: message };
}

/** Where `tribunal train` writes a run without `--out` (`runs/<task>-<pairs>`), under the server's working directory. */
export const TRAINING_RUNS_DIR = 'runs';

/** A training run directory the viewer can offer. */
export interface TrainingRunSummary {
  /** The directory relative to the server's working directory: what `train.subscribe` takes. */
  runDir: string;
  /** Latest modification of its events.jsonl or config.json. */
  updatedAt: string;
  /** Whether the worker has written events.jsonl yet. */
  events: boolean;
}

/**
 * Lists the training runs under `cwd/runs` (the default parent of `tribunal train --out`), and the evaluations in
 * their `evals/` folders, newest first: directories holding `events.jsonl` or `config.json` as regular files. Only
 * names and modification times are read; links are not followed. A missing `runs/` lists nothing.
 * @example
 * const runs = await listTrainingRuns({ cwd: process.cwd() }); // [{ runDir: 'runs/dpo-pairs', updatedAt, events: true }]
 */
export async function listTrainingRuns(options: { cwd: string; limit?: number }): Promise<TrainingRunSummary[]> {
  const runs: TrainingRunSummary[] = [];
  for (const name of await subdirectories(path.join(options.cwd, TRAINING_RUNS_DIR))) {
    const runDir = path.join(TRAINING_RUNS_DIR, name);
    const run = await trainingRunSummary(options.cwd, runDir);
    if (run === undefined) continue;
    runs.push(run);
    for (const evaluation of await subdirectories(path.join(options.cwd, runDir, 'evals'))) {
      const evalRun = await trainingRunSummary(options.cwd, path.join(runDir, 'evals', evaluation));
      if (evalRun !== undefined) runs.push(evalRun);
    }
  }
  runs.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.runDir.localeCompare(b.runDir));
  return runs.slice(0, options.limit ?? 200);
}

/** Names of the directories (not links) directly in `dir`; none when it cannot be read. */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

async function trainingRunSummary(cwd: string, runDir: string): Promise<TrainingRunSummary | undefined> {
  const files = await Promise.all(
    [RUN_FILES.events, RUN_FILES.config].map((name) =>
      lstat(path.join(cwd, runDir, name)).then(
        (stats) => (stats.isFile() ? stats : undefined),
        () => undefined,
      ),
    ),
  );
  const [events, config] = files;
  if (events === undefined && config === undefined) return undefined;
  const updated = Math.max(events?.mtimeMs ?? 0, config?.mtimeMs ?? 0);
  return { runDir: runDir.split(path.sep).join('/'), updatedAt: new Date(updated).toISOString(), events: events !== undefined };
}

/** What a followed training run reports to: one client connection's subscription. */
export interface TrainingRunListener {
  /** Called for each event in file order; the next is read only once the returned promise resolves (backpressure). */
  event(options: { line: number; event: TrainerEvent }): Promise<void>;
  /** events.jsonl became unreadable; following has stopped. */
  failed(error: Error): void;
  /** A line that is not a valid trainer event was skipped (for the server log; never sent to the client). */
  skipped(message: string): void;
}

/**
 * Follows a resolved training run directory's events.jsonl after `afterLine` until `signal` aborts, handing each
 * valid event to `listener` and waiting for it before reading on, so a slow client slows only its own tail and no
 * event is ever dropped. Resolves when the subscription ends.
 */
export async function followTrainingRun(options: {
  runDir: string;
  afterLine: number;
  signal: AbortSignal;
  pollMs?: number;
  listener: TrainingRunListener;
}): Promise<void> {
  const { signal, listener } = options;
  try {
    for await (const followed of followTrainerEvents({
      runDir: options.runDir,
      signal,
      afterLine: options.afterLine,
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      onInvalidLine: (problem) => listener.skipped(problem.message),
    })) {
      if (signal.aborted) return;
      await listener.event(followed);
    }
  } catch (error) {
    if (signal.aborted) return;
    listener.failed(error instanceof Error ? error : new Error(String(error)));
  }
}
