import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelsFile, parseModelsFile } from '../../src/config/index.js';
import { FileValidationError, TribunalError } from '../../src/contracts/index.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function issuesOf(text: string): FileValidationError {
  let caught: unknown;
  try {
    parseModelsFile(text, 'models.yaml');
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FileValidationError);
  return caught as FileValidationError;
}

describe('models files', () => {
  it('loads the shipped example: endpoints per model id or prefix, with their limits', async () => {
    const { models } = await loadModelsFile(path.join(repoRoot, 'examples', 'models.fleet.yaml'));
    expect(Object.keys(models)).toEqual(['openai:Qwen/Qwen2.5-7B-Instruct', 'openai:*']);
    expect(models['openai:Qwen/Qwen2.5-7B-Instruct']).toMatchObject({
      concurrency: 96,
      endpoints: [
        { baseURL: 'http://gpu1:8000/v1', concurrency: 32 },
        { baseURL: 'http://gpu2:8000/v1', concurrency: 32 },
        { baseURL: 'http://gpu3:8000/v1', concurrency: 64 },
      ],
    });
    expect(models['openai:*']).toMatchObject({ failureThreshold: 2, probeIntervalMs: 5000 });
  });

  it('names the field with its index and the line of a bad endpoint', () => {
    const error = issuesOf(
      [
        'models:',
        '  openai:qwen:',
        '    endpoints:',
        '      - baseURL: http://gpu1:8000/v1',
        '      - baseURL: http://gpu2:8000/v1',
        '        concurrency: 0',
        '      - baseURL: gpu3:8000/v1',
        '',
      ].join('\n'),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'models.openai:qwen.endpoints[1].concurrency', line: 6 }),
        expect.objectContaining({
          field: 'models.openai:qwen.endpoints[2].baseURL',
          line: 7,
          message: 'must be an http(s) URL such as http://gpu1:8000/v1',
        }),
      ]),
    );
    expect(error.message).toContain('line 7: models.openai:qwen.endpoints[2].baseURL: must be an http(s) URL');
  });

  it('rejects a server listed twice, an empty list, unknown fields and providers other than openai:', () => {
    const twice = issuesOf('models:\n  openai:m:\n    endpoints:\n      - baseURL: http://a/v1\n      - baseURL: http://A/v1/\n');
    expect(twice.issues).toEqual([
      expect.objectContaining({
        field: 'models.openai:m.endpoints[1].baseURL',
        message: expect.stringMatching(/endpoints\[0\]/),
      }),
    ]);
    expect(issuesOf('models:\n  openai:m:\n    endpoints: []\n').issues[0]).toMatchObject({
      field: 'models.openai:m.endpoints',
      message: 'list at least one endpoint',
    });
    expect(issuesOf('models:\n  openai:m:\n    endpoints:\n      - baseUrl: http://a/v1\n').issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ message: expect.stringContaining('"baseUrl"') })]),
    );
    const anthropic = issuesOf('models:\n  anthropic:claude:\n    endpoints:\n      - baseURL: http://a\n');
    expect(anthropic.message).toMatch(/invalid key "anthropic:claude".*openai: model id/);
    expect(issuesOf('endpoints: []\n').message).toMatch(/models: required field is missing/);
  });

  it('names a missing or unreadable file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-models-'));
    await expect(loadModelsFile(path.join(dir, 'nope.yaml'))).rejects.toThrow(/models file .*nope\.yaml does not exist/);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'models: [\n');
    const error = await loadModelsFile(bad).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TribunalError);
    expect((error as TribunalError).message).toMatch(/YAML syntax/);
  });
});
