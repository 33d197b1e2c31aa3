import type { DatasetItem, DebateInput } from '../contracts/index.js';

/** A debate's input from an item: its tests (`meta.tests`, `meta.entry_point`, as `--format humaneval` sets them) ride along. */
export function debateInputOf(item: Pick<DatasetItem, 'id' | 'prompt' | 'candidates' | 'meta'>): DebateInput {
  const input: DebateInput = { id: item.id, prompt: item.prompt, candidates: item.candidates };
  const tests = item.meta?.tests;
  const entryPoint = item.meta?.entry_point;
  // Wrong types are left for the debate's input check to refuse, naming the field (the item is then rejected).
  if (tests !== undefined) {
    input.execution = { tests, ...(entryPoint === undefined ? {} : { entryPoint }) } as DebateInput['execution'] & object;
  }
  return input;
}
