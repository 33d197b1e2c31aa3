import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type CandidatesRow, CandidatesRowSchema, PreferencePairSchema } from '../../src/contracts/index.js';
import { readItems } from '../../src/datasets/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest, WireServer } from '../fakes/scripted-wire-server.js';
import { HH, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

const MODEL_ENV = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'TRIBUNAL_MODEL', 'TRIBUNAL_MAX_RETRIES'];
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

async function cli(command: string, args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main([command, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

/** Prompt rows: native without candidates (text and chat), and one with candidates (ignored by generate). */
function promptsFile(dir: string, count = 5): string {
  const rows: Array<Record<string, unknown>> = [];
  for (let index = 0; index < count; index++) {
    if (index % 3 === 1) rows.push({ id: `p${index}`, messages: [{ role: 'user', content: `chat prompt ${index}` }] });
    else if (index % 3 === 2)
      rows.push({ id: `p${index}`, prompt: `prompt ${index}`, candidates: ['an old answer'], meta: { topic: 't' } });
    else rows.push({ id: `p${index}`, prompt: `prompt ${index}` });
  }
  return writeInput(dir, rows, 'prompts.jsonl');
}

describe('tribunal generate with the fake policy', () => {
  it('writes K deduplicated samples per prompt as native rows with stable ids and per-candidate meta', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir);
    const out = path.join(dir, 'gen');
    // A two-word vocabulary and at most two words: identical samples of a prompt are certain at K = 6.
    const policy = 'fake:policy?vocab=2&words=2';
    const first = await cli('generate', [input, '--policy', policy, '--n', '6', '--out', out, '--json']);
    expect(first.code, first.err).toBe(0);
    const summary = JSON.parse(first.out) as {
      opening: string;
      totals: { items: number; done: number };
      candidates: { items: number; samples: number; candidates: number; duplicates: number };
    };
    expect(summary.opening).toBe('created');
    expect(first.err).toContain('generate: 5/5 prompts'); // the progress line, plain off a terminal
    expect(summary.totals).toMatchObject({ items: 5, done: 5 });

    const rows = readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl')).map((row) => CandidatesRowSchema.parse(row));
    expect(rows.map((row) => row.id)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    let duplicates = 0;
    for (const row of rows) {
      const texts = row.candidates.map((candidate) => candidate.text);
      expect(new Set(texts).size).toBe(texts.length); // folded
      const copies = row.candidates.reduce((sum, candidate) => sum + candidate.meta.copies, 0);
      expect(copies).toBe(6);
      expect(row.meta.generation).toEqual({ policy, samples: 6, unique: texts.length, duplicates: 6 - texts.length });
      duplicates += row.meta.generation.duplicates;
      for (const candidate of row.candidates) {
        expect(candidate.id).toBe(`s${candidate.meta.sample}`);
        expect(candidate.model).toBe(policy);
        expect(candidate.meta.tokens).toBe(candidate.text.split(' ').length);
        expect(candidate.meta.logprob).toBeCloseTo(-Math.log(2) - (candidate.meta.tokens ?? 0) * Math.log(2), 10);
      }
    }
    expect(duplicates).toBeGreaterThan(0);
    expect(summary.candidates).toMatchObject({ items: 5, samples: 30, duplicates, candidates: 30 - duplicates });
    // chat prompts stay chats; the input's own candidates are not carried over; its other meta is
    expect(rows[1]?.prompt).toEqual([{ role: 'user', content: 'chat prompt 1' }]);
    expect(rows[2]?.candidates.some((candidate) => candidate.text === 'an old answer')).toBe(false);
    expect(rows[2]?.meta.topic).toBe('t');

    // Rerun: nothing to do, the same file.
    const before = readFileSync(path.join(out, 'candidates.jsonl'), 'utf8');
    const again = await cli('generate', [input, '--policy', policy, '--n', '6', '--out', out, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ opening: 'resumed', session: { done: 0 } });
    expect(readFileSync(path.join(out, 'candidates.jsonl'), 'utf8')).toBe(before);

    // `tribunal export` is for label runs: it refuses a generation run instead of writing nonsense.
    const exported = await cli('export', [out]);
    expect(exported.code).toBe(2);
    expect(exported.err).toContain('is a "tribunal generate" run');

    // Another K resamples every prompt (a changed config), in the same directory.
    const more = await cli('generate', [input, '--policy', policy, '--n', '3', '--out', out, '--json']);
    expect(JSON.parse(more.out)).toMatchObject({ opening: 'reconfigured', requeued: 5, session: { done: 5 } });

    // The output is what `tribunal label` reads.
    const labeled = path.join(dir, 'labeled');
    const label = await cli('label', [path.join(out, 'candidates.jsonl'), '--model', 'fake:judge', '--out', labeled, '--json']);
    expect(label.code, label.err).toBe(0);
    const pairs = readJsonl(path.join(labeled, 'pairs.jsonl'));
    expect(pairs.length).toBeGreaterThan(0);
    for (const pair of pairs) PreferencePairSchema.parse(pair);
    expect(pairs.every((pair) => /^s\d+$/.test(String(pair.chosen_id)))).toBe(true);
  });

  it('reads prompts from HH-RLHF too, and label still refuses native rows without candidates', async () => {
    const dir = tempDir('tribunal-generate-');
    const out = path.join(dir, 'gen');
    const hh = await cli('generate', [HH, '--limit', '3', '--policy', 'fake:policy', '--n', '2', '--out', out, '--json']);
    expect(hh.code, hh.err).toBe(0);
    const rows = readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl'));
    expect(rows).toHaveLength(3);
    // HH-RLHF's human label named its own candidates: it does not carry over.
    for (const row of rows) expect(row.meta.humanPreferred).toBeUndefined();

    const input = writeInput(dir, [{ id: 'a', prompt: 'no candidates here' }], 'bare.jsonl');
    const items = [];
    for await (const result of readItems({ file: input })) items.push(result);
    expect(items[0]).toMatchObject({ kind: 'rejected', field: 'candidates' });
    const label = await cli('label', [input, '--model', 'fake:judge', '--out', path.join(dir, 'lab'), '--strict']);
    expect(label.code).toBe(1);
    expect(label.err).toContain('candidates');
  });

  it('--dry-run estimates calls, tokens and cost without a store or a call', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 4);
    const out = path.join(dir, 'gen');
    const result = await cli('generate', [
      input,
      '--policy',
      'openai:gpt-4.1-mini',
      '--n',
      '4',
      '--max-tokens',
      '100',
      '--out',
      out,
      '--dry-run',
      '--json',
    ]);
    expect(result.code, result.err).toBe(0);
    const estimate = JSON.parse(result.out) as {
      prompts: number;
      callsWithN: number;
      usage: { calls: number; outputTokens: number; costUsd: number };
    };
    expect(estimate).toMatchObject({ prompts: 4, callsWithN: 4, usage: { calls: 16, outputTokens: 1600 } });
    expect(estimate.usage.costUsd).toBeGreaterThan(0);
    expect(existsSync(out)).toBe(false);
    const text = await cli('generate', [input, '--policy', 'tiny', '--n', '2', '--dry-run']);
    expect(text.out).toContain('no API cost');
  });

  it('refuses bad flags and policies with usage errors', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 1);
    const out = path.join(dir, 'gen');
    expect((await cli('generate', [input, '--out', out])).code).toBe(2);
    expect((await cli('generate', [input, '--out', out, '--policy', 'gpt-4'])).err).toContain('--policy must be');
    expect((await cli('generate', [input, '--out', out, '--policy', 'tiny', '--top-p', '0'])).code).toBe(2);
    expect((await cli('generate', [input, '--out', out, '--policy', 'fake:p?vocab=99'])).err).toContain('vocab');
    const help = await cli('generate', ['--help']);
    expect(help.out).toContain('Usage: tribunal generate PROMPTS');
    expect((await cli('--help', [])).out).toContain('generate');
  });
});

