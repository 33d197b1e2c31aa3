import type { DebateResult, LabelReview, ResolvedPanel } from '../contracts/index.js';
import { consensusProbabilityOf } from '../engine/index.js';
import type { Store } from '../store/index.js';

/**
 * What a label row records about how sure the panel was: the top pair's consensus probability (the engine's
 * `consensusProbabilityOf`, the same rule as the graphs' `human-review` step) and, with the panel's `escalate` rule
 * and a probability below its threshold, the review it is queued for. A label run never waits for the human.
 * @example Object.assign(row, labelReview({ result, panel }));
 */
export function labelReview(options: { result: DebateResult; panel: ResolvedPanel }): {
  consensusProbability?: number;
  review?: LabelReview;
} {
  const probability = consensusProbabilityOf(options);
  if (probability === undefined) return {};
  const rule = options.panel.panel.escalate;
  if (rule === undefined || probability >= rule.belowConsensusProbability) return { consensusProbability: probability };
  return {
    consensusProbability: probability,
    review: { escalated: true, consensusProbability: probability, threshold: rule.belowConsensusProbability },
  };
}

/** One item of a run's review queue. */
export interface ReviewQueueItem {
  itemId: string;
  debateId: string | undefined;
  line: number;
  consensusProbability: number;
  threshold: number;
  /** The latest human verdict (viewer override) on the item or its debate, when one answered the review. */
  answer: { kind: string; candidateId?: string; overrideId: number } | undefined;
}

/**
 * A run's review queue: its labeled items the panel escalated (label rows with `review`), in input order, each with
 * the human verdict that answered it, if any (the viewer's override of the debate or the item; the latest wins).
 * @example const open = (await reviewQueue({ store, runId })).filter((item) => item.answer === undefined);
 */
export async function reviewQueue(options: { store: Store; runId: string }): Promise<ReviewQueueItem[]> {
  const { store, runId } = options;
  const overrides = await store.listOverrides({ runId });
  const queue: ReviewQueueItem[] = [];
  for await (const done of store.iterateDone({ runId })) {
    const row = done.result;
    if (row.review?.escalated !== true) continue;
    const latest = overrides
      .filter(
        (override) => (override.debateId !== undefined && override.debateId === row.debateId) || override.itemId === done.itemId,
      )
      .reduce<(typeof overrides)[number] | undefined>(
        (last, override) => (last && last.id > override.id ? last : override),
        undefined,
      );
    queue.push({
      itemId: done.itemId,
      debateId: row.debateId,
      line: done.line,
      consensusProbability: row.review.consensusProbability,
      threshold: row.review.threshold,
      answer:
        latest === undefined
          ? undefined
          : {
              kind: latest.kind,
              overrideId: latest.id,
              ...(latest.candidateId === undefined ? {} : { candidateId: latest.candidateId }),
            },
    });
  }
  return queue;
}
