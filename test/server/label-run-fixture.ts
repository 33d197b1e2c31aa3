import { loadPanel } from '../../src/config/index.js';
import type { DebateEvent } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { labelRowFromEvents } from '../../src/export/index.js';
import { createModelRegistry } from '../../src/models/index.js';
import { EventWriter, openStore, type RunConfig, type Store } from '../../src/store/index.js';
import { CANDIDATES, PROMPT } from './ws-harness.js';

const CONFIG: RunConfig = {
  input: { file: 'items.jsonl', sha256: 'abc123', format: 'native' },
  panel: { id: 'default', hash: 'panel-hash' },
  personas: {},
  constitution: null,
  models: {},
  options: {},
};

/**
 * Labels items the way `tribunal label` does (claim, debate with events through an EventWriter, markDone), on its
 * own store connection, as another process would.
 */
export async function labelItems(options: { store: Store; runId: string; count: number; model?: string }): Promise<string[]> {
  const { store, runId } = options;
  const panel = await loadPanel();
  const models = createModelRegistry({ settings: {} });
  const writer = new EventWriter({ store, flushMs: 10, flushEvents: 8 });
  const debateIds: string[] = [];
  try {
    for (const claimed of await store.claimPending({ runId, limit: options.count })) {
      const events: DebateEvent[] = [];
      const debateId = `${runId}:${claimed.itemId}`;
      debateIds.push(debateId);
      await runDebate({
        panel,
        input: claimed.item,
        models,
        defaultModel: options.model ?? 'fake:judge?latencyMs=20',
        runId,
        debateId,
        itemId: claimed.itemId,
        onEvent: (event) => {
          events.push(event);
          writer.append(event);
        },
      });
      const label = labelRowFromEvents({ events });
      if (!label.success) throw label.error;
      await writer.markDone({ runId, itemId: claimed.itemId, result: label.value, attempt: claimed.attempt });
    }
  } finally {
    await writer.close();
    await models.close();
  }
  return debateIds;
}

/** A labeling run's store in `dir` with `items` pending items, as `tribunal label` leaves it before it starts debating. */
export async function openLabelRun(options: { dir: string; items: number }): Promise<{ store: Store; runId: string }> {
  const store = openStore({ dir: options.dir });
  const { run } = await store.createOrResumeRun({ config: CONFIG });
  await store.upsertItems({
    runId: run.id,
    items: Array.from({ length: options.items }, (_, index) => ({
      line: index + 1,
      item: {
        id: `item-${index + 1}`,
        prompt: PROMPT,
        candidates: CANDIDATES.map((text, candidate) => ({ id: `c${candidate + 1}`, text })),
        meta: {},
      },
    })),
  });
  return { store, runId: run.id };
}
