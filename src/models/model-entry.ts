import type { ModelEntries, ModelEntry } from '../contracts/index.js';

/**
 * The models file entry for a model id: the entry named by the id itself, else the longest `prefix*` key it starts
 * with; undefined when none matches.
 * @example modelEntryFor('openai:qwen', { 'openai:*': entry }); // { key: 'openai:*', entry }
 */
export function modelEntryFor(id: string, entries: ModelEntries | undefined): { key: string; entry: ModelEntry } | undefined {
  if (entries === undefined) return undefined;
  const exact = Object.hasOwn(entries, id) ? entries[id] : undefined;
  if (exact) return { key: id, entry: exact };
  let best: { key: string; entry: ModelEntry } | undefined;
  for (const [key, entry] of Object.entries(entries)) {
    if (!key.endsWith('*') || !id.startsWith(key.slice(0, -1))) continue;
    if (best === undefined || key.length > best.key.length) best = { key, entry };
  }
  return best;
}
