import { createHash } from 'node:crypto';
import type { BaseCheckpointSaver } from '@langchain/langgraph';
import type { Store } from '../store/index.js';

/** Where a claimed item's debate stands: its id (the checkpoint thread) and the seq its next event must have. */
export interface DebateSlot {
  debateId: string;
  /** Seq after the last event the store holds for this debate (0 for a new one). */
  nextSeq: number;
}

/** The debate id of an item under a run config: the same on every rerun, so a crashed debate resumes its thread. */
export function baseDebateId(options: { runId: string; itemId: string; configHash: string }): string {
  const digest = createHash('sha256')
    .update(`${options.runId}\u0000${options.itemId}\u0000${options.configHash}`)
    .digest('hex')
    .slice(0, 20);
  return `d-${digest}`;
}

/**
 * Picks the debate id for a claimed item. The deterministic `baseDebateId` is kept when it has a snapshot or a
 * LangGraph checkpoint (resume it) or when it never finished; a debate that finished and was settled (its snapshot is
 * deleted at `markDone`) but is judged again — the item was requeued by a config change and then changed back —
 * gets a suffixed id (`-2`, `-3`, ...) so that its events do not collide with the finished stream's.
 */
export async function debateSlotFor(options: {
  store: Store;
  checkpointer: BaseCheckpointSaver;
  runId: string;
  itemId: string;
  configHash: string;
}): Promise<DebateSlot> {
  const base = baseDebateId(options);
  for (let attempt = 1; ; attempt++) {
    const debateId = attempt === 1 ? base : `${base}-${attempt}`;
    const record = await options.store.getDebate({ runId: options.runId, debateId });
    const nextSeq = record === undefined ? 0 : record.lastSeq + 1;
    if (record === undefined || record.status !== 'done') return { debateId, nextSeq };
    if ((await options.store.getDebateSnapshot({ debateId })) !== undefined) return { debateId, nextSeq };
    const tuple = await options.checkpointer.getTuple({ configurable: { thread_id: debateId } });
    if (tuple !== undefined) return { debateId, nextSeq };
  }
}

/**
 * Deletes the LangGraph checkpoints of debates whose item is already done: a crash between settling an item and
 * deleting its checkpoint leaves them behind. Threads of other runs, and of items still to finish, are kept. Returns
 * the threads that keep checkpoints (debates a Tribunal before the direct driver's snapshots interrupted: they
 * resume on the LangGraph driver).
 */
export async function sweepSettledCheckpoints(options: {
  store: Store;
  checkpointer: BaseCheckpointSaver;
  runId: string;
}): Promise<Set<string>> {
  const threads = new Set<string>();
  for await (const tuple of options.checkpointer.list({})) {
    const thread = tuple.config.configurable?.thread_id;
    if (typeof thread === 'string') threads.add(thread);
  }
  const remaining = new Set<string>();
  for (const threadId of threads) {
    remaining.add(threadId);
    const debate = await options.store.getDebate({ runId: options.runId, debateId: threadId });
    if (debate?.itemId === undefined) continue;
    const item = await options.store.getItem({ runId: options.runId, itemId: debate.itemId });
    if (item?.state !== 'done') continue;
    await options.store.deleteCheckpoints({ threadId });
    remaining.delete(threadId);
  }
  return remaining;
}
