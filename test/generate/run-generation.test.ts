import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CandidatesRow } from '../../src/contracts/index.js';
import { candidatesRow, runGeneration } from '../../src/generate/index.js';
import { parseSettings } from '../../src/models/index.js';
import { RunDirectoryLockedError } from '../../src/store/index.js';
import { startAnthropicWireServer } from '../fakes/anthropic-wire-server.js';
import type { WireServer } from '../fakes/scripted-wire-server.js';
import { readJsonl, tempDir, writeInput } from '../runner/fixtures.js';
import { fakePython } from '../trainer/trainer-fixtures.js';

const NO_ENV = (() => {
  const parsed = parseSettings({});
  if (!parsed.success) throw parsed.error;
  return parsed.value;
})();

function prompts(dir: string, count: number): string {
  return writeInput(
    dir,
    Array.from({ length: count }, (_, index) => ({ id: `q${index}`, prompt: `question ${index}` })),
    'prompts.jsonl',
  );
}

describe('runGeneration', () => {
  it('stops on abort with the sampled prompts written out, and the next session finishes the rest', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = prompts(dir, 12);
    const outDir = path.join(dir, 'gen');
    const controller = new AbortController();
    const common = { input, outDir, policy: 'fake:policy?latencyMs=20', n: 2, concurrency: 2, settings: NO_ENV };
    const stopped = await runGeneration({
      ...common,
      signal: controller.signal,
      progressIntervalMs: 5,
      onProgress: (progress) => {
        if (progress.done >= 3) controller.abort();
      },
    });
    expect(stopped.status).toBe('stopped');
    expect(stopped.stopReason).toBe('interrupted');
    expect(stopped.totals.done).toBeGreaterThanOrEqual(3);
    expect(stopped.totals.done).toBeLessThan(12);
    expect(stopped.totals.running).toBe(0);
    expect(readJsonl(path.join(outDir, 'candidates.jsonl'))).toHaveLength(stopped.totals.done);

    const finished = await runGeneration(common);
    expect(finished).toMatchObject({ status: 'done', opening: 'resumed', totals: { done: 12, pending: 0 } });
    expect(finished.session.done).toBe(12 - stopped.totals.done);
    expect(readJsonl<CandidatesRow>(path.join(outDir, 'candidates.jsonl')).map((row) => row.id)).toEqual(
      Array.from({ length: 12 }, (_, index) => `q${index}`),
    );
  });

  it('stops the Python worker on abort after the prompt it is sampling, keeping what it sent', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = prompts(dir, 20);
    const outDir = path.join(dir, 'gen');
    const controller = new AbortController();
    const common = { input, outDir, policy: 'tiny', n: 2, maxTokens: 16, settings: NO_ENV, worker: { device: 'cpu' as const } };
    const stopped = await runGeneration({
      ...common,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.done >= 2) controller.abort();
      },
    });
    expect(stopped.stopReason).toBe('interrupted');
    expect(stopped.totals.done).toBeGreaterThanOrEqual(2);
    expect(stopped.totals.done).toBeLessThan(20);
    expect(stopped.totals).toMatchObject({ running: 0, pending: 20 - stopped.totals.done });
    const finished = await runGeneration(common);
    expect(finished.totals).toMatchObject({ done: 20, pending: 0 });
    // the worker's tokens are the session's usage (no calls: it runs here)
    expect(finished.session.usage.calls).toBe(0);
    expect(finished.session.usage.outputTokens).toBe(finished.export.tokens - stopped.export.tokens);
  }, 60_000);

  it('fails, keeping what arrived, when the worker stops early or dies, and says what to do', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = prompts(dir, 3);
    const outDir = path.join(dir, 'gen');
    const sample = (id: string) =>
      JSON.stringify({
        v: 1,
        type: 'sample',
        seq: 2,
        time: 1,
        id,
        prompt_tokens: 3,
        samples: [{ index: 0, text: `answer to ${id}`, tokens: 3, logprob: -1.5, finish: 'stop' }],
      });
    const start = JSON.stringify({
      v: 1,
      type: 'start',
      seq: 1,
      time: 1,
      command: 'generate',
      prompts: 3,
      device: 'cpu',
      torch: 'fake',
      checkpoint: null,
      step: 0,
      model: { family: 'tiny', parameters: 1, lora: null },
    });
    const stopped = JSON.stringify({
      v: 1,
      type: 'done',
      seq: 3,
      time: 1,
      status: 'stopped',
      prompts: 1,
      samples: 1,
      tokens: 3,
      tokens_per_s: null,
    });
    // stopped by someone else's SIGTERM: exit 0 with `done` stopped
    const early = fakePython(dir, `echo '${start}'; echo '${sample('q0')}'; echo '${stopped}'`);
    const common = { input, outDir, policy: 'tiny', n: 1, settings: NO_ENV };
    await expect(runGeneration({ ...common, worker: { python: early } })).rejects.toThrow(
      /stopped from outside .* run the same command again/,
    );
    // dies without a word: the log tail is quoted
    const dying = fakePython(dir, `echo '${start}'; echo '${sample('q1')}'; echo 'Segmentation fault' >&2; exit 139`);
    await expect(runGeneration({ ...common, worker: { python: dying } })).rejects.toThrow(
      /exited with code 139[\s\S]*Segmentation fault/,
    );
    // what arrived was kept: two prompts are done, the third waits
    const finishing = fakePython(
      dir,
      `echo '${start}'; echo '${sample('q2')}'; echo '${stopped.replace('"stopped"', '"completed"')}'`,
    );
    const result = await runGeneration({ ...common, worker: { python: finishing } });
    expect(result.totals).toMatchObject({ done: 3, pending: 0, running: 0 });
    expect(readJsonl<CandidatesRow>(path.join(outDir, 'candidates.jsonl')).map((row) => row.candidates[0]?.text)).toEqual([
      'answer to q0',
      'answer to q1',
      'answer to q2',
    ]);
  });

  it('refuses a second session on the same run directory while one runs', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = prompts(dir, 4);
    const outDir = path.join(dir, 'gen');
    const common = { input, outDir, policy: 'fake:policy?latencyMs=50', n: 1, settings: NO_ENV };
    const first = runGeneration(common);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(runGeneration(common)).rejects.toBeInstanceOf(RunDirectoryLockedError);
    expect((await first).totals.done).toBe(4);
  });

  it('fails early, naming the directory, for a checkpoint policy that is not a dpo run', async () => {
    const dir = tempDir('tribunal-generate-');
    const input = prompts(dir, 1);
    await expect(
      runGeneration({ input, outDir: path.join(dir, 'gen'), policy: `checkpoint:${dir}`, n: 1, settings: NO_ENV }),
    ).rejects.toThrow(/not a training run/);
  });
});

