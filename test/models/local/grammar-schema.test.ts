import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toGrammarSchema } from '../../../src/models/local/grammar-schema.js';

const draft7 = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-7' }) as Record<string, unknown>;

/** Every key used anywhere in a schema tree. */
function keysIn(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const item of node) keysIn(item, found);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      found.add(key);
      keysIn(value, found);
    }
  }
  return found;
}

const ANY = {
  oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'array' }, { type: 'object', additionalProperties: true }],
};

describe('toGrammarSchema', () => {
  it('turns bounded numbers into a fine grid, drops $schema, required and additionalProperties: false, keeps descriptions and string lengths', () => {
    const schema = draft7(
      z.object({
        rationale: z.string().min(1).max(400).describe('why'),
        score: z.number().min(1).max(10),
        confidence: z.number().min(0).max(1),
      }),
    );
    expect(toGrammarSchema(schema)).toEqual({
      type: 'object',
      properties: {
        rationale: { type: 'string', minLength: 1, maxLength: 400, description: 'why' },
        score: { enum: Array.from({ length: 91 }, (_, index) => Number((1 + index * 0.1).toFixed(2))) },
        confidence: { enum: Array.from({ length: 101 }, (_, index) => Number((index * 0.01).toFixed(2))) },
      },
    });
    expect(toGrammarSchema({ type: 'number', minimum: 0 })).toEqual({ type: 'number' });
    expect(toGrammarSchema({ type: 'number', minimum: 0, maximum: 1000 })).toEqual({ type: 'number' });
  });

  it('turns anyOf into oneOf, nullable into a type list, and small integer ranges into enums', () => {
    const schema = draft7(
      z.object({
        choice: z.union([z.string().min(3), z.number().max(4)]),
        maybe: z.string().nullable(),
        stars: z.number().int().min(1).max(5),
        count: z.number().int().min(0),
        verdict: z.enum(['A', 'B', 'tie']),
        fixed: z.literal('x'),
      }),
    );
    expect(toGrammarSchema(schema)).toEqual({
      type: 'object',
      properties: {
        choice: { oneOf: [{ type: 'string', minLength: 3 }, { type: 'number' }] },
        maybe: { type: ['string', 'null'] },
        stars: { enum: [1, 2, 3, 4, 5] },
        count: { type: 'integer' },
        verdict: { enum: ['A', 'B', 'tie'] },
        fixed: { const: 'x' },
      },
    });
  });

  it('leaves no keyword the grammar cannot express', () => {
    const schema = draft7(
      z.object({
        a: z.union([z.number().gt(0).lt(1), z.null()]),
        email: z.email(),
        when: z.iso.datetime(),
        pattern: z.string().regex(/ab+/),
        withDefault: z.string().default('x'),
        tags: z.array(z.string().max(20)).min(1).max(3),
        pair: z.tuple([z.string(), z.number().multipleOf(2)]),
        scores: z.record(z.string(), z.number().nonnegative()),
        both: z.intersection(z.object({ a: z.string() }), z.object({ b: z.number() })),
      }),
    );
    const allowed = new Set([
      'type',
      'properties',
      'additionalProperties',
      'oneOf',
      'enum',
      'const',
      'items',
      'prefixItems',
      'minItems',
      'maxItems',
      'minLength',
      'maxLength',
      'format',
      'description',
      '$ref',
      '$defs',
    ]);
    const result = toGrammarSchema(schema);
    const unexpected = [...keysIn(result)].filter(
      (key) =>
        !allowed.has(key) &&
        !['a', 'b', 'email', 'when', 'pattern', 'withDefault', 'tags', 'pair', 'scores', 'both'].includes(key),
    );
    expect(unexpected).toEqual([]);
    const properties = result.properties as Record<string, unknown>;
    expect(properties.email).toEqual({ type: 'string' });
    expect(properties.when).toEqual({ type: 'string', format: 'date-time' });
    expect(properties.pair).toEqual({
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'number' }],
      maxItems: 2,
      minItems: 2,
    });
    expect(properties.scores).toEqual({ type: 'object', additionalProperties: { type: 'number' } });
    expect(properties.both).toEqual({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } });
  });

  it('moves definitions to $defs and makes recursion to the root a reference', () => {
    interface Tree {
      name: string;
      children: Tree[];
    }
    const Tree: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string().max(8), children: z.array(Tree).max(2) }));
    expect(toGrammarSchema(draft7(z.object({ tree: Tree })))).toEqual({
      type: 'object',
      properties: { tree: { $ref: '#/$defs/__schema0' } },
      $defs: {
        __schema0: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 8 },
            children: { type: 'array', items: { $ref: '#/$defs/__schema0' }, maxItems: 2 },
          },
        },
      },
    });
    expect(toGrammarSchema(draft7(Tree))).toEqual({
      $ref: '#/$defs/__root',
      $defs: {
        __root: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 8 },
            children: { type: 'array', items: { $ref: '#/$defs/__root' }, maxItems: 2 },
          },
        },
      },
    });
  });

  it('maps unconstrained values to any JSON and tightens repetition bounds llama.cpp would refuse', () => {
    expect(toGrammarSchema(draft7(z.object({ anything: z.unknown(), free: z.object({}).loose() })))).toEqual({
      type: 'object',
      properties: { anything: ANY, free: { type: 'object', additionalProperties: true } },
    });
    expect(toGrammarSchema({ type: 'string', minLength: 5, maxLength: 5000 })).toEqual({
      type: 'string',
      minLength: 5,
      maxLength: 1000,
    });
    expect(toGrammarSchema({ type: 'string', minLength: 5000 })).toEqual({ type: 'string' });
    expect(toGrammarSchema({ $ref: '#/definitions/missing' })).toEqual(ANY);
    expect(toGrammarSchema(true)).toEqual(ANY);
  });
});
