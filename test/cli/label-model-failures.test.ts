import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { WireReply, WireServer } from '../fakes/scripted-wire-server.js';
import { nativeItem, REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

/** A key shaped like a real one: it must never reach any output. */
const KEY = 'sk-test-9f8e7d6c5b4a39281706';
const MODEL_ENV = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'TRIBUNAL_MODEL',
  'TRIBUNAL_CONCURRENCY',
  'TRIBUNAL_MAX_RETRIES',
  'TRIBUNAL_TIMEOUT_MS',
];
let savedEnv: Record<string, string | undefined> = {};
let server: WireServer & { baseURL: string };
beforeEach(async () => {
  savedEnv = Object.fromEntries(MODEL_ENV.map((name) => [name, process.env[name]]));
  for (const name of MODEL_ENV) delete process.env[name];
  server = await startOpenAIWireServer();
  process.env.OPENAI_BASE_URL = server.baseURL;
  process.env.OPENAI_API_KEY = KEY;
  // One attempt per call: the failure kinds are what is tested, not the backoff.
  process.env.TRIBUNAL_MAX_RETRIES = '0';
});
afterEach(async () => {
  await server.close();
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function cli(args: string[]) {
  const io = captureIo(REPO_ROOT);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err(), all: `${io.out()}\n${io.err()}` };
}

function items(dir: string, count: number): string {
  return writeInput(
    dir,
    Array.from({ length: count }, (_, index) => nativeItem(index + 1, 2)),
  );
}

/** A valid assessment, scored from the request so candidates differ. */
function assessment(request: { body?: Record<string, unknown> | undefined }): WireReply {
  const size = JSON.stringify(request.body?.messages ?? '').length;
  return {
    text: JSON.stringify({
      rationale: `Judged ${size} characters.`,
      principles: [],
      score: 1 + (size % 90) / 10,
      confidence: 0.7,
    }),
  };
}

/** The item number a request is about (native items ask "Question N: ..."). */
function questionOf(request: { body?: Record<string, unknown> | undefined }): number {
  return Number(/Question (\d+):/.exec(JSON.stringify(request.body?.messages ?? ''))?.[1] ?? 0);
}

const LABEL = ['--model', 'openai:served-model', '--max-rounds', '0'];

describe('a provider that always fails: every failure kind exits 3 with a summary', () => {
  const kinds: Array<{ kind: string; reply: WireReply; code: string; timeoutMs?: number }> = [
    { kind: 'HTTP 500', reply: { status: 500, message: 'upstream exploded' }, code: 'PROVIDER_FAILED' },
    {
      kind: 'HTTP 401',
      reply: { status: 401, message: `Incorrect API key provided: ${KEY}` },
      code: 'MODEL_CREDENTIALS_MISSING',
    },
    {
      kind: 'HTTP 404',
      reply: { status: 404, message: `The model does not exist or key ${KEY} has no access` },
      code: 'MODEL_NOT_FOUND',
    },
    { kind: 'HTTP 429', reply: { status: 429, message: 'slow down' }, code: 'RATE_LIMITED' },
    { kind: 'invalid output', reply: { text: 'I would rather not answer in JSON.' }, code: 'OUTPUT_INVALID' },
    { kind: 'timeout', reply: { hang: true }, code: 'TIMEOUT', timeoutMs: 150 },
  ];

  for (const { kind, reply, code, timeoutMs } of kinds) {
    it(`${kind}: a small run labels nothing and exits 3, counting ${code} with an example and no key`, async () => {
      if (timeoutMs !== undefined) process.env.TRIBUNAL_TIMEOUT_MS = String(timeoutMs);
      server.setScript(() => reply);
      const dir = tempDir();
      const out = path.join(dir, 'out');
      const result = await cli(['label', items(dir, 3), '--out', out, ...LABEL]);
      expect(result.code, result.all).toBe(EXIT.model);
      expect(result.out).toContain('0/3 items labeled, 3 failed');
      expect(result.out).toContain('3 items failed (because of the model):');
      expect(result.out).toMatch(new RegExp(`  ${code}: 3 items — e\\.g\\. item item-1 \\(line 1\\): every critic turn failed`));
      expect(result.out).toContain('No item was labeled');
      expect(result.all).not.toContain(KEY);
      expect(readFileSync(path.join(out, 'tribunal.sqlite')).includes(KEY)).toBe(false);
      expect(readJsonl(path.join(out, 'labels.jsonl'))).toEqual([]);
    });
  }

  it('HTTP 500 on a long run: the breaker stops after 8 items in a row, the rest stay pending and a rerun picks them up', async () => {
    server.setScript(() => ({ status: 500, message: 'upstream exploded' }));
    const dir = tempDir();
    const input = items(dir, 14);
    const out = path.join(dir, 'out');
    const args = ['label', input, '--out', out, ...LABEL, '--concurrency', '2'];
    const stopped = await cli([...args, '--json']);
    expect(stopped.code, stopped.all).toBe(EXIT.model);
    const summary = JSON.parse(stopped.out) as {
      status: string;
      stopReason: string;
      totals: { failed: number; pending: number; done: number };
      failures: { failed: number; modelFailed: number; byCode: Array<{ code: string; items: number }> };
      breaker: { rule: string; failures: number };
    };
    expect(summary).toMatchObject({
      status: 'stopped',
      stopReason: 'provider-failing',
      breaker: { rule: 'consecutive', failures: 8 },
    });
    expect(summary.totals).toMatchObject({ failed: 8, done: 0, pending: 6 });
    expect(summary.failures).toMatchObject({ failed: 8, modelFailed: 8, byCode: [{ code: 'PROVIDER_FAILED', items: 8 }] });
    expect(stopped.err).toContain('Stopped early: 8 items in a row failed because of the model (--max-consecutive-failures)');
    // Not one call more than the stopped items needed: 8 items x 2 candidates x 3 critics, plus what was in flight.
    expect(server.requests.length).toBeLessThan(10 * 6);

    // The provider is back: the rerun labels the pending items; the failed ones still count against the run.
    server.setScript(assessment);
    const resumed = await cli(args);
    expect(resumed.code, resumed.all).toBe(EXIT.model);
    expect(resumed.out).toContain('6/14 items labeled, 8 failed');
    expect(resumed.out).toContain('Only 42.9% of the items the model was asked about got a label (--min-success-rate 50%).');
    const retried = await cli([...args, '--retry-failed']);
    expect(retried.code, retried.all).toBe(EXIT.ok);
    expect(retried.out).toContain('14/14 items labeled');
    const ids = readJsonl<LabelRow>(path.join(out, 'labels.jsonl')).map((row) => row.id);
    expect(new Set(ids).size).toBe(14);
    expect(ids).toHaveLength(14);
  });

  it('a share of items below --min-success-rate exits 3; a lower rate accepts it; the breaker flags are honoured', async () => {
    // Items 1-6 always fail, 7-10 are judged: 40% labeled, never 8 failures in a row.
    server.setScript((request) => (questionOf(request) <= 6 ? { status: 503, message: 'overloaded' } : assessment(request)));
    const dir = tempDir();
    const input = items(dir, 10);
    const base = [input, ...LABEL, '--concurrency', '1'];
    const low = await cli(['label', ...base, '--out', path.join(dir, 'a')]);
    expect(low.code, low.all).toBe(EXIT.model);
    expect(low.out).toContain('4/10 items labeled, 6 failed');
    expect(low.out).toContain('PROVIDER_FAILED: 6 items — e.g. item item-1 (line 1)');
    expect(low.out).toContain('Only 40% of the items');

    const accepted = await cli(['label', ...base, '--out', path.join(dir, 'b'), '--min-success-rate', '0.3']);
    expect(accepted.code, accepted.all).toBe(EXIT.ok);
    expect(accepted.out).toContain('6 items failed');
    expect(accepted.out).not.toContain('Only');

    const tripped = await cli(['label', ...base, '--out', path.join(dir, 'c'), '--max-consecutive-failures', '3']);
    expect(tripped.code, tripped.all).toBe(EXIT.model);
    expect(tripped.out).toContain('Stopped early: 3 items in a row failed');
    expect(tripped.out).toMatch(/0\/10 items labeled, 3 failed, 7 pending/);

    const rate = await cli([
      'label',
      ...base,
      '--out',
      path.join(dir, 'd'),
      '--max-consecutive-failures',
      '0',
      '--max-failure-rate',
      '0.5',
      '--failure-window',
      '4',
    ]);
    expect(rate.code, rate.all).toBe(EXIT.model);
    expect(rate.out).toContain(
      'Stopped early: 4 of the last 4 items failed because of the model (100%, over --max-failure-rate)',
    );

    for (const bad of [
      ['--min-success-rate', '1.5'],
      ['--max-failure-rate', '-1'],
      ['--failure-window', '0'],
      ['--max-consecutive-failures', 'x'],
    ]) {
      expect((await cli(['label', ...base, '--out', path.join(dir, 'e'), ...bad])).code).toBe(EXIT.usage);
    }
  });

  it('eval and ablate exit 3 with the summary when the provider always fails', async () => {
    server.setScript(() => ({ status: 500, message: 'upstream exploded' }));
    const dir = tempDir();
    const gold = writeInput(
      dir,
      Array.from({ length: 3 }, (_, index) => ({ ...nativeItem(index + 1, 2), meta: { humanPreferred: 'c1' } })),
    );
    const evaluated = await cli(['eval', '--gold', gold, '--out', path.join(dir, 'eval'), ...LABEL]);
    expect(evaluated.code, evaluated.all).toBe(EXIT.model);
    expect(evaluated.err).toContain('3 items failed (because of the model):');
    expect(evaluated.err).toContain('PROVIDER_FAILED: 3 items');
    expect(evaluated.err).toContain('No report was written');

    const ablated = await cli(['ablate', '--gold', gold, '--out', path.join(dir, 'ablate'), '--model', 'openai:served-model']);
    expect(ablated.code, ablated.all).toBe(EXIT.model);
    expect(ablated.err).toContain('single: 3 items failed (because of the model):');
    expect(ablated.err).toContain('single: No item was labeled');
  });
});

describe('tribunal debate with no successful turn', () => {
  it('has no verdict and exits 3 (HTTP 500 and invalid output)', async () => {
    for (const args of [
      ['--model', 'openai:served-model'],
      ['--model', 'fake:judge?failEvery=1'],
    ]) {
      server.setScript(() => ({ status: 500, message: 'upstream exploded' }));
      const result = await cli([
        'debate',
        '--prompt',
        'Is water wet?',
        '--candidate',
        'Yes.',
        '--candidate',
        'No.',
        '--max-rounds',
        '0',
        ...args,
      ]);
      expect(result.code, result.all).toBe(EXIT.model);
      expect(result.out).not.toContain('Preferred');
      expect(result.out).toContain('No verdict: no critic turn succeeded');
      expect(result.out).toMatch(/converged\s+—\s+—/);
      expect(result.err).toMatch(/No verdict: none of the 6 critic turns succeeded/);
      expect(result.err).toMatch(/(PROVIDER_FAILED|OUTPUT_INVALID): 6 turns — e\.g\./);
    }
  });

  it('names a candidate without a score and still prefers a scored one (exit 0)', async () => {
    // Every turn on the second candidate fails; the first is judged.
    server.setScript((request) =>
      JSON.stringify(request.body?.messages ?? '').includes('Nope, never.') ? { status: 500 } : assessment(request),
    );
    const result = await cli([
      'debate',
      '--prompt',
      'Is water wet?',
      '--candidate',
      'Yes, it is.',
      '--candidate',
      'Nope, never.',
      '--max-rounds',
      '0',
      '--model',
      'openai:served-model',
    ]);
    expect(result.code, result.all).toBe(EXIT.ok);
    expect(result.out).toContain('Preferred: c1');
    expect(result.out).toContain('No score (every turn on it failed): c2');
  });
});
