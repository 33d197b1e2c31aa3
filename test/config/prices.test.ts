import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPanel, loadPrices, parsePrices } from '../../src/config/index.js';
import { FileValidationError } from '../../src/contracts/index.js';

function write(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tribunal-prices-')), name);
  writeFileSync(file, text);
  return file;
}

async function issuesOf(run: () => Promise<unknown>): Promise<FileValidationError> {
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FileValidationError);
  return error as FileValidationError;
}

describe("a panel's prices: block", () => {
  const PANEL = 'id: p\npersonas: [safety]\nmodel: openai:served-model\n';

  it('loads prices per model id or prefix, and keeps them out of the panel hash', async () => {
    const plain = await loadPanel({ file: write('p.yaml', PANEL) });
    const priced = await loadPanel({
      file: write(
        'p.yaml',
        `${PANEL}prices:\n  openai:served-model: { input: 0.4, output: 1.6 }\n  "local:*":\n    input: 0\n    output: 0\n`,
      ),
    });
    expect(priced.panel.prices).toEqual({
      'openai:served-model': { input: 0.4, output: 1.6 },
      'local:*': { input: 0, output: 0 },
    });
    // Adding or changing a price must not requeue a labeled run.
    expect(priced.hash).toBe(plain.hash);
  });

  it('names the line and field of a bad price, a bad model id and an unknown field', async () => {
    const file = write(
      'p.yaml',
      `${PANEL}prices:\n  openai:served-model:\n    input: -1\n    output: 2\n  gpt-4:\n    input: 1\n    output: 2\n  openai:x:\n    input: 1\n    outptu: 2\n`,
    );
    const error = await issuesOf(() => loadPanel({ file }));
    expect(error.code).toBe('PANEL_INVALID');
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'prices.openai:served-model.input', line: 6 }),
        expect.objectContaining({
          field: 'prices.gpt-4',
          message: expect.stringContaining('invalid key "gpt-4": expected a model id "provider:model"'),
        }),
        expect.objectContaining({ field: 'prices.openai:x.output', message: 'required field is missing (expected number)' }),
        expect.objectContaining({ field: 'prices.openai:x', message: expect.stringContaining('unknown field(s) "outptu"') }),
      ]),
    );
    expect(error.message).toContain('line 6: prices.openai:served-model.input');
  });
});

describe('--prices FILE', () => {
  it('reads YAML and JSON', async () => {
    expect(await loadPrices(write('p.yaml', 'openai:m: { input: 1, output: 2 }\n'))).toEqual({
      'openai:m': { input: 1, output: 2 },
    });
    expect(await loadPrices(write('p.json', '{"local:*": {"input": 0, "output": 0}}'))).toEqual({
      'local:*': { input: 0, output: 0 },
    });
  });

  it('names the file, line and field of a problem; a missing file is a usage error', async () => {
    const error = await issuesOf(() =>
      loadPrices(write('p.yaml', 'openai:a: { input: 1, output: 2 }\nopenai:b: { input: "cheap", output: 2 }\n')),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/p\.yaml is invalid:\n {2}- line 2: openai:b\.input: Invalid input: expected number/);
    expect(() => parsePrices('openai:a: [1, 2\n', 'x.yaml')).toThrow(/x\.yaml is invalid:\n {2}- line \d+: YAML syntax/);
    await expect(loadPrices('/nonexistent/prices.yaml')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'prices file /nonexistent/prices.yaml does not exist',
    });
  });
});
