import { describe, expect, it } from 'vitest';
import { stableJson, type TurnCacheKeyParts, turnCacheKey } from '../../src/store/index.js';

const parts: TurnCacheKeyParts = {
  prompt: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'How do I bake bread?' },
  ],
  candidateText: 'Knead, rise, bake.',
  personaHash: 'persona-1',
  constitutionHash: 'constitution-1',
  modelId: 'openai:gpt-4.1-mini',
  round: 1,
  context: { others: [{ criticId: 'efficiency', score: 6, rationale: 'short' }], scale: { min: 1, max: 10 } },
};

describe('stableJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(stableJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(stableJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(stableJson(undefined)).toBe('null');
    expect(() => stableJson({ score: Number.NaN })).toThrow(/NaN/);
  });
});

describe('turnCacheKey', () => {
  it('is a sha256 hex digest that does not depend on key order', () => {
    const key = turnCacheKey(parts);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const reordered: TurnCacheKeyParts = {
      context: { scale: { max: 10, min: 1 }, others: [{ rationale: 'short', score: 6, criticId: 'efficiency' }] },
      round: 1,
      modelId: 'openai:gpt-4.1-mini',
      constitutionHash: 'constitution-1',
      personaHash: 'persona-1',
      candidateText: 'Knead, rise, bake.',
      prompt: parts.prompt,
    };
    expect(turnCacheKey(reordered)).toBe(key);
    expect(turnCacheKey({ ...parts })).toBe(key);
  });

  it('is pinned, so the recipe cannot change without bumping its version', () => {
    expect(turnCacheKey({ ...parts, context: undefined })).toBe(turnCacheKey({ ...parts, context: null }));
    expect(turnCacheKey(parts)).toMatchInlineSnapshot(`"57731949c6bfa9e642e4f9cc2fb8c3aa4afb80398157111d968642de78f40604"`);
  });

  it.each<[string, Partial<TurnCacheKeyParts>]>([
    ['prompt', { prompt: 'How do I bake bread?' }],
    ['prompt message', { prompt: [{ role: 'user', content: 'How do I bake a cake?' }] }],
    ['candidate text', { candidateText: 'Knead, rise, bake!' }],
    ['pairwise order', { candidateText: ['Knead, rise, bake.', 'Buy bread.'] }],
    ['persona hash', { personaHash: 'persona-2' }],
    ['constitution hash', { constitutionHash: 'constitution-2' }],
    ['no constitution', { constitutionHash: null }],
    ['model id', { modelId: 'anthropic:claude-sonnet-4-5' }],
    ['round', { round: 2 }],
    [
      'other critics',
      { context: { others: [{ criticId: 'efficiency', score: 7, rationale: 'short' }], scale: { min: 1, max: 10 } } },
    ],
    ['scale', { context: { others: [{ criticId: 'efficiency', score: 6, rationale: 'short' }], scale: { min: 0, max: 10 } } }],
    ['no context', { context: undefined }],
  ])('changes with the %s', (_name, change) => {
    expect(turnCacheKey({ ...parts, ...change } as TurnCacheKeyParts)).not.toBe(turnCacheKey(parts));
  });

  it('tells the pairwise order apart', () => {
    const ab = turnCacheKey({ ...parts, candidateText: ['A text', 'B text'] });
    const ba = turnCacheKey({ ...parts, candidateText: ['B text', 'A text'] });
    expect(ab).not.toBe(ba);
  });
});
