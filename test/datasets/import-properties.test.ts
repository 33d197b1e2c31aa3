import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { DatasetItemSchema, INPUT_FORMATS, type InputFormat } from '../../src/contracts/index.js';
import { INPUT_LIMITS, RAW_LIMIT, type ReadResult, readItems, validateInput } from '../../src/datasets/index.js';
import { importItems } from '../../src/runner/import-items.js';
import { openStore } from '../../src/store/index.js';
import { runConfig } from '../store/store-fixtures.js';

/*
 * Property: no line crashes an import, and every non-blank line is either an item (valid against the contract,
 * serializable, within every input limit) or quarantined as a rejection naming its line, in every format.
 */

const directory = mkdtempSync(path.join(tmpdir(), 'tribunal-import-properties-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const text = fc.string({ maxLength: 40 });
/** Nesting depths: around the bound, and far past what recursive code (JSON.stringify, validation) survives. */
const depth = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1000, max: 20_000 }));
const deep = depth.map((levels) => `${'['.repeat(levels)}${']'.repeat(levels)}`);
const deepObject = depth.map((levels) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
const chat = fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant', 'robot'), content: text }), {
  maxLength: 4,
});
const candidate = fc.oneof(
  text,
  fc.record({ id: fc.oneof(text, fc.integer()), text, model: text }, { requiredKeys: ['text'] }),
  fc.jsonValue({ maxDepth: 3 }),
);
const nativeRow = fc.record(
  {
    id: fc.oneof(text, fc.integer(), fc.constant(null)),
    prompt: fc.oneof(text, chat),
    messages: chat,
    candidates: fc.oneof(fc.array(candidate, { maxLength: 5 }), text),
    meta: fc.oneof(
      fc.dictionary(text, fc.jsonValue({ maxDepth: 4 }), { maxKeys: 4 }),
      // Around the depth bound; deeper lines are built as text below (JSON.stringify itself cannot build them).
      fc.integer({ min: 25, max: 40 }).map((depth) => ({ deep: JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) })),
    ),
  },
  { requiredKeys: [] },
);
const preferenceRow = fc.record(
  {
    prompt: fc.oneof(text, chat),
    chosen: fc.oneof(
      text,
      chat,
      text.map((answer) => `\n\nHuman: hi\n\nAssistant: ${answer}`),
    ),
    rejected: fc.oneof(
      text,
      chat,
      text.map((answer) => `\n\nHuman: hi\n\nAssistant: ${answer}`),
    ),
    id: fc.oneof(text, fc.integer()),
  },
  { requiredKeys: [] },
);
/** One line of a file, as bytes (so invalid UTF-8 is possible); never containing a line break. */
const line: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.string({ maxLength: 80 }),
    fc.jsonValue({ maxDepth: 6 }).map((value) => JSON.stringify(value)),
    nativeRow.map((row) => JSON.stringify(row)),
    preferenceRow.map((row) => JSON.stringify(row)),
    deep,
    deepObject.map((meta) => `{"prompt":"p","candidates":["a"],"meta":${meta}}`),
    deep.map((meta) => `{"prompt":"p","candidates":["a"],"meta":{"x":${meta}}}`),
    deep.map((value) => `{"prompt":"p","chosen":"a","rejected":${value}}`),
    fc.string({ maxLength: 20 }).map((tail) => `{"prompt":"p","candidates":["${'x'.repeat(200)}${tail}"]}`),
  )
  .map((value) => Buffer.from(value.replace(/[\r\n]/g, ' ')))
  .chain((bytes) =>
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(bytes) },
      {
        weight: 1,
        arbitrary: fc
          .uint8Array({ minLength: 1, maxLength: 6 })
          .map((noise) => Buffer.concat([bytes, Buffer.from(noise.filter((byte) => byte !== 0x0a && byte !== 0x0d))])),
      },
    ),
  );

let counter = 0;
function writeLines(lines: Buffer[], gzip: boolean): string {
  counter += 1;
  const file = path.join(directory, `input-${counter}.jsonl${gzip ? '.gz' : ''}`);
  const content = Buffer.concat(lines.flatMap((bytes) => [bytes, Buffer.from('\n')]));
  writeFileSync(file, gzip ? gzipSync(content) : content);
  return file;
}

describe('importers: every line is an item or a quarantined rejection (property)', () => {
  test('no generated file crashes readItems or validateInput, in any format', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { minLength: 1, maxLength: 12 }),
        fc.constantFrom<InputFormat | undefined>(undefined, ...INPUT_FORMATS),
        fc.boolean(),
        async (lines, format, gzip) => {
          const file = writeLines(lines, gzip);
          const nonBlank = lines
            .map((bytes, index) => ({ bytes, line: index + 1 }))
            .filter(({ bytes }) => bytes.toString('utf8').trim() !== '' || !isValidUtf8(bytes));
          const results: ReadResult[] = [];
          for await (const result of readItems({ file, ...(format === undefined ? {} : { format }) })) results.push(result);
          expect(results.map((result) => result.line)).toEqual(nonBlank.map((entry) => entry.line));
          for (const result of results) {
            if (result.kind === 'item') {
              expect(DatasetItemSchema.safeParse(result.item).success).toBe(true);
              expect(JSON.stringify(result.item.meta).length).toBeLessThanOrEqual(INPUT_LIMITS.maxMetaChars);
              expect(result.item.candidates.length).toBeLessThanOrEqual(INPUT_LIMITS.maxCandidates);
              expect(() => JSON.stringify(result.item)).not.toThrow();
            } else {
              expect(result.reason.length).toBeGreaterThan(0);
              expect(result.raw.length).toBeLessThanOrEqual(RAW_LIMIT + 40);
            }
          }
          const report = await validateInput({ file, ...(format === undefined ? {} : { format }) });
          expect(report.rows).toBe(results.length);
          expect(report.rejections.length).toBe(results.filter((result) => result.kind === 'rejected').length);
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe('importing into a real store: every line is stored as an item or a rejected line (property)', () => {
  test('items and rejected lines in the store add up to the non-blank lines, whatever the lines', async () => {
    const store = openStore({ dir: path.join(directory, 'store') });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 12 }), async (lines) => {
          const file = writeLines(lines, false);
          const { run } = await store.createOrResumeRun({
            config: { ...runConfig(), input: { file, sha256: file, format: 'native' } },
          });
          const expected = lines.filter((bytes) => bytes.toString('utf8').trim() !== '' || !isValidUtf8(bytes)).length;
          const report = await importItems({ store, runId: run.id, file, format: 'native' });
          expect(report.inserted + report.existing + report.rejectedLines).toBe(expected);
          const stored = (await store.getRun({ runId: run.id }))?.totals;
          expect((stored?.items ?? 0) + (await store.listRejectedLines({ runId: run.id })).length).toBe(expected);
        }),
        { numRuns: 40 },
      );
    } finally {
      await store.close();
    }
  });
});

function isValidUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
