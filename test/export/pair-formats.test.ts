import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OpenAiPreferenceRowSchema, PreferencePairSchema, TribunalError } from '../../src/contracts/index.js';
import { binarize, toOpenAiPair, toTrlPair } from '../../src/export/index.js';
import { labelRow } from './label-fixtures.js';

/*
 * Mirrors of TRL's preference type as its docs show it (https://huggingface.co/docs/trl/dataset_formats):
 * standard `{"prompt": str, "chosen": str, "rejected": str}`, conversational with message lists. Written here
 * independently of src/contracts so a drift in our schema cannot hide a drift from TRL.
 */
const message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });
const TrlStandard = z.object({ prompt: z.string(), chosen: z.string(), rejected: z.string() });
const TrlConversational = z.object({
  prompt: z.array(message).min(1),
  chosen: z.array(message.extend({ role: z.literal('assistant') })).length(1),
  rejected: z.array(message.extend({ role: z.literal('assistant') })).length(1),
});

const chat = [
  { role: 'system' as const, content: 'Be brief.' },
  { role: 'user' as const, content: 'Capital of France?' },
];

describe('TRL pairs', () => {
  it('a text prompt gives a standard row with provenance columns', () => {
    const row = labelRow({
      candidates: [
        { score: 9, agreement: 0.9 },
        { score: 4, agreement: 0.7 },
      ],
    });
    const [pair] = binarize({ row, strategy: 'best-vs-worst' }).pairs;
    if (pair === undefined) throw new Error('expected a pair');
    const trl = toTrlPair({ row, pair });
    expect(trl).toEqual({
      prompt: 'What is the capital of France?',
      chosen: 'answer c1',
      rejected: 'answer c2',
      id: 'item-1',
      chosen_id: 'c1',
      rejected_id: 'c2',
      score_chosen: 9,
      score_rejected: 4,
      margin: 5,
      confidence: 0.7,
      panel_hash: 'panelhash123',
    });
    expect(TrlStandard.safeParse(trl).success).toBe(true);
    expect(TrlConversational.safeParse(trl).success).toBe(false);
    expect(PreferencePairSchema.safeParse(trl).success).toBe(true);
  });

  it('a chat prompt gives a conversational row; conversational: true converts a text prompt', () => {
    const row = labelRow({ prompt: chat, candidates: [3, 8, 5] });
    for (const pair of binarize({ row, strategy: 'all-pairs' }).pairs) {
      const trl = toTrlPair({ row, pair });
      expect(TrlConversational.safeParse(trl).success).toBe(true);
      expect(PreferencePairSchema.safeParse(trl).success).toBe(true);
      expect(trl.prompt).toEqual(chat);
      expect(trl.chosen).toEqual([{ role: 'assistant', content: `answer ${pair.chosen.id}` }]);
    }
    const textRow = labelRow({ candidates: [9, 1] });
    const [pair] = binarize({ row: textRow, strategy: 'best-vs-worst' }).pairs;
    if (pair === undefined) throw new Error('expected a pair');
    const forced = toTrlPair({ row: textRow, pair, conversational: true });
    expect(forced.prompt).toEqual([{ role: 'user', content: 'What is the capital of France?' }]);
    expect(TrlConversational.safeParse(forced).success).toBe(true);
  });

  it('refuses a candidate without text, saying how to fix the export', () => {
    const row = labelRow({ candidates: [9, 1] });
    const [pair] = binarize({ row, strategy: 'best-vs-worst' }).pairs;
    if (pair === undefined) throw new Error('expected a pair');
    delete pair.rejected.text;
    expect(() => toTrlPair({ row, pair })).toThrow(TribunalError);
    expect(() => toOpenAiPair({ row, pair })).toThrow(/candidate "c2" has no text.*omitText: false/);
  });
});

describe('OpenAI preference fine-tuning rows', () => {
  it('match the documented shape exactly: input.messages, one preferred and one non-preferred assistant message', () => {
    const row = labelRow({ prompt: chat, candidates: [2, 7] });
    const [pair] = binarize({ row, strategy: 'best-vs-worst' }).pairs;
    if (pair === undefined) throw new Error('expected a pair');
    const openai = toOpenAiPair({ row, pair });
    expect(JSON.parse(JSON.stringify(openai))).toEqual({
      input: { messages: chat },
      preferred_output: [{ role: 'assistant', content: 'answer c2' }],
      non_preferred_output: [{ role: 'assistant', content: 'answer c1' }],
    });
    expect(OpenAiPreferenceRowSchema.safeParse(openai).success).toBe(true);
    expect(OpenAiPreferenceRowSchema.safeParse({ ...openai, margin: 1 }).success).toBe(false);
  });

  it('turns a text prompt into one user message', () => {
    const row = labelRow({ candidates: [2, 7] });
    const [pair] = binarize({ row, strategy: 'best-vs-worst' }).pairs;
    if (pair === undefined) throw new Error('expected a pair');
    expect(toOpenAiPair({ row, pair }).input.messages).toEqual([{ role: 'user', content: 'What is the capital of France?' }]);
  });
});
