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
