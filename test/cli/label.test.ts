import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type LabelRow, OpenAiPreferenceRowSchema, PreferencePairSchema } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { WireServer } from '../fakes/scripted-wire-server.js';
import { ARENA, nativeItem, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

/** Environment variables the model settings read; cleared so a developer's keys never leak into a test. */
const MODEL_ENV = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_CONCURRENCY'];
let savedEnv: Record<string, string | undefined> = {};
beforeEach(() => {
  savedEnv = Object.fromEntries(MODEL_ENV.map((name) => [name, process.env[name]]));
  for (const name of MODEL_ENV) delete process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function label(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(['label', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('tribunal label --dry-run', () => {
  it('estimates calls, tokens and cost without a store or a model call', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const text = await label([ARENA, '--limit', '3', '--out', out, '--model', 'openai:gpt-4.1-mini', '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('Dry run: 3 items');
    expect(text.out).toContain('openai:gpt-4.1-mini');
    // 3 items x 3 critics x 4 candidates x (1 + 2 rounds)
    expect(text.out).toMatch(/total\s+108\s/);
    expect(existsSync(out)).toBe(false);

    const json = await label([ARENA, '--limit', '3', '--out', out, '--model', 'openai:gpt-4.1-mini', '--dry-run', '--json']);
    const estimate = JSON.parse(json.out) as { items: number; total: { calls: number; costUsd: number; inputTokens: number } };
    expect(estimate.items).toBe(3);
    expect(estimate.total.calls).toBe(108);
    expect(estimate.total.inputTokens).toBeGreaterThan(108 * 500);
    expect(estimate.total.costUsd).toBeGreaterThan(0);
  });
});

describe('tribunal label', () => {
  it('refuses bad flags with exit code 2', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1)]);
    expect((await label([input])).code).toBe(2);
    expect((await label([input, '--out', dir, '--strategy', 'best'])).code).toBe(2);
    expect((await label([input, '--out', dir, '--concurrency', '0'])).code).toBe(2);
    expect((await label([input, input, '--out', dir])).code).toBe(2);
    expect((await label([input, '--out', dir, '--bogus'])).code).toBe(2);
  });

  it('--strict lists every rejected line and exits 1 without starting', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), '{oops', nativeItem(2), '{"candidates": []}']);
    const out = path.join(dir, 'out');
    const result = await label([input, '--out', out, '--model', 'fake:judge', '--strict']);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/line 2/);
    expect(result.err).toMatch(/line 4/);
    expect(existsSync(path.join(out, 'tribunal.sqlite'))).toBe(false);
  });

  it('reports rejected lines with their line numbers and goes on', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), '{oops', nativeItem(2)]);
    const out = path.join(dir, 'out');
    const result = await label([input, '--out', out, '--model', 'fake:judge', '--max-rounds', '0']);
    expect(result.code).toBe(0);
    expect(result.err).toContain(`rejected ${input}:2: invalid JSON`);
    expect(result.out).toContain('2/2 items labeled');
    expect(result.out).toContain('1 input lines rejected');
    expect(readJsonl(path.join(out, 'rejected.jsonl'))).toEqual([expect.objectContaining({ line: 2, raw: '{oops' })]);
  });

  it('labels, then `tribunal export DIR` regenerates identical files and can switch to OpenAI pairs', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), 'nope', nativeItem(3)]);
    const out = path.join(dir, 'out');
    const result = await label([
      input,
      '--out',
      out,
      '--model',
      'fake:judge',
      '--max-rounds',
      '1',
      '--strategy',
      'best-vs-random-lower',
      '--seed',
      '7',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.out) as { status: string; totals: { done: number }; files: Record<string, string> };
    expect(summary.status).toBe('done');
    expect(summary.totals.done).toBe(3);
    const names = ['labels.jsonl', 'pairs.jsonl', 'README.md', 'score-distribution.svg', 'rejected.jsonl'];
    const before = Object.fromEntries(names.map((name) => [name, readFileSync(path.join(out, name), 'utf8')]));
    for (const pair of readJsonl(path.join(out, 'pairs.jsonl'))) expect(PreferencePairSchema.safeParse(pair).success).toBe(true);

    for (const name of names) rmSync(path.join(out, name));
    const io = captureIo(REPO_ROOT);
    expect(await main(['export', out], io)).toBe(0);
    expect(io.out()).toContain('3 labels');
    const after = Object.fromEntries(names.map((name) => [name, readFileSync(path.join(out, name), 'utf8')]));
    expect(after).toEqual(before);

    const openai = captureIo(REPO_ROOT);
    expect(await main(['export', out, '--pairs-format', 'openai', '--json'], openai)).toBe(0);
    const exported = JSON.parse(openai.out()) as { files: { pairs: string } };
    expect(path.basename(exported.files.pairs)).toBe('pairs.openai.jsonl');
    for (const row of readJsonl(exported.files.pairs)) expect(OpenAiPreferenceRowSchema.safeParse(row).success).toBe(true);
  });

  it('`tribunal export` on a directory without a store exits 2', async () => {
    const io = captureIo(REPO_ROOT);
    expect(await main(['export', tempDir()], io)).toBe(2);
    expect(io.err()).toContain('holds no tribunal.sqlite');
  });

  it('exits 4 at a --max-calls budget; the same command without it finishes the run', async () => {
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: 6 }, (_, index) => nativeItem(index + 1, 2)),
    );
    const out = path.join(dir, 'out');
    const args = [input, '--out', out, '--model', 'fake:judge', '--max-rounds', '0', '--concurrency', '1'];
    // 3 critics x 2 candidates = 6 calls per item: the budget fits two items.
    const capped = await label([...args, '--max-calls', '14']);
    expect(capped.code).toBe(4);
    expect(capped.out).toContain('Stopped: the --max-calls budget is reached');
    expect(capped.out).toContain('2/6 items labeled');
    const resumed = await label(args);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain('6/6 items labeled');
    expect(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')).map((row) => row.id)).toEqual([
      'item-1',
      'item-2',
      'item-3',
      'item-4',
      'item-5',
      'item-6',
    ]);
  });
});

