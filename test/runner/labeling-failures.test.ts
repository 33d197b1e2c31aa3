import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import { type DebateEvent, ERROR_CODES, type LabelRow } from '../../src/contracts/index.js';
import {
  createFakeAdapter,
  createModelRegistry,
  type FakeCall,
  judgeScript,
  type ModelRegistry,
} from '../../src/models/index.js';
import {
  BreakerSettingsSchema,
  FailureBreaker,
  isModelFailure,
  MODEL_FAILURE_CODES,
  runLabeling,
} from '../../src/runner/index.js';
import { nativeItem, readJsonl, tempDir, withRounds, writeInput } from './fixtures.js';

let registries: ModelRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.close()));
  registries = [];
});

describe('model failures', () => {
  it('count every model-caused code, and any code not known to be something else (a later REFUSED too)', () => {
    expect([...MODEL_FAILURE_CODES].sort()).toEqual(
      [
        'MODEL_CREDENTIALS_MISSING',
        'MODEL_NOT_FOUND',
        'MODEL_UNREACHABLE',
        'OUTPUT_INVALID',
        'PROVIDER_FAILED',
        'RATE_LIMITED',
        'REFUSED',
        'TIMEOUT',
      ].sort(),
    );
    expect(isModelFailure('REFUSED')).toBe(true);
    expect(isModelFailure('SOMETHING_NEW')).toBe(true);
    for (const code of ['ABORTED', 'BUDGET_EXCEEDED', 'INPUT_INVALID', 'STORE_FAILED', 'INTERNAL']) {
      expect(isModelFailure(code)).toBe(false);
    }
    for (const code of ERROR_CODES) expect(MODEL_FAILURE_CODES.includes(code)).toBe(isModelFailure(code));
  });
});

describe('FailureBreaker', () => {
  it('trips after N consecutive failures; a success resets the streak; 0 turns the rule off', () => {
    const breaker = new FailureBreaker(BreakerSettingsSchema.parse({ maxConsecutiveFailures: 3, maxFailureRate: 1 }));
    expect(breaker.record('failed')).toBeUndefined();
    expect(breaker.record('failed')).toBeUndefined();
    expect(breaker.record('labeled')).toBeUndefined();
    expect(breaker.record('failed')).toBeUndefined();
    expect(breaker.record('failed')).toBeUndefined();
    expect(breaker.record('failed')).toEqual({ rule: 'consecutive', failures: 3 });
    // Once tripped, it stays tripped.
    expect(breaker.record('labeled')).toEqual({ rule: 'consecutive', failures: 3 });

    const off = new FailureBreaker(BreakerSettingsSchema.parse({ maxConsecutiveFailures: 0, maxFailureRate: 1 }));
    for (let index = 0; index < 500; index++) expect(off.record('failed')).toBeUndefined();
  });

  it('trips when more than the rate of a full sliding window failed, not before the window is full', () => {
    const breaker = new FailureBreaker(
      BreakerSettingsSchema.parse({ maxConsecutiveFailures: 0, maxFailureRate: 0.5, failureWindow: 10 }),
    );
    // Alternating: exactly half fail, never more.
    for (let index = 0; index < 40; index++) expect(breaker.record(index % 2 === 0 ? 'failed' : 'labeled')).toBeUndefined();
    // The window now holds 5 failures of 10; one more failure (dropping a success... then a failure) tips it over.
    expect(breaker.record('failed')).toBeUndefined(); // drops a failure: still 5 of 10
    expect(breaker.record('failed')).toEqual({ rule: 'rate', failures: 6, window: 10, rate: 0.6 });

    const early = new FailureBreaker(BreakerSettingsSchema.parse({ maxConsecutiveFailures: 0, failureWindow: 10 }));
    for (let index = 0; index < 9; index++) expect(early.record('failed')).toBeUndefined();
    expect(early.record('failed')).toMatchObject({ rule: 'rate', failures: 10, window: 10 });
  });

  it('has sensible defaults: 8 in a row, more than 80% of the last 50', () => {
    expect(BreakerSettingsSchema.parse({})).toEqual({ maxConsecutiveFailures: 8, maxFailureRate: 0.8, failureWindow: 50 });
  });
});