describe('tribunal generate with an OpenAI-compatible server', () => {
  let server: (WireServer & { baseURL: string }) | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('asks for K samples in one request with n, and sums the token log-probabilities', async () => {
    server = await startOpenAIWireServer();
    server.setScript((request: RecordedRequest) => {
      const n = Number(request.body?.n ?? 1);
      return {
        text: '',
        choices: Array.from({ length: n }, (_, index) => `answer ${index % 2} for you`),
        inputTokens: 9,
        outputTokens: 4 * n,
      };
    });
    process.env.OPENAI_BASE_URL = server.baseURL;
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 3);
    const out = path.join(dir, 'gen');
    const result = await cli('generate', [
      input,
      '--policy',
      'openai:my-model',
      '--n',
      '4',
      '--temperature',
      '0.7',
      '--top-p',
      '0.9',
      '--max-tokens',
      '50',
      '--seed',
      '7',
      '--out',
      out,
      '--json',
    ]);
    expect(result.code, result.err).toBe(0);
    expect(server.requests).toHaveLength(3);
    expect(server.requests[0]?.body).toMatchObject({
      model: 'my-model',
      n: 4,
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 50,
      seed: 7,
      logprobs: true,
    });
    expect(server.requests[1]?.body?.messages).toEqual([{ role: 'user', content: 'chat prompt 1' }]);
    const rows = readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl'));
    for (const row of rows) {
      expect(row.candidates.map((candidate) => candidate.text)).toEqual(['answer 0 for you', 'answer 1 for you']);
      expect(row.candidates.map((candidate) => candidate.meta.copies)).toEqual([2, 2]);
      expect(row.candidates[0]?.meta).toMatchObject({ tokens: 4, logprob: -1, finish: 'stop' });
      expect(row.meta.generation).toMatchObject({ samples: 4, unique: 2, duplicates: 2 });
    }
    const summary = JSON.parse(result.out) as { session: { usage: { calls: number; inputTokens: number } } };
    expect(summary.session.usage).toMatchObject({ calls: 3, inputTokens: 27 });
  });

  it('falls back to one request per sample when the server ignores n, and remembers it', async () => {
    server = await startOpenAIWireServer();
    let counter = 0;
    server.setScript(() => ({ text: `sample ${counter++}` })); // always one choice
    process.env.OPENAI_BASE_URL = server.baseURL;
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 2);
    const out = path.join(dir, 'gen');
    const result = await cli('generate', [
      input,
      '--policy',
      'openai:m',
      '--n',
      '3',
      '--out',
      out,
      '--concurrency',
      '1',
      '--json',
    ]);
    expect(result.code, result.err).toBe(0);
    // prompt 1: one request with n=3 (one choice back) + 2 single ones; prompt 2: 3 single requests
    expect(server.requests.map((request) => request.body?.n ?? 1)).toEqual([3, 1, 1, 1, 1, 1]);
    // each single request has its own seed, so a seeded server would not repeat itself
    expect(server.requests.slice(3).map((request) => request.body?.seed)).toEqual([0, 1, 2]);
    const rows = readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl'));
    expect(rows.map((row) => row.candidates.length)).toEqual([3, 3]);
  });

  it('stops at --max-calls with exit code 4, and the same command continues', async () => {
    server = await startOpenAIWireServer();
    server.setScript((request) => ({
      text: '',
      choices: Array.from({ length: Number(request.body?.n ?? 1) }, (_, i) => `a${i}`),
    }));
    process.env.OPENAI_BASE_URL = server.baseURL;
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 5);
    const out = path.join(dir, 'gen');
    const args = [input, '--policy', 'openai:m', '--n', '2', '--out', out, '--concurrency', '1', '--json'];
    const capped = await cli('generate', [...args, '--max-calls', '2']);
    expect(capped.code, capped.err).toBe(4);
    const stopped = JSON.parse(capped.out) as { stopReason: string; totals: { done: number; pending: number } };
    expect(stopped.stopReason).toBe('max-calls');
    expect(stopped.totals.done).toBe(2);
    expect(readJsonl(path.join(out, 'candidates.jsonl'))).toHaveLength(2);
    const rest = await cli('generate', args);
    expect(rest.code, rest.err).toBe(0);
    expect(JSON.parse(rest.out)).toMatchObject({ status: 'done', totals: { done: 5 }, session: { done: 3 } });
    expect(server.requests).toHaveLength(5);
  });

  it('fails a prompt whose server errors without losing the others, and --retry-failed samples it again', async () => {
    server = await startOpenAIWireServer();
    process.env.OPENAI_BASE_URL = server.baseURL;
    process.env.TRIBUNAL_MAX_RETRIES = '0';
    server.setScript((request) =>
      JSON.stringify(request.body?.messages).includes('prompt 2') ? { status: 400, message: 'bad prompt' } : { text: 'ok' },
    );
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 4);
    const out = path.join(dir, 'gen');
    const args = [input, '--policy', 'openai:m', '--n', '1', '--out', out, '--json'];
    const failed = await cli('generate', args);
    expect(failed.code, failed.err).toBe(0);
    expect(JSON.parse(failed.out)).toMatchObject({ totals: { done: 3, failed: 1 } });
    expect(failed.err).toContain('HTTP 400');
    server.setScript(() => ({ text: 'ok now' }));
    const retried = await cli('generate', [...args, '--retry-failed']);
    expect(JSON.parse(retried.out)).toMatchObject({ totals: { done: 4, failed: 0 } });
    expect(readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl')).map((row) => row.id)).toEqual(['p0', 'p1', 'p2', 'p3']);
  });

  it('stops early with exit 3 when the policy keeps failing with any model error (HTTP 500 is PROVIDER_FAILED), and resumes', async () => {
    server = await startOpenAIWireServer();
    process.env.OPENAI_BASE_URL = server.baseURL;
    process.env.TRIBUNAL_MAX_RETRIES = '0';
    server.setScript(() => ({ status: 500, message: 'upstream down' }));
    const dir = tempDir('tribunal-generate-');
    const input = promptsFile(dir, 12);
    const out = path.join(dir, 'gen');
    const args = [input, '--policy', 'openai:m', '--n', '1', '--out', out, '--concurrency', '1', '--json'];
    const failing = await cli('generate', args);
    expect(failing.code, failing.err).toBe(3);
    const stopped = JSON.parse(failing.out) as { stopReason: string; totals: { failed: number; pending: number } };
    expect(stopped.stopReason).toBe('provider-failing');
    // The breaker's default: 8 prompts in a row; the other 4 were never asked about and stay pending.
    expect(stopped.totals).toMatchObject({ failed: 8, pending: 4 });
    expect(server.requests).toHaveLength(8);
    server.setScript(() => ({ text: 'ok now' }));
    const resumed = await cli('generate', [...args, '--retry-failed']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ totals: { done: 12, failed: 0 } });
  });

  it('refuses an input with no prompt (empty, every line rejected, a directory) with exit 1 and a sentence', async () => {
    const dir = tempDir('tribunal-generate-');
    const empty = path.join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    const bad = path.join(dir, 'bad.jsonl');
    writeFileSync(bad, 'not json\n{"id":"x"}\n');
    const cases: Array<[string, string[], RegExp]> = [
      [empty, [], /holds no prompts: it is empty or blank/],
      [bad, ['--format', 'native'], /holds no prompts: all 2 of its lines were rejected/],
      [dir, [], /is a directory: give the path of a JSONL file/],
    ];
    for (const [input, extra, message] of cases) {
      const result = await cli('generate', [input, ...extra, '--policy', 'fake:p', '--n', '2', '--out', path.join(dir, 'gen')]);
      expect(result.code, result.err).toBe(1);
      expect(result.err).toMatch(message);
      expect(result.err).not.toMatch(/\n\s+at /);
    }
  });
});
