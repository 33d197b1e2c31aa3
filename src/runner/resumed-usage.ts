import { addUsage, type Usage, ZERO_USAGE } from '../contracts/index.js';
import { asDebateSnapshot } from '../engine/index.js';
import type { Store } from '../store/index.js';

/** Events read per page. */
const PAGE = 2000;

/**
 * What the interrupted attempts of a debate spent on calls that its snapshot does not carry. A resumed debate's
 * result counts the turns of its snapshot (with their usage) and the calls of this attempt, where a turn answered
 * from the turn cache costs nothing; the calls earlier attempts made after their last snapshot — turns the crash
 * interrupted, turns since answered from the cache, failed turns and repairs — live only in the stored `turn-end`
 * events before `nextSeq`. This sums those events' usage, minus one matching event (same turn, same usage) per
 * snapshot turn, so nothing is counted twice. Zero for a new debate (`nextSeq` 0).
 * @example const earlier = await usageBeforeResume({ store, runId, debateId, nextSeq });
 */
export async function usageBeforeResume(options: {
  store: Store;
  runId: string;
  debateId: string;
  nextSeq: number;
}): Promise<Usage> {
  const { store, runId, debateId, nextSeq } = options;
  if (nextSeq === 0) return ZERO_USAGE;
  const snapshot = asDebateSnapshot(await store.getDebateSnapshot({ debateId }));
  const carried = new Map<string, number>();
  for (const turn of snapshot?.turns ?? []) {
    const key = usageKey(turn.turnId, turn.usage);
    carried.set(key, (carried.get(key) ?? 0) + 1);
  }
  let total = ZERO_USAGE;
  let afterSeq = -1;
  for (;;) {
    const page = await store.eventsAfter({ runId, debateId, afterSeq, limit: PAGE });
    for (const { event } of page) {
      afterSeq = Math.max(afterSeq, event.seq);
      if (event.seq >= nextSeq || event.type !== 'turn-end' || !spent(event.usage)) continue;
      const key = usageKey(event.turnId, event.usage);
      const left = carried.get(key) ?? 0;
      if (left > 0) carried.set(key, left - 1);
      else total = addUsage(total, event.usage);
    }
    if (page.length < PAGE || afterSeq >= nextSeq - 1) break;
  }
  return total;
}

function spent(usage: Usage): boolean {
  return usage.calls > 0 || usage.inputTokens > 0 || usage.outputTokens > 0 || usage.costUsd > 0;
}

function usageKey(turnId: string, usage: Usage): string {
  return `${turnId}\u0000${usage.calls}\u0000${usage.inputTokens}\u0000${usage.outputTokens}\u0000${usage.costUsd}`;
}
