import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { jsonSchemas } from '../../src/config/index.js';
import { captureIo } from '../fakes/cli-io.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

describe('tribunal check', () => {
  it('exits 0 on the shipped files', async () => {
    const io = captureIo(repoRoot);
    expect(await main(['check'], io)).toBe(0);
    expect(io.out()).toContain('All files are valid.');
    expect(io.out()).toContain('panel default: safety, efficiency, creativity');
  });

  it('exits 1 and names file, line and field for a bad persona', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-check-'));
    mkdirSync(path.join(dir, 'personas'));
    writeFileSync(
      path.join(dir, 'personas', 'bad.md'),
      '---\nid: bad\nname: Bad\ndescription: d\nfocus: f\nweight: -1\nrubric:\n  "1": a\n  "10": b\n---\nBody.\n',
    );
    const io = captureIo(dir);
    expect(await main(['check'], io)).toBe(1);
    expect(io.out()).toMatch(/FAIL personas\/bad\.md/);
    expect(io.out()).toMatch(/line 6: weight: .*>0/);
  });

  it('exits 1 for a panel naming a missing persona', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-check-'));
    writeFileSync(path.join(dir, 'p.yaml'), 'id: p\npersonas: [safety, ghost]\n');
    const io = captureIo(dir);
    expect(await main(['check', '--panel', 'p.yaml'], io)).toBe(1);
    expect(io.out()).toContain('no persona "ghost"');
  });

  it('lists the endpoints of a models file, and names the field of a bad one', async () => {
    const io = captureIo(repoRoot);
    expect(await main(['check', '--models', 'examples/models.fleet.yaml'], io)).toBe(0);
    expect(io.out()).toContain('ok   examples/models.fleet.yaml');
    expect(io.out()).toContain(
      'openai:Qwen/Qwen2.5-7B-Instruct: 3 endpoints, at most 96 calls at once: http://gpu1:8000/v1 (concurrency 32), ' +
        'http://gpu2:8000/v1 (concurrency 32), http://gpu3:8000/v1 (concurrency 64)',
    );
    expect(io.out()).toContain('openai:*: 2 endpoints: http://cpu1:8080/v1 (concurrency 4), http://cpu2:8080/v1 (concurrency 4)');

    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-check-'));
    writeFileSync(
      path.join(dir, 'models.yaml'),
      'models:\n  openai:m:\n    endpoints:\n      - baseURL: http://user:secret@a:8000/v1\n      - baseURL: http://b/v1\n      - baseURL: ftp://c\n',
    );
    const bad = captureIo(dir);
    expect(await main(['check', '--models', 'models.yaml'], bad)).toBe(1);
    expect(bad.out()).toMatch(
      /FAIL models\.yaml\n[\s\S]*line 6: models\.openai:m\.endpoints\[2\]\.baseURL: must be an http\(s\) URL/,
    );
    // A password in a URL is refused (HTTP clients refuse such URLs), and never echoed.
    expect(bad.out()).toContain('line 4: models.openai:m.endpoints[0].baseURL: must not hold a user:password');
    expect(bad.out()).not.toContain('secret');
    writeFileSync(path.join(dir, 'models.yaml'), 'models:\n  openai:m:\n    endpoints:\n      - baseURL: http://a:8000/v1/\n');
    const good = captureIo(dir);
    expect(await main(['check', '--models', 'models.yaml'], good)).toBe(0);
    expect(good.out()).toContain('openai:m: 1 endpoint: http://a:8000/v1');
  });

  it('gives usage errors exit code 2', async () => {
    const io = captureIo(repoRoot);
    expect(await main(['check', '--bogus'], io)).toBe(2);
    expect(io.err()).toContain("Unknown option '--bogus'");
    expect(await main(['nope'], captureIo(repoRoot))).toBe(2);
  });
});

describe('tribunal personas', () => {
  it('lists personas with their focus', async () => {
    const io = captureIo(repoRoot);
    expect(await main(['personas', '--json'], io)).toBe(0);
    const listed = JSON.parse(io.out()) as Array<{ id: string; focus: string }>;
    expect(listed.map((persona) => persona.id)).toEqual(expect.arrayContaining(['safety', 'efficiency', 'creativity']));
    expect(listed.every((persona) => persona.focus.length > 0)).toBe(true);
  });
});

describe('JSON Schemas', () => {
  it('committed docs/schemas match the zod contracts', () => {
    for (const [name, schema] of Object.entries(jsonSchemas())) {
      const committed = JSON.parse(readFileSync(path.join(repoRoot, 'docs', 'schemas', name), 'utf8'));
      expect(committed, `${name} is stale: run npm run schemas`).toEqual(schema);
    }
  });

  it('the panel schema describes the fields researchers set', () => {
    const panel = jsonSchemas()['panel.schema.json'] as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(panel.properties)).toEqual(
      expect.arrayContaining(['personas', 'constitution', 'protocol', 'maxRounds', 'tolerance']),
    );
    expect(panel.required).toEqual(['id', 'personas']);
  });
});
