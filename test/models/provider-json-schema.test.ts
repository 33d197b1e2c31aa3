import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { assessmentSchema } from '../../src/contracts/assessment.js';
import { toProviderJsonSchema } from '../../src/models/provider-json-schema.js';

const jsonSchemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-7' }) as Record<string, unknown>;

describe('toProviderJsonSchema', () => {
  const assessment = jsonSchemaOf(assessmentSchema({ min: 1, max: 10 } as never));

  it('makes the assessment schema strict for OpenAI, keeping numeric bounds and folding minLength', () => {
    const { schema, strict } = toProviderJsonSchema(assessment, 'openai');
    expect(strict).toBe(true);
    expect(schema).not.toHaveProperty('$schema');
    expect(schema.additionalProperties).toBe(false);
    const properties = schema.properties as Record<string, Record<string, unknown>>;
    expect(properties.score).toMatchObject({ type: 'number', minimum: 1, maximum: 10 });
    expect(properties.rationale).not.toHaveProperty('minLength');
    expect(properties.rationale?.description).toMatch(/\{minLength: 1, maxLength: 2000\}$/);
  });

  it('folds numeric bounds into descriptions for Anthropic', () => {
    const { schema, strict } = toProviderJsonSchema(assessment, 'anthropic');
    expect(strict).toBe(true);
    const properties = schema.properties as Record<string, Record<string, unknown>>;
    expect(properties.score).not.toHaveProperty('minimum');
    expect(properties.score?.description).toContain('{minimum: 1, maximum: 10}');
    expect(properties.confidence?.description).toContain('How sure');
  });

  it('needs every property required for OpenAI strict mode, but not for Anthropic', () => {
    const optional = jsonSchemaOf(z.object({ a: z.string(), b: z.string().optional() }));
    expect(toProviderJsonSchema(optional, 'openai').strict).toBe(false);
    expect(toProviderJsonSchema(optional, 'anthropic').strict).toBe(true);
  });

  it('cannot be strict for records or open objects', () => {
    const record = jsonSchemaOf(z.object({ scores: z.record(z.string(), z.number()) }));
    expect(toProviderJsonSchema(record, 'openai')).toMatchObject({ strict: false });
    expect(toProviderJsonSchema(record, 'anthropic')).toMatchObject({ strict: false });
    expect(toProviderJsonSchema(record, 'openai').schema).not.toHaveProperty('$schema');
  });

  it('recurses into arrays and unions, drops safe-integer bounds and turns oneOf into anyOf', () => {
    const nested = {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          minItems: 3,
          items: {
            type: 'object',
            properties: { n: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 } },
            required: ['n'],
          },
        },
        choice: { oneOf: [{ type: 'string' }, { type: 'null' }] },
      },
      required: ['items', 'choice'],
    };
    const { schema, strict } = toProviderJsonSchema(nested, 'anthropic');
    expect(strict).toBe(true);
    const properties = schema.properties as Record<string, Record<string, unknown>>;
    expect(properties.items).toMatchObject({ description: '{minItems: 3}' });
    expect(properties.items?.items).toMatchObject({ additionalProperties: false });
    expect(JSON.stringify(schema)).not.toContain('9007199254740991');
    expect(properties.choice).toEqual({ anyOf: [{ type: 'string' }, { type: 'null' }] });
  });

  it('caches per input schema object', () => {
    expect(toProviderJsonSchema(assessment, 'openai')).toBe(toProviderJsonSchema(assessment, 'openai'));
  });
});