describe('candidatesRow', () => {
  it('folds identical samples into the first, counting copies, and keeps the first sample index as the id', () => {
    const row = candidatesRow({
      item: { id: 'x', prompt: 'p', candidates: [], meta: { source: 'native', conversational: false, note: 'kept' } },
      generation: {
        policy: 'fake:p',
        usage: { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 },
        samples: [
          { index: 0, text: 'b', tokens: 1, logprob: -1, finish: 'stop' },
          { index: 1, text: 'a', tokens: 1, logprob: null, finish: 'length' },
          { index: 2, text: 'b', tokens: 1, logprob: -1, finish: 'stop' },
          { index: 3, text: 'b', tokens: 1, logprob: -1, finish: 'stop' },
        ],
      },
    });
    expect(row.candidates.map((candidate) => [candidate.id, candidate.text, candidate.meta.copies])).toEqual([
      ['s0', 'b', 3],
      ['s1', 'a', 1],
    ]);
    expect(row.candidates[1]?.meta).not.toHaveProperty('logprob');
    expect(row.meta).toEqual({ note: 'kept', generation: { policy: 'fake:p', samples: 4, unique: 2, duplicates: 2 } });
  });
});

describe('the anthropic policy', () => {
  let server: (WireServer & { baseURL?: string }) | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('asks once per sample with the sampling settings and the system prompt apart', async () => {
    server = await startAnthropicWireServer();
    let count = 0;
    server.setScript(() => ({ text: `reply ${count++ % 2}`, inputTokens: 5, outputTokens: 2 }));
    const dir = tempDir('tribunal-generate-');
    const input = writeInput(dir, [
      {
        id: 'c',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello' },
        ],
      },
    ]);
    const settings = { ...NO_ENV, anthropicApiKey: 'sk-ant-test-key-123456', anthropicBaseUrl: server.origin };
    const result = await runGeneration({
      input,
      outDir: path.join(dir, 'gen'),
      policy: 'anthropic:claude-test',
      n: 3,
      temperature: 0.5,
      topP: 0.8,
      maxTokens: 40,
      settings,
    });
    expect(result.totals.done).toBe(1);
    expect(server.requests).toHaveLength(3);
    expect(server.requests[0]?.body).toMatchObject({
      model: 'claude-test',
      max_tokens: 40,
      temperature: 0.5,
      top_p: 0.8,
      system: 'be brief',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(server.requests[0]?.headers['x-api-key']).toBe('sk-ant-test-key-123456');
    const [row] = readJsonl<CandidatesRow>(path.join(dir, 'gen', 'candidates.jsonl'));
    expect(row?.candidates.map((candidate) => [candidate.text, candidate.meta.copies, candidate.meta.tokens])).toEqual([
      ['reply 0', 2, 2],
      ['reply 1', 1, 2],
    ]);
    expect(result.session.usage).toMatchObject({ calls: 3, inputTokens: 15, outputTokens: 6 });
  });
});
