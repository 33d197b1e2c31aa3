import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import { type LabelRow, TribunalError } from '../../src/contracts/index.js';
import { createModelRegistry, type ModelRegistry } from '../../src/models/index.js';
import { runLabeling } from '../../src/runner/index.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import type { RecordedRequest } from '../fakes/scripted-wire-server.js';
import { ARENA, readJsonl, tempDir, withRounds } from './fixtures.js';

let registries: ModelRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.close()));
  registries = [];
});

/** A critic reply whose score depends on the request, so items differ. */
function reply(request: RecordedRequest): string {
  const size = JSON.stringify(request.body?.messages ?? '').length;
  return JSON.stringify({ rationale: `${size} chars`, principles: [], score: 1 + (size % 90) / 10, confidence: 0.7 });
}

describe('--max-cost and prices', () => {
  it('stops at --max-cost from estimated tokens when the OpenAI-compatible server reports no usage', async () => {
    const server = await startOpenAIWireServer();
    server.setScript((request) => ({ text: reply(request), omitUsage: true }));
    const pricing = { 'openai:served-model': { inputPerMillion: 40, outputPerMillion: 160 } };
    const registry = createModelRegistry({ settings: { openaiBaseUrl: server.baseURL, openaiApiKey: 'test-key' }, pricing });
    registries.push(registry);
    try {
      const out = path.join(tempDir(), 'out');
      const result = await runLabeling({
        input: ARENA,
        limit: 8,
        outDir: out,
        panel: withRounds(await loadPanel(), 0),
        models: registry,
        defaultModel: 'openai:served-model',
        concurrency: 1,
        maxCostUsd: 3,
      });
      // Without the estimate every call would cost $0 and all 8 items would run.
      expect(result.stopReason).toBe('max-cost');
      expect(result.totals.done).toBeGreaterThan(0);
      expect(result.totals.done).toBeLessThan(8);
      const { usage } = result.session;
      // Every answered call was counted from the estimate and priced: the spend reached the cap's neighbourhood.
      expect(usage.estimatedCalls).toBeGreaterThan(0);
      expect(usage.inputTokens).toBeGreaterThan(usage.calls * 100);
      expect(usage.costUsd).toBeCloseTo((usage.inputTokens * 40 + usage.outputTokens * 160) / 1e6, 9);
      expect(usage.costUsd).toBeGreaterThan(1.5);
      expect(server.requests.length).toBeLessThan(8 * 12);
      // Label rows and the dataset card say the counts are estimates.
      const rows = readJsonl<LabelRow>(result.export.files.labels);
      expect(rows.every((row) => row.usage.estimatedCalls === row.usage.calls)).toBe(true);
      const card = readFileSync(result.export.files.card, 'utf8');
      expect(card).toMatch(/reported no token usage for \d+ calls: their tokens are estimated/);
    } finally {
      await server.close();
    }
  });

  it('counts the server-reported usage when there is one, and marks nothing as estimated', async () => {
    const server = await startOpenAIWireServer();
    server.setScript((request) => ({ text: reply(request), inputTokens: 1000, outputTokens: 100 }));
    const registry = createModelRegistry({
      settings: { openaiBaseUrl: server.baseURL, openaiApiKey: 'test-key' },
      pricing: { 'openai:*': { inputPerMillion: 1, outputPerMillion: 10 } },
    });
    registries.push(registry);
    try {
      const result = await runLabeling({
        input: ARENA,
        limit: 1,
        outDir: path.join(tempDir(), 'out'),
        panel: withRounds(await loadPanel(), 0),
        models: registry,
        defaultModel: 'openai:served-model',
        concurrency: 1,
        maxCostUsd: 5,
      });
      expect(result.status).toBe('done');
      const { costUsd, ...tokens } = result.session.usage;
      expect(tokens).toEqual({ inputTokens: 12_000, outputTokens: 1_200, calls: 12 });
      expect(costUsd).toBeCloseTo(0.024, 12);
    } finally {
      await server.close();
    }
  });

  it('refuses --max-cost over a model without a known price before the run starts, naming the model and the fix', async () => {
    const server = await startOpenAIWireServer();
    server.setScript((request) => ({ text: reply(request), omitUsage: true }));
    // gpt-4.1-mini has an OpenAI list price, but not on an OpenAI-compatible server: it may cost anything there.
    const registry = createModelRegistry({ settings: { openaiBaseUrl: server.baseURL, openaiApiKey: 'test-key' } });
    registries.push(registry);
    try {
      const out = path.join(tempDir(), 'out');
      const run = runLabeling({
        input: ARENA,
        limit: 2,
        outDir: out,
        panel: withRounds(await loadPanel(), 0),
        models: registry,
        defaultModel: 'openai:gpt-4.1-mini',
        concurrency: 1,
        maxCostUsd: 1,
      });
      await expect(run).rejects.toThrow(TribunalError);
      await expect(run).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(run).rejects.toThrow(
        /no price known for openai:gpt-4\.1-mini.*--price openai:gpt-4\.1-mini=in:USD,out:USD.*--prices FILE.*prices:.*drop --max-cost/,
      );
      expect(server.requests).toHaveLength(0);
      expect(existsSync(path.join(out, STORE_FILE_NAME))).toBe(false);
    } finally {
      await server.close();
    }
  });
});