/** The text of the candidate a critic call judges (the data block the judge reads). */
function judgedText(call: FakeCall): string {
  return /<<<BEGIN UNTRUSTED CANDIDATE (\S+)>>>\n([\s\S]*?)\n<<<END UNTRUSTED CANDIDATE \1>>>/.exec(call.user)?.[2] ?? '';
}

describe('runLabeling: a candidate with no valid turn', () => {
  it('has no score, ranks last, and no pair is made from it, in every strategy and with length control', async () => {
    const judge = judgeScript();
    const registry = createModelRegistry({
      settings: {},
      reliability: { maxRetries: 0 },
      adapters: {
        picky: () =>
          createFakeAdapter({
            // Every turn on the second candidate of each item gets invalid output (twice: the repair fails too).
            script: (call) => (judgedText(call).startsWith('Answer 2 ') ? 'no JSON here' : judge(call)),
          }),
      },
    });
    registries.push(registry);
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: 4 }, (_, index) => nativeItem(index + 1, 3)),
    );
    for (const settings of [
      { strategy: 'all-pairs' as const },
      { strategy: 'best-vs-worst' as const, lengthControl: true },
      { strategy: 'best-vs-random-lower' as const },
    ]) {
      const out = path.join(dir, settings.strategy);
      const result = await runLabeling({
        input,
        outDir: out,
        panel: withRounds(await loadPanel(), 1),
        models: registry,
        defaultModel: 'picky:judge',
        concurrency: 2,
        export: settings,
      });
      expect(result.totals).toMatchObject({ done: 4, failed: 0 });
      const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
      for (const row of labels) {
        const unjudged = row.candidates.find((candidate) => candidate.id === 'c2');
        expect(unjudged).toMatchObject({ score: null, mean: null, agreement: null, turns: 0, rank: 3 });
        expect(unjudged?.failedTurns).toBeGreaterThan(0);
        expect(row.ranking.at(-1)).toBe('c2');
        expect(row.candidates.filter((candidate) => candidate.id !== 'c2').every((candidate) => candidate.score !== null)).toBe(
          true,
        );
      }
      const pairs = readJsonl<{ chosen_id: string; rejected_id: string }>(path.join(out, 'pairs.jsonl'));
      expect(pairs.length).toBeGreaterThan(0);
      for (const pair of pairs) expect([pair.chosen_id, pair.rejected_id]).not.toContain('c2');
      expect(result.export.summary.pairs).toBe(pairs.length);
    }
  });
});

describe('runLabeling: usage after a resume', () => {
  it("a resumed item's usage counts the calls its interrupted attempt made (turns later answered from the cache)", async () => {
    let completed = 0;
    const registry = createModelRegistry({
      settings: {},
      adapters: {
        counting: (spec) => {
          // Latency keeps debates in flight when the stop lands; each call that returns is counted once.
          const inner = createFakeAdapter({ script: judgeScript(), latencyMs: Number(spec.split('=')[1] ?? 0) });
          return {
            ...inner,
            async complete(messages, call) {
              const completion = await inner.complete(messages, call);
              completed += 1;
              return completion;
            },
          };
        },
      },
    });
    registries.push(registry);
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: 8 }, (_, index) => nativeItem(index + 1, 3)),
    );
    const out = path.join(dir, 'out');
    const base = { input, outDir: out, panel: withRounds(await loadPanel(), 2), models: registry, concurrency: 4 };
    const controller = new AbortController();
    const interrupted = await runLabeling({
      ...base,
      defaultModel: 'counting:judge?latencyMs=5',
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'round-end' && event.round === 1 && !controller.signal.aborted) controller.abort();
      },
    });
    expect(interrupted.stopReason).toBe('interrupted');
    expect(interrupted.session.aborted).toBeGreaterThan(0);

    const events: DebateEvent[] = [];
    const resumed = await runLabeling({
      ...base,
      defaultModel: 'counting:judge?latencyMs=5',
      onEvent: (event) => events.push(event),
    });
    expect(resumed.totals.done).toBe(8);
    // The scenario happened: the resumed debates answered turns of the interrupted round from the cache.
    expect(events.filter((event) => event.type === 'turn-end' && event.status === 'cached').length).toBeGreaterThan(0);

    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    const labeled = labels.reduce((sum, row) => sum + row.usage.calls, 0);
    expect(labeled).toBe(completed);
    expect(resumed.totals.usage.calls).toBe(completed);
  });
});
