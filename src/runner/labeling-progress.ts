import type { Usage } from '../contracts/index.js';
import type { StopReason } from './labeling-budget.js';

/** A snapshot of a labeling run for progress displays (CLI bar, server). */
export interface LabelingProgress {
  runId: string;
  /** Items in the run (from every import so far). */
  total: number;
  /** Items labeled, by this session and earlier ones. */
  done: number;
  /** Items whose debate failed (retry them with `--retry-failed`). */
  failed: number;
  /** Items the engine refused (they can never be labeled). */
  rejected: number;
  /** Input lines the importer refused. */
  rejectedLines: number;
  /** Items being debated now. */
  running: number;
  /** Items still waiting. */
  pending: number;
  /** Items this session settled (done, failed or rejected). */
  sessionSettled: number;
  elapsedMs: number;
  /** Items settled per second in this session. */
  itemsPerSecond: number;
  /** Seconds until the queue is empty at the current rate; undefined before the first item settles. */
  etaSeconds: number | undefined;
  /** What this session spent so far, in-flight turns included. */
  usage: Usage;
  /** Set once the session stops taking new items, and why. */
  stopping?: StopReason;
}

/** Items per second and the ETA from what a session settled so far. */
export function rateAndEta(options: { settled: number; elapsedMs: number; remaining: number }): {
  itemsPerSecond: number;
  etaSeconds: number | undefined;
} {
  const seconds = options.elapsedMs / 1000;
  const itemsPerSecond = seconds > 0 ? options.settled / seconds : 0;
  const etaSeconds = itemsPerSecond > 0 ? options.remaining / itemsPerSecond : undefined;
  return { itemsPerSecond, etaSeconds };
}

/** A run's item counts as the store reports them (`RunTotals`). */
export interface ProgressTotals {
  items: number;
  done: number;
  failed: number;
  rejected: number;
  rejectedLines: number;
  running: number;
  pending: number;
}

/**
 * A session's progress from the run's totals: the counts, this session's rate and ETA from the items it settled since
 * `startedAt`, what it spent, and why it is stopping. Shared by labeling and generation sessions.
 */
export function sessionProgress(options: {
  runId: string;
  totals: ProgressTotals;
  settled: number;
  startedAt: number;
  usage: Usage;
  stopping?: StopReason | undefined;
}): LabelingProgress {
  const { totals, settled } = options;
  const elapsedMs = Date.now() - options.startedAt;
  const { itemsPerSecond, etaSeconds } = rateAndEta({ settled, elapsedMs, remaining: totals.pending + totals.running });
  return {
    runId: options.runId,
    total: totals.items,
    done: totals.done,
    failed: totals.failed,
    rejected: totals.rejected,
    rejectedLines: totals.rejectedLines,
    running: totals.running,
    pending: totals.pending,
    sessionSettled: settled,
    elapsedMs,
    itemsPerSecond,
    etaSeconds,
    usage: options.usage,
    ...(options.stopping === undefined ? {} : { stopping: options.stopping }),
  };
}
