import { lstat, realpath, stat } from 'node:fs/promises';
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
