import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { main } from '../../src/cli/main.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest, WireServer } from '../fakes/scripted-wire-server.js';
import { ARENA, REPO_ROOT, tempDir } from '../runner/fixtures.js';

/** Environment variables the model settings read; cleared so a developer's keys never leak into a test. */
const MODEL_ENV = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_CONCURRENCY'];
let savedEnv: Record<string, string | undefined> = {};
let server: WireServer & { baseURL: string };
beforeEach(async () => {
  savedEnv = Object.fromEntries(MODEL_ENV.map((name) => [name, process.env[name]]));
  for (const name of MODEL_ENV) delete process.env[name];
  server = await startOpenAIWireServer();
  // An OpenAI-compatible server that never reports token usage.
  server.setScript((request: RecordedRequest) => {
    const size = JSON.stringify(request.body?.messages ?? '').length;
    const text = JSON.stringify({ rationale: `${size} chars`, principles: [], score: 1 + (size % 90) / 10, confidence: 0.7 });
    return { text, omitUsage: true };
  });
  process.env.OPENAI_BASE_URL = server.baseURL;
});
afterEach(async () => {
  await server.close();
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function label(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(
    ['label', ARENA, '--model', 'openai:served-model', '--max-rounds', '0', '--concurrency', '1', ...args],
    io,
  );
  return { code, out: io.out(), err: io.err() };
}

describe('tribunal label prices and --max-cost', () => {
  it('refuses --max-cost over a model without a known price (exit 2), before any call or store', async () => {
    const out = path.join(tempDir(), 'out');
    const result = await label(['--limit', '2', '--out', out, '--max-cost', '1']);
    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toContain('no price known for openai:served-model');
    expect(result.err).toContain('pass --price openai:served-model=in:USD,out:USD');
    expect(result.err).toContain('or drop --max-cost');
    expect(server.requests).toHaveLength(0);
    expect(existsSync(path.join(out, 'tribunal.sqlite'))).toBe(false);
  });

  it('warns at start about an unpriced model when there is no budget, and runs', async () => {
    const result = await label(['--limit', '1', '--out', path.join(tempDir(), 'out')]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.err).toContain('warning: no price known for openai:served-model: its cost counts as $0');
    expect(result.err).toContain('--price openai:served-model=in:USD,out:USD');
    // The server reported no usage: the summary says the counts are estimates, with no budget to speak of.
    expect(result.err).toMatch(/server reported no token usage for 12 of 12 calls/);
    expect(result.err).not.toContain('budget enforced');
  });

  it('with --price and no usage from the server, enforces --max-cost from estimated tokens and says so (exit 4)', async () => {
    const result = await label([
      '--limit',
      '8',
      '--out',
      path.join(tempDir(), 'out'),
      '--max-cost',
      '3',
      '--price',
      'openai:served-model=in:40,out:160',
    ]);
    expect(result.code).toBe(EXIT.budget);
    expect(result.err).not.toContain('warning: no price known');
    expect(result.err).toContain('budget enforced from estimated tokens (--max-cost 3)');
    // Said as soon as the first call came back without usage, and again in the summary.
    expect(result.err).toContain(
      'the server reports no token usage: counting tokens from the text (estimates); budget enforced from estimated tokens\n',
    );
    expect(result.out).toContain('Stopped: the --max-cost budget is reached');
    expect(server.requests.length).toBeLessThan(8 * 12);
  });

  it("takes prices from the panel's prices: block and from --prices FILE, --price overriding both", async () => {
    const dir = tempDir();
    const panel = path.join(dir, 'panel.yaml');
    writeFileSync(panel, 'id: priced\npersonas: [safety]\nmaxRounds: 0\nprices:\n  "openai:*": { input: 40, output: 160 }\n');
    const fromPanel = await label([
      '--limit',
      '8',
      '--out',
      path.join(dir, 'a'),
      '--panel',
      panel,
      '--max-cost',
      '0.5',
      '--json',
    ]);
    expect(fromPanel.code).toBe(EXIT.budget);
    const summary = JSON.parse(fromPanel.out) as {
      session: { usage: { costUsd: number; estimatedCalls: number; calls: number } };
    };
    expect(summary.session.usage.estimatedCalls).toBe(summary.session.usage.calls);
    expect(summary.session.usage.costUsd).toBeGreaterThan(0);

    // A free price in a file beats the panel's; the budget is never reached.
    const prices = path.join(dir, 'prices.yaml');
    writeFileSync(prices, 'openai:served-model:\n  input: 0\n  output: 0\n');
    const fromFile = await label([
      '--limit',
      '2',
      '--out',
      path.join(dir, 'b'),
      '--panel',
      panel,
      '--prices',
      prices,
      '--max-cost',
      '0.5',
      '--json',
    ]);
    expect(fromFile.code).toBe(EXIT.ok);
    expect((JSON.parse(fromFile.out) as { session: { usage: { costUsd: number } } }).session.usage.costUsd).toBe(0);

    const dry = await label([
      '--limit',
      '2',
      '--panel',
      panel,
      '--prices',
      prices,
      '--price',
      'openai:served-model=in:1000,out:0',
      '--dry-run',
      '--json',
    ]);
    const estimate = JSON.parse(dry.out) as {
      total: { inputTokens: number; costUsd: number };
      models: Array<{ priced: boolean }>;
    };
    expect(estimate.models[0]?.priced).toBe(true);
    expect(estimate.total.costUsd).toBeCloseTo((estimate.total.inputTokens * 1000) / 1e6, 9);
  });

  it('names a bad --price or --prices file with exit 2', async () => {
    const bad = await label(['--out', tempDir(), '--price', 'openai:served-model=in:1']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain('--price "openai:served-model=in:1": out: is missing');
    const file = path.join(tempDir(), 'prices.yaml');
    writeFileSync(file, 'openai:served-model:\n  input: free\n  output: 0\n');
    const badFile = await label(['--out', tempDir(), '--prices', file]);
    expect(badFile.code).toBe(EXIT.usage);
    expect(badFile.err).toContain('line 2: openai:served-model.input');
    expect(server.requests).toHaveLength(0);
  });
});
