import { describe, expect, it } from 'vitest';
import { assessmentSchema, pairwiseJudgmentSchema, RATIONALE_MAX_CHARS } from '../../src/contracts/index.js';

const scale = { min: 1, max: 10 };

describe('assessment schemas', () => {
  it('bounds the score by the scale and the rationale by RATIONALE_MAX_CHARS', () => {
    const schema = assessmentSchema(scale);
    const ok = { rationale: 'fine', principles: [], score: 7.5, confidence: 0.5 };
    expect(schema.safeParse(ok).success).toBe(true);
    expect(schema.safeParse({ ...ok, score: 11 }).success).toBe(false);
    expect(schema.safeParse({ ...ok, rationale: 'x'.repeat(RATIONALE_MAX_CHARS + 1) }).success).toBe(false);
  });

  it('accepts only the constitution principle ids when they are given', () => {
    const schema = assessmentSchema(scale, ['honest', 'concise']);
    const base = { rationale: 'r', score: 5, confidence: 0.5 };
    expect(schema.safeParse({ ...base, principles: ['honest'] }).success).toBe(true);
    expect(schema.safeParse({ ...base, principles: ['telepathy'] }).success).toBe(false);
    expect(assessmentSchema(scale).safeParse({ ...base, principles: ['telepathy'] }).success).toBe(true);
    const pairwise = pairwiseJudgmentSchema(['honest']);
    expect(pairwise.safeParse({ rationale: 'r', principles: ['honest'], preferred: 'A', confidence: 1 }).success).toBe(true);
    expect(pairwise.safeParse({ rationale: 'r', principles: ['other'], preferred: 'A', confidence: 1 }).success).toBe(false);
  });
});
