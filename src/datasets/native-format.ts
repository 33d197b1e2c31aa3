import { type Candidate, type DatasetItem, NativeInputRowSchema, type Prompt } from '../contracts/index.js';
import { fieldFailure, isPlainObject, type RowParseResult, type RowParser, zodFailure } from './row-parser.js';
import { stableItemId } from './stable-id.js';

/**
 * Our own input format: `{"id"?, "prompt" | "messages", "candidates": [text | {"id", "text", "model"?}], "meta"?}`.
 * Bare-text candidates (and objects without an id) are named `c1..cN` by position; a row without an id gets a
 * content hash (see `stableItemId`).
 */
export const nativeFormat: RowParser = {
  format: 'native',
  parse(value: unknown): RowParseResult {
    if (!isPlainObject(value)) return { success: false, code: 'not-an-object', reason: 'expected a JSON object per line' };
    if (value.candidates === undefined) {
      return fieldFailure(
        'invalid-field',
        'candidates',
        'missing: give a list of candidate answers (strings or { "id", "text" })',
      );
    }
    const parsed = NativeInputRowSchema.safeParse(value);
    if (!parsed.success) return zodFailure('native', parsed.error, value);
    const row = parsed.data;

    let prompt: Prompt;
    if (row.prompt !== undefined && row.messages !== undefined) {
      return fieldFailure('invalid-field', 'messages', 'give either "prompt" or "messages", not both');
    } else if (row.prompt !== undefined) {
      prompt = row.prompt;
    } else if (row.messages !== undefined) {
      prompt = row.messages;
    } else {
      return fieldFailure('invalid-field', 'prompt', 'missing: give "prompt" (text or a chat) or "messages" (a chat)');
    }

    const candidates: Candidate[] = row.candidates.map((candidate, index) => {
      if (typeof candidate === 'string') return { id: `c${index + 1}`, text: candidate };
      const id = candidate.id === undefined ? `c${index + 1}` : String(candidate.id);
      return candidate.model === undefined ? { id, text: candidate.text } : { id, text: candidate.text, model: candidate.model };
    });
    const seen = new Set<string>();
    for (const [index, candidate] of candidates.entries()) {
      if (seen.has(candidate.id)) {
        return fieldFailure(
          'invalid-field',
          `candidates.${index}.id`,
          `duplicate candidate id "${candidate.id}": give each candidate its own id`,
        );
      }
      seen.add(candidate.id);
    }

    const humanPreferred = row.meta?.humanPreferred;
    if (humanPreferred !== undefined && (typeof humanPreferred !== 'string' || !seen.has(humanPreferred))) {
      return fieldFailure('invalid-field', 'meta.humanPreferred', `must name one of the candidate ids (${[...seen].join(', ')})`);
    }

    const item: DatasetItem = {
      id: row.id === undefined ? stableItemId({ prompt, candidates }) : String(row.id),
      prompt,
      candidates,
      meta: { ...row.meta, source: 'native', conversational: Array.isArray(prompt) },
    };
    return { success: true, item };
  },
};

/**
 * Native rows read as prompts (`tribunal generate`): a row without `candidates` is valid and becomes an item with
 * none (its id, when not given, hashes the prompt alone); a row with candidates is checked as `nativeFormat` checks it.
 */
export const nativePromptFormat: RowParser = {
  format: 'native',
  parse(value: unknown): RowParseResult {
    if (!isPlainObject(value) || value.candidates !== undefined) return nativeFormat.parse(value);
    if (isPlainObject(value.meta) && value.meta.humanPreferred !== undefined) {
      return fieldFailure('invalid-field', 'meta.humanPreferred', 'names a candidate, but the row has no candidates: drop it');
    }
    // Checked as a row with one placeholder candidate, which is then dropped.
    const result = nativeFormat.parse({ ...value, candidates: [''] });
    if (!result.success) return result;
    const { item } = result;
    const id = value.id === undefined ? stableItemId({ prompt: item.prompt, candidates: [] }) : item.id;
    return { success: true, item: { ...item, id, candidates: [] } };
  },
};