describe('tribunal label against an OpenAI-compatible server', () => {
  let server: WireServer & { baseURL: string };
  beforeEach(async () => {
    server = await startOpenAIWireServer();
  });
  afterEach(async () => {
    await server.close();
  });

  /** Scores each request from its length, so answers differ per candidate. */
  function scriptAssessments(tokens: { inputTokens: number; outputTokens: number }) {
    server.setScript((request) => {
      const size = JSON.stringify(request.body?.messages ?? '').length;
      const score = 1 + (size % 90) / 10;
      const text = JSON.stringify({ rationale: `Judged ${size} characters.`, principles: [], score, confidence: 0.7 });
      return { text, ...tokens, chunks: 3 };
    });
  }

  it('labels arena items through the server, with usage from its replies', async () => {
    scriptAssessments({ inputTokens: 900, outputTokens: 60 });
    process.env.OPENAI_BASE_URL = server.baseURL;
    process.env.OPENAI_API_KEY = 'test-key';
    const out = path.join(tempDir(), 'out');
    const result = await label([
      ARENA,
      '--limit',
      '2',
      '--out',
      out,
      '--model',
      'openai:served-model',
      '--max-rounds',
      '0',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.out) as {
      totals: { done: number };
      session: { usage: { calls: number; inputTokens: number } };
    };
    expect(summary.totals.done).toBe(2);
    // 2 items x 4 candidates x 3 critics, one round.
    expect(server.requests).toHaveLength(24);
    expect(server.unscripted).toHaveLength(0);
    expect(summary.session.usage).toMatchObject({ calls: 24, inputTokens: 24 * 900 });
    expect(server.requests.every((request) => request.body?.model === 'served-model')).toBe(true);
    expect(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')).map((row) => row.panel.critics[0]?.model)).toEqual([
      'openai:served-model',
      'openai:served-model',
    ]);
  });
});

describe('tribunal --help', () => {
  it('lists label and export', async () => {
    const io = captureIo(REPO_ROOT);
    await main(['--help'], io);
    expect(io.out()).toMatch(/label\s+label a dataset/);
    expect(io.out()).toMatch(/export\s+regenerate/);
    const help = captureIo(REPO_ROOT);
    expect(await main(['label', '--help'], help)).toBe(0);
    expect(help.out()).toContain('--max-cost USD');
  });
});
