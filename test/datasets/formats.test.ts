import { describe, expect, it } from 'vitest';
import { DatasetItemSchema } from '../../src/contracts/index.js';
import { detectRowFormat, hhRlhfFormat, parseDialogue, type RowParseResult, trlFormat } from '../../src/datasets/index.js';

function item(result: RowParseResult) {
  if (!result.success) throw new Error(`expected an item, got: ${result.reason}`);
  expect(DatasetItemSchema.safeParse(result.item).success).toBe(true);
  return result.item;
}

function failure(result: RowParseResult) {
  if (result.success) throw new Error('expected a failure');
  return result;
}

const user = (content: string) => ({ role: 'user' as const, content });
const assistant = (content: string) => ({ role: 'assistant' as const, content });

describe('detectRowFormat', () => {
  it.each([
    [{ prompt: 'p', candidates: [] }, 'native'],
    [{ messages: [] }, 'native'],
    [{ chosen: '\n\nHuman: hi\n\nAssistant: a', rejected: '\n\nHuman: hi\n\nAssistant: b' }, 'hh-rlhf'],
    [{ prompt: 'p', chosen: '\n\nHuman: hi\n\nAssistant: a', rejected: 'b' }, 'trl'],
    [{ chosen: 'The sky is blue.', rejected: 'The sky is green.' }, 'trl'],
    [{ prompt: [user('q')], chosen: [assistant('a')], rejected: [assistant('b')] }, 'trl'],
    [{ text: 'language modeling' }, undefined],
    [[1, 2], undefined],
    ['string', undefined],
  ])('%j -> %s', (row, format) => {
    expect(detectRowFormat(row)).toBe(format);
  });
});

describe('HH-RLHF rows', () => {
  const prefix = '\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I bake bread?';

  it('splits at the LAST Assistant turn, parsing the shared dialogue into messages', () => {
    const result = item(
      hhRlhfFormat.parse({ chosen: `${prefix}\n\nAssistant: Knead, rise, bake.`, rejected: `${prefix}\n\nAssistant: No.` }),
    );
    expect(result.prompt).toEqual([user('Hi there'), assistant('Hello!'), user('How do I bake bread?')]);
    expect(result.candidates).toEqual([
      { id: 'chosen', text: 'Knead, rise, bake.' },
      { id: 'rejected', text: 'No.' },
    ]);
    expect(result.meta).toEqual({ source: 'hh-rlhf', humanPreferred: 'chosen', conversational: true });
  });

  it('rejects rows whose dialogues differ before the final answer, saying where', () => {
    const result = failure(
      hhRlhfFormat.parse({
        chosen: `${prefix}\n\nAssistant: a`,
        rejected: '\n\nHuman: Hi there\n\nAssistant: Hey!\n\nHuman: How do I bake bread?\n\nAssistant: b',
      }),
    );
    expect(result).toMatchObject({ code: 'prefix-mismatch', field: 'rejected' });
    expect(result.reason).toMatch(/first difference at character 32\).*fix or drop the row/);
  });

  it('rejects dialogues without an Assistant turn, with text before the first Human turn, or with no prompt', () => {
    expect(failure(hhRlhfFormat.parse({ chosen: '\n\nHuman: hi', rejected: '\n\nHuman: hi\n\nAssistant: b' })).field).toBe(
      'chosen',
    );
    expect(failure(hhRlhfFormat.parse({ chosen: '\n\nHuman: hi\n\nAssistant: a', rejected: 'nope' })).field).toBe('rejected');
    expect(
      failure(
        hhRlhfFormat.parse({
          chosen: 'System: x\n\nHuman: hi\n\nAssistant: a',
          rejected: 'System: x\n\nHuman: hi\n\nAssistant: b',
        }),
      ).reason,
    ).toMatch(/text before the first "Human:" turn/);
    expect(failure(hhRlhfFormat.parse({ chosen: '\n\nAssistant: a', rejected: '\n\nAssistant: b' })).reason).toMatch(
      /prompt is empty/,
    );
    expect(failure(hhRlhfFormat.parse({ chosen: 1, rejected: 'x' })).field).toBe('chosen');
  });

  it('parseDialogue keeps inline "Human:" text that is not a turn marker', () => {
    expect(parseDialogue('\n\nHuman: a  Human: b\n\nAssistant: c')).toEqual([user('a  Human: b'), assistant('c')]);
  });
});

