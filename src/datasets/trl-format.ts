import { type ChatMessage, type DatasetItem, type Prompt, TrlPreferenceInputRowSchema } from '../contracts/index.js';
import { fieldFailure, isPlainObject, type RowParseResult, type RowParser, zodFailure } from './row-parser.js';
import { stableItemId } from './stable-id.js';

/*
 * TRL preference rows (https://huggingface.co/docs/trl/dataset_formats, "Preference"):
 *   standard, explicit prompt:        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
 *   standard, implicit prompt:        {"chosen": "The sky is blue.", "rejected": "The sky is green."}
 *   conversational, explicit prompt:  {"prompt": [{user}], "chosen": [{assistant}], "rejected": [{assistant}]}
 *   conversational, implicit prompt:  {"chosen": [{user}, {assistant}], "rejected": [{user}, {assistant}]}
 * An implicit prompt is the shared start, as TRL's `extract_prompt` finds it: the common message prefix for chats,
 * the common character prefix (less a trailing space) for text.
 */

/**
 * TRL preference rows, standard or conversational, explicit or implicit prompt, relabeled as two candidates with
 * ids `chosen` and `rejected`; `meta.humanPreferred = 'chosen'` keeps the original label and `meta.conversational`
 * the shape. A text prompt with chat completions becomes a one-message chat.
 */
export const trlFormat: RowParser = {
  format: 'trl',
  parse(value: unknown): RowParseResult {
    if (!isPlainObject(value)) return { success: false, code: 'not-an-object', reason: 'expected a JSON object per line' };
    const parsed = TrlPreferenceInputRowSchema.safeParse(value);
    if (!parsed.success) return zodFailure('trl', parsed.error, value);
    const { prompt, chosen, rejected, id } = parsed.data;

    let split: { prompt: Prompt; chosen: string; rejected: string } | RowParseResult;
    if (typeof chosen === 'string' && typeof rejected === 'string') {
      split = prompt === undefined ? splitText(chosen, rejected) : { prompt, chosen, rejected };
    } else if (Array.isArray(chosen) && Array.isArray(rejected)) {
      split = splitChat(typeof prompt === 'string' ? [{ role: 'user', content: prompt }] : prompt, chosen, rejected);
    } else {
      return fieldFailure('invalid-field', 'rejected', 'chosen and rejected must both be strings or both be message lists');
    }
    if ('success' in split) return split;
    if (split.prompt.length === 0)
      return fieldFailure('invalid-field', 'prompt', 'is empty: give the prompt the answers reply to');

    const candidates = [
      { id: 'chosen', text: split.chosen },
      { id: 'rejected', text: split.rejected },
    ];
    const item: DatasetItem = {
      id: id === undefined ? stableItemId({ prompt: split.prompt, candidates }) : String(id),
      prompt: split.prompt,
      candidates,
      meta: { source: 'trl', humanPreferred: 'chosen', conversational: Array.isArray(split.prompt) },
    };
    return { success: true, item };
  },
};

function splitText(chosen: string, rejected: string): { prompt: string; chosen: string; rejected: string } | RowParseResult {
  const length = Math.min(chosen.length, rejected.length);
  let at = 0;
  while (at < length && chosen[at] === rejected[at]) at += 1;
  if (at === chosen.length && at === rejected.length) return fieldFailure('invalid-field', 'rejected', 'is identical to chosen');
  if (at > 0 && chosen[at - 1] === ' ') at -= 1;
  if (at === 0) {
    return fieldFailure(
      'invalid-field',
      'prompt',
      'missing, and chosen and rejected share no prefix to take it from: add a "prompt" column',
    );
  }
  return { prompt: chosen.slice(0, at), chosen: chosen.slice(at), rejected: rejected.slice(at) };
}

function splitChat(
  prompt: ChatMessage[] | undefined,
  chosen: ChatMessage[],
  rejected: ChatMessage[],
): { prompt: ChatMessage[]; chosen: string; rejected: string } | RowParseResult {
  let shared: ChatMessage[];
  let chosenRest = chosen;
  let rejectedRest = rejected;
  if (prompt === undefined) {
    let at = 0;
    while (at < chosen.length && at < rejected.length && sameMessage(chosen[at], rejected[at])) at += 1;
    shared = chosen.slice(0, at);
    if (shared.length === 0) {
      return fieldFailure(
        'invalid-field',
        'prompt',
        'missing, and chosen and rejected share no leading messages: add a "prompt" column',
      );
    }
    chosenRest = chosen.slice(at);
    rejectedRest = rejected.slice(at);
  } else {
    shared = prompt;
    // Some datasets repeat the prompt at the start of each completion; drop it there.
    if (startsWith(chosen, prompt) && startsWith(rejected, prompt)) {
      chosenRest = chosen.slice(prompt.length);
      rejectedRest = rejected.slice(prompt.length);
    }
  }
  const chosenText = singleAssistantMessage(chosenRest);
  if (chosenText === undefined) return fieldFailure('invalid-field', 'chosen', expectedOne(chosenRest));
  const rejectedText = singleAssistantMessage(rejectedRest);
  if (rejectedText === undefined) return fieldFailure('invalid-field', 'rejected', expectedOne(rejectedRest));
  return { prompt: shared, chosen: chosenText, rejected: rejectedText };
}

function sameMessage(a: ChatMessage | undefined, b: ChatMessage | undefined): boolean {
  return a !== undefined && b !== undefined && a.role === b.role && a.content === b.content;
}

function startsWith(messages: ChatMessage[], prefix: ChatMessage[]): boolean {
  return messages.length > prefix.length && prefix.every((message, index) => sameMessage(message, messages[index]));
}

function singleAssistantMessage(messages: ChatMessage[]): string | undefined {
  const [only] = messages;
  return messages.length === 1 && only?.role === 'assistant' ? only.content : undefined;
}

function expectedOne(messages: ChatMessage[]): string {
  const roles = messages.map((message) => message.role).join(', ') || 'nothing';
  return `expected exactly one assistant message after the prompt, found ${roles}`;
}
