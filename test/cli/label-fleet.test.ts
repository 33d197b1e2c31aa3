import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest, WireServer } from '../fakes/scripted-wire-server.js';
import { ARENA, REPO_ROOT, tempDir } from '../runner/fixtures.js';

/** Environment variables the model settings read; cleared so a developer's keys never leak into a test. */
const MODEL_ENV = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'TRIBUNAL_MODEL',
  'TRIBUNAL_CONCURRENCY',
  'TRIBUNAL_MODELS',
];
let savedEnv: Record<string, string | undefined> = {};
let servers: Array<WireServer & { baseURL: string }> = [];

/** A judge whose reply depends only on the request, so every endpoint answers the same. */
const judge = (request: RecordedRequest) => {
  const size = JSON.stringify(request.body?.messages ?? '').length;
  return { text: JSON.stringify({ rationale: `${size} chars`, principles: [], score: 1 + (size % 90) / 10, confidence: 0.7 }) };
};

beforeEach(async () => {
  savedEnv = Object.fromEntries(MODEL_ENV.map((name) => [name, process.env[name]]));
  for (const name of MODEL_ENV) delete process.env[name];
  servers = await Promise.all([startOpenAIWireServer(), startOpenAIWireServer(), startOpenAIWireServer()]);
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function label(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(['label', ARENA, '--model', 'openai:served-model', '--max-rounds', '0', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

const readRows = (dir: string): LabelRow[] =>
  readFileSync(path.join(dir, 'labels.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as LabelRow);

describe('tribunal label over an endpoint fleet', () => {
  it('labels every item over a fleet with one dead server (TRIBUNAL_MODELS), with the labels and usage of one server', async () => {
    const [dead, first, second] = servers as [WireServer & { baseURL: string }, ...Array<WireServer & { baseURL: string }>];
    dead.setScript(() => ({ reset: true }));
    first?.setScript(judge);
    second?.setScript(judge);
    const dir = tempDir();
    const modelsFile = path.join(dir, 'models.yaml');
    writeFileSync(
      modelsFile,
      `models:\n  openai:served-model:\n    endpoints:\n${servers.map((server) => `      - { baseURL: "${server.baseURL}", concurrency: 2 }\n`).join('')}`,
    );
    process.env.TRIBUNAL_MODELS = modelsFile;
    const fleetOut = path.join(dir, 'fleet');
    const fleet = await label(['--limit', '4', '--concurrency', '4', '--out', fleetOut]);
    expect(fleet.code).toBe(EXIT.ok);

    // The same items against one healthy server through OPENAI_BASE_URL, as before fleets.
    delete process.env.TRIBUNAL_MODELS;
    process.env.OPENAI_BASE_URL = first?.baseURL;
    const singleOut = path.join(dir, 'single');
    const single = await label(['--limit', '4', '--concurrency', '4', '--out', singleOut]);
    expect(single.code).toBe(EXIT.ok);

    const fleetRows = readRows(fleetOut);
    const singleRows = readRows(singleOut);
    expect(fleetRows).toHaveLength(4);
    const verdicts = (rows: LabelRow[]) =>
      rows.map((row) => ({ id: row.id, ranking: row.ranking, failedTurns: row.failedTurns, usage: row.usage }));
    expect(verdicts(fleetRows).sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      verdicts(singleRows).sort((a, b) => a.id.localeCompare(b.id)),
    );
    // The dead server was tried until its circuit opened (3 failures by default), then left alone: at most the calls
    // already on their way to it (its concurrency, 2) once the third failure came in.
    const chat = (server: WireServer) => server.requests.filter((request) => request.path.endsWith('/chat/completions'));
    expect(chat(dead).length).toBeGreaterThan(0);
    expect(chat(dead).length).toBeLessThanOrEqual(4);
    expect(chat(second as WireServer).length).toBeGreaterThan(0);
  });

  it('refuses a bad models file before any call, naming the field (--models)', async () => {
    const dir = tempDir();
    const modelsFile = path.join(dir, 'models.yaml');
    writeFileSync(
      modelsFile,
      'models:\n  openai:served-model:\n    endpoints:\n      - baseURL: http://a/v1\n        weight: -1\n',
    );
    const result = await label(['--limit', '1', '--out', path.join(dir, 'out'), '--models', modelsFile]);
    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toMatch(/line 5: models\.openai:served-model\.endpoints\[0\]\.weight/);
    expect(servers.every((server) => server.requests.length === 0)).toBe(true);
  });
});