describe('TRL preference rows', () => {
  it('standard, explicit prompt: keeps the texts as they are', () => {
    const result = item(trlFormat.parse({ prompt: 'The sky is', chosen: ' blue.', rejected: ' green.' }));
    expect(result.prompt).toBe('The sky is');
    expect(result.candidates).toEqual([
      { id: 'chosen', text: ' blue.' },
      { id: 'rejected', text: ' green.' },
    ]);
    expect(result.meta).toEqual({ source: 'trl', humanPreferred: 'chosen', conversational: false });
  });

  it('standard, implicit prompt: takes the common prefix less its trailing space, as TRL does', () => {
    const result = item(trlFormat.parse({ chosen: 'The sky is blue.', rejected: 'The sky is green.' }));
    expect(result.prompt).toBe('The sky is');
    expect(result.candidates.map((candidate) => candidate.text)).toEqual([' blue.', ' green.']);
  });

  it('conversational, explicit prompt', () => {
    const result = item(
      trlFormat.parse({
        id: 5,
        prompt: [user('What color is the sky?')],
        chosen: [assistant('It is blue.')],
        rejected: [assistant('It is green.')],
      }),
    );
    expect(result).toEqual({
      id: '5',
      prompt: [user('What color is the sky?')],
      candidates: [
        { id: 'chosen', text: 'It is blue.' },
        { id: 'rejected', text: 'It is green.' },
      ],
      meta: { source: 'trl', humanPreferred: 'chosen', conversational: true },
    });
  });

  it('conversational, implicit prompt: the shared leading messages become the prompt', () => {
    const result = item(
      trlFormat.parse({
        chosen: [user('What color is the sky?'), assistant('It is blue.')],
        rejected: [user('What color is the sky?'), assistant('It is green.')],
      }),
    );
    expect(result.prompt).toEqual([user('What color is the sky?')]);
    expect(result.candidates.map((candidate) => candidate.text)).toEqual(['It is blue.', 'It is green.']);
    expect(result.meta.conversational).toBe(true);
  });

  it('a text prompt with chat completions (that may repeat it) becomes a one-message chat', () => {
    const result = item(
      trlFormat.parse({ prompt: 'Hi', chosen: [user('Hi'), assistant('Hello')], rejected: [user('Hi'), assistant('Go away')] }),
    );
    expect(result.prompt).toEqual([user('Hi')]);
    expect(result.candidates.map((candidate) => candidate.text)).toEqual(['Hello', 'Go away']);
  });

  it('rejects mixed shapes, multi-message completions, identical answers and prompts it cannot find', () => {
    expect(failure(trlFormat.parse({ prompt: 'p', chosen: 'a', rejected: [assistant('b')] })).reason).toMatch(
      /both be strings or both be message lists/,
    );
    expect(
      failure(trlFormat.parse({ prompt: [user('q')], chosen: [assistant('a'), user('more')], rejected: [assistant('b')] }))
        .reason,
    ).toMatch(/^chosen: expected exactly one assistant message after the prompt, found assistant, user/);
    expect(failure(trlFormat.parse({ chosen: [assistant('a')], rejected: [assistant('b')] })).field).toBe('prompt');
    expect(failure(trlFormat.parse({ chosen: 'same', rejected: 'same' })).reason).toMatch(/identical/);
    expect(failure(trlFormat.parse({ chosen: 'abc', rejected: 'xyz' })).reason).toMatch(/add a "prompt" column/);
    expect(failure(trlFormat.parse({ prompt: '', chosen: 'a', rejected: 'b' })).field).toBe('prompt');
    expect(failure(trlFormat.parse({ prompt: 'p', chosen: 'a' })).field).toBe('rejected');
  });
});
