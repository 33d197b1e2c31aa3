/**
 * Adapts a JSON Schema generated from zod to what a provider's constrained decoding accepts.
 * Keywords a provider does not support are folded into the description (as the Anthropic SDK does), so
 * the model still reads them; the wrapper's zod validation enforces them either way.
 */

/** Which provider's structured-output rules to apply. */
export type SchemaDialect = 'openai' | 'anthropic';

/** A schema ready to send, and whether the provider can enforce it strictly. */
export interface ProviderJsonSchema {
  schema: Record<string, unknown>;
  /** False when the schema cannot be made strict (optional properties for OpenAI, open objects, records). */
  strict: boolean;
}

type Node = Record<string, unknown>;

const STRUCTURAL = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  '$ref',
  '$defs',
  'definitions',
  'description',
  'title',
]);

const DROPPED = new Set(['$schema', '$id']);

/** Keywords each dialect enforces in strict mode, beyond the structural ones. */
const SUPPORTED: Record<SchemaDialect, (key: string, value: unknown, type: unknown) => boolean> = {
  // https://platform.openai.com/docs/guides/structured-outputs#supported-properties
  openai: (key) =>
    [
      'pattern',
      'format',
      'multipleOf',
      'minimum',
      'maximum',
      'exclusiveMinimum',
      'exclusiveMaximum',
      'minItems',
      'maxItems',
    ].includes(key),
  // https://platform.claude.com/docs/en/build-with-claude/structured-outputs#json-schema-limitations
  anthropic: (key, value, type) =>
    (key === 'format' && type === 'string' && ANTHROPIC_FORMATS.has(String(value))) ||
    (key === 'minItems' && (value === 0 || value === 1)),
};

const ANTHROPIC_FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'uri', 'ipv4', 'ipv6', 'uuid']);

const cache: Record<SchemaDialect, WeakMap<object, ProviderJsonSchema>> = { openai: new WeakMap(), anthropic: new WeakMap() };

/**
 * Returns the schema in the provider's strict dialect when it can be made strict, else the schema as is
 * (without `$schema`) with `strict: false`. Results are cached per input object.
 */
export function toProviderJsonSchema(schema: Record<string, unknown>, dialect: SchemaDialect): ProviderJsonSchema {
  const cached = cache[dialect].get(schema);
  if (cached) return cached;
  const result: ProviderJsonSchema = canBeStrict(schema, dialect, true)
    ? { schema: transform(structuredClone(schema), dialect), strict: true }
    : { schema: withoutKeys(schema, DROPPED), strict: false };
  cache[dialect].set(schema, result);
  return result;
}

function canBeStrict(node: unknown, dialect: SchemaDialect, root: boolean): boolean {
  if (typeof node !== 'object' || node === null) return true;
  if (Array.isArray(node)) return node.every((entry) => canBeStrict(entry, dialect, false));
  const record = node as Node;
  if (root && record.type !== 'object') return false;
  if (dialect === 'openai' && root && (record.anyOf || record.oneOf)) return false;
  if (dialect === 'openai' && record.allOf) return false;
  if (record.type === 'object' || record.properties) {
    const extra = record.additionalProperties;
    if (extra !== undefined && extra !== false) return false;
    const keys = Object.keys((record.properties ?? {}) as Node);
    const required = new Set(Array.isArray(record.required) ? (record.required as string[]) : []);
    if (dialect === 'openai' && keys.some((key) => !required.has(key))) return false;
  }
  for (const key of ['properties', '$defs', 'definitions']) {
    const children = record[key];
    if (children && typeof children === 'object' && !Object.values(children).every((child) => canBeStrict(child, dialect, false)))
      return false;
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'allOf']) if (!canBeStrict(record[key], dialect, false)) return false;
  return true;
}

function transform(node: Node, dialect: SchemaDialect): Node {
  const out: Node = {};
  const folded: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED.has(key)) continue;
    if (key === 'properties' || key === '$defs' || key === 'definitions') {
      out[key] = Object.fromEntries(
        Object.entries(value as Node).map(([name, child]) => [name, transform(child as Node, dialect)]),
      );
    } else if (key === 'items') {
      out.items = Array.isArray(value)
        ? value.map((child) => transform(child as Node, dialect))
        : transform(value as Node, dialect);
    } else if (key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
      // Neither dialect supports oneOf; anyOf accepts the same values here and zod still validates.
      out[key === 'oneOf' ? 'anyOf' : key] = (value as Node[]).map((child) => transform(child, dialect));
    } else if (STRUCTURAL.has(key)) {
      out[key] = value;
    } else if (isSafeIntegerBound(key, value)) {
      // zod's int() emits ±MAX_SAFE_INTEGER bounds: noise for every provider.
    } else if (SUPPORTED[dialect](key, value, node.type)) {
      out[key] = value;
    } else {
      folded.push(`${key}: ${JSON.stringify(value)}`);
    }
  }
  if (out.type === 'object' || out.properties) out.additionalProperties = false;
  if (folded.length > 0) {
    const description = typeof out.description === 'string' ? `${out.description}\n\n` : '';
    out.description = `${description}{${folded.join(', ')}}`;
  }
  return out;
}

function isSafeIntegerBound(key: string, value: unknown): boolean {
  return (key === 'minimum' || key === 'maximum') && Math.abs(Number(value)) === Number.MAX_SAFE_INTEGER;
}

function withoutKeys(node: Node, keys: Set<string>): Node {
  return Object.fromEntries(Object.entries(node).filter(([key]) => !keys.has(key)));
}
