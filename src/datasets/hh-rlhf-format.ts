import { type ChatMessage, type DatasetItem, HhRlhfRowSchema } from '../contracts/index.js';
import { fieldFailure, isPlainObject, type RowParseResult, type RowParser, zodFailure } from './row-parser.js';
import { stableItemId } from './stable-id.js';

const HUMAN = '\n\nHuman:';
const ASSISTANT = '\n\nAssistant:';
const TURN = /\n\n(Human|Assistant):/;

/**
 * Anthropic HH-RLHF rows `{"chosen", "rejected"}`: two dialogues split at their LAST `\n\nAssistant:` into the
 * shared prompt (parsed into user/assistant messages) and two candidates with ids `chosen` and `rejected`.
 * The human label is kept as `meta.humanPreferred = 'chosen'`. Rows whose dialogues differ before the final
 * answer are rejected (`prefix-mismatch`). Message and answer texts are trimmed; an empty answer is kept (HH-RLHF
 * has a few where the human preferred saying nothing).
 */
export const hhRlhfFormat: RowParser = {
  format: 'hh-rlhf',
  parse(value: unknown): RowParseResult {
    if (!isPlainObject(value)) return { success: false, code: 'not-an-object', reason: 'expected a JSON object per line' };
    const parsed = HhRlhfRowSchema.safeParse(value);
    if (!parsed.success) return zodFailure('hh-rlhf', parsed.error, value);
    const { chosen, rejected } = parsed.data;

    const chosenAt = chosen.lastIndexOf(ASSISTANT);
    if (chosenAt < 0) return fieldFailure('invalid-field', 'chosen', 'has no "\\n\\nAssistant:" turn to split the answer at');
    const rejectedAt = rejected.lastIndexOf(ASSISTANT);
    if (rejectedAt < 0) return fieldFailure('invalid-field', 'rejected', 'has no "\\n\\nAssistant:" turn to split the answer at');

    const prefix = chosen.slice(0, chosenAt);
    const rejectedPrefix = rejected.slice(0, rejectedAt);
    if (prefix !== rejectedPrefix) {
      return fieldFailure(
        'prefix-mismatch',
        'rejected',
        `the dialogue before the last "Assistant:" turn differs from chosen's (first difference at character ${firstDifference(prefix, rejectedPrefix)}); ` +
          'both must share the conversation up to the final answer: fix or drop the row',
      );
    }

    const messages = parseDialogue(prefix);
    if (typeof messages === 'string') return fieldFailure('invalid-field', 'chosen', messages);

    const candidates = [
      { id: 'chosen', text: chosen.slice(chosenAt + ASSISTANT.length).trim() },
      { id: 'rejected', text: rejected.slice(rejectedAt + ASSISTANT.length).trim() },
    ];
    const item: DatasetItem = {
      id: stableItemId({ prompt: messages, candidates }),
      prompt: messages,
      candidates,
      meta: { source: 'hh-rlhf', humanPreferred: 'chosen', conversational: true },
    };
    return { success: true, item };
  },
};

/** Parses `\n\nHuman: ...\n\nAssistant: ...` into chat messages, or returns what is wrong. */
export function parseDialogue(dialogue: string): ChatMessage[] | string {
  const parts = dialogue.split(TURN);
  const lead = parts[0] ?? '';
  if (lead.trim() !== '') return `text before the first "${HUMAN.trim()}" turn: start the dialogue with "\\n\\nHuman:"`;
  const messages: ChatMessage[] = [];
  for (let index = 1; index + 1 < parts.length; index += 2) {
    messages.push({ role: parts[index] === 'Human' ? 'user' : 'assistant', content: (parts[index + 1] ?? '').trim() });
  }
  if (messages.length === 0) return 'no "\\n\\nHuman:" turn before the final answer: the prompt is empty';
  return messages;
}

function firstDifference(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) if (a[index] !== b[index]) return index;
  return length;
}
