import { redactText } from '../models/index.js';
import type { ItemErrorCount, Store } from '../store/index.js';
import { isModelFailure } from './model-failures.js';

/** Example messages are cut to this many characters. */
const EXAMPLE_CHARS = 300;

/** Why a run's items failed: counts per error code with one example each, and the share of items labeled. */
export interface FailureSummary {
  /** Items of the run that failed, whatever the cause. */
  failed: number;
  /** Of those, items that failed because of the model (see `isModelFailure`). */
  modelFailed: number;
  /** `done / (done + modelFailed)`: the share of items the model was asked about that got a label; null before any. */
  successRate: number | null;
  /** Per error code, most frequent first; `example` is the first such item, its message with keys redacted. */
  byCode: Array<ItemErrorCount & { model: boolean }>;
}

/**
 * Counts a run's failed items per error code from the store (earlier sessions included), with one example message
 * each (API keys redacted, cut to a few hundred characters), and the share of items labeled.
 * @example const failures = await summarizeFailures({ store, runId, done: totals.done });
 */
export async function summarizeFailures(options: { store: Store; runId: string; done: number }): Promise<FailureSummary> {
  const counts = await options.store.itemErrors({ runId: options.runId, state: 'failed' });
  const byCode = counts.map((entry) => ({
    ...entry,
    model: isModelFailure(entry.code),
    example: { ...entry.example, message: exampleText(entry.example.message) },
  }));
  const failed = byCode.reduce((sum, entry) => sum + entry.items, 0);
  const modelFailed = byCode.reduce((sum, entry) => sum + (entry.model ? entry.items : 0), 0);
  const attempted = options.done + modelFailed;
  return { failed, modelFailed, successRate: attempted === 0 ? null : options.done / attempted, byCode };
}

function exampleText(message: string): string {
  const clean = redactText(message);
  return clean.length <= EXAMPLE_CHARS ? clean : `${clean.slice(0, EXAMPLE_CHARS - 1)}…`;
}
