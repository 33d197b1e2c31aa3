import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TrainerEvent } from '../contracts/index.js';
import { followTrainerEvents, RUN_FILES } from '../trainer/index.js';
import { QUOTED_PATH_CHARS, quoteUntrusted } from './frame-guard.js';
import type { RunsRoot } from './runs-root.js';

/**
 * Resolves the `runDir` of a `train.subscribe` frame to the real path of a training run directory inside the server's
 * runs directory, or says why it is refused. A path outside the runs directory (links followed) is refused with one
 * message, whether it exists or not; inside it, the message names the path. It must exist, be a directory and hold
 * `events.jsonl` or `config.json` as regular files (not links). Only that directory's events.jsonl is ever read, and
 * only its lines that are valid trainer events reach a client.
 * @example
 * const resolved = await resolveTrainingRunDir({ root: new RunsRoot({ root: 'runs', cwd }), runDir: 'runs/dpo' });
 * if (resolved.success) follow(resolved.value);
 */
export async function resolveTrainingRunDir(options: {
  root: RunsRoot;
  runDir: string;
}): Promise<{ success: true; value: string } | { success: false; error: string }> {
  const confined = await options.root.confine(options.runDir);
  if (!confined.success && confined.reason === 'outside') {
    return refused(
      `no training run at ${quoteUntrusted(options.runDir, QUOTED_PATH_CHARS)} inside the server's runs directory: give the --out directory of a tribunal train run under --runs-dir`,
    );
  }
  if (!confined.success) {
    return refused(
      `no training run directory at ${named(options.runDir, confined.resolved)}: it does not exist; give the --out directory of tribunal train`,
    );
  }
  const dir = confined.value;
  const namedDir = named(options.runDir, dir);
  if (
    !(await stat(dir).then(
      (stats) => stats.isDirectory(),
      () => false,
    ))
  ) {
    return refused(`${namedDir} is not a directory; give the --out directory of tribunal train`);
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
      `${namedDir} is not a training run directory: it has neither ${RUN_FILES.events} nor ${RUN_FILES.config}; give the --out directory of tribunal train`,
    );
  }
  return { success: true, value: dir };
}

/** A client's path as the message names it: as given, and its resolved form when that differs. */
function named(given: string, resolved: string): string {
  return resolved === given ? resolved : `${quoteUntrusted(given, QUOTED_PATH_CHARS)} (${resolved})`;
}

/** Why a directory cannot be followed: the message names the path and what to do. */
function refused(message: string): { success: false; error: string } {
  return { success: false, error: message };
}

/** A training run directory the viewer can offer. */
export interface TrainingRunSummary {
  /** The directory as `train.subscribe` takes it: relative to the server's working directory when below it. */
  runDir: string;
  /** Latest modification of its events.jsonl or config.json. */
  updatedAt: string;
  /** Whether the worker has written events.jsonl yet. */
  events: boolean;
}

/**
 * Lists the training runs directly in the server's runs directory (by default `runs/`, where `tribunal train` writes
 * without `--out`), and the evaluations in their `evals/` folders, newest first: directories holding `events.jsonl` or
 * `config.json` as regular files. Only names and modification times are read; links are not followed. A missing
 * runs directory lists nothing.
 * @example
 * const runs = await listTrainingRuns({ root }); // [{ runDir: 'runs/dpo-pairs', updatedAt, events: true }]
 */
export async function listTrainingRuns(options: { root: RunsRoot; limit?: number }): Promise<TrainingRunSummary[]> {
  const runs: TrainingRunSummary[] = [];
  const base = options.root.dir;
  for (const name of await subdirectories(base)) {
    const runDir = path.join(base, name);
    const run = await trainingRunSummary(options.root, runDir);
    if (run === undefined) continue;
    runs.push(run);
    for (const evaluation of await subdirectories(path.join(runDir, 'evals'))) {
      const evalRun = await trainingRunSummary(options.root, path.join(runDir, 'evals', evaluation));
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

async function trainingRunSummary(root: RunsRoot, runDir: string): Promise<TrainingRunSummary | undefined> {
  const files = await Promise.all(
    [RUN_FILES.events, RUN_FILES.config].map((name) =>
      lstat(path.join(runDir, name)).then(
        (stats) => (stats.isFile() ? stats : undefined),
        () => undefined,
      ),
    ),
  );
  const [events, config] = files;
  if (events === undefined && config === undefined) return undefined;
  const updated = Math.max(events?.mtimeMs ?? 0, config?.mtimeMs ?? 0);
  return { runDir: root.reference(runDir), updatedAt: new Date(updated).toISOString(), events: events !== undefined };
}

/** What a followed training run reports to: one client connection's subscription. */
export interface TrainingRunListener {
  /** Called for each event in file order; the next is read only once the returned promise resolves (backpressure). */
  event(options: { line: number; event: TrainerEvent }): Promise<void>;
  /** events.jsonl became unreadable; following has stopped. */
  failed(error: Error): void;
  /** Line `line` is not a valid trainer event and was skipped (for the server log by number; its content is never logged or sent). */
  skipped(line: number): void;
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
      onInvalidLine: (problem) => listener.skipped(problem.line),
    })) {
      if (signal.aborted) return;
      await listener.event(followed);
    }
  } catch (error) {
    if (signal.aborted) return;
    listener.failed(error instanceof Error ? error : new Error(String(error)));
  }
}
