import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPanel } from '../../src/config/index.js';
import {
  type DebateEvent,
  type DebateInput,
  FileValidationError,
  type LabelRow,
  LabelRowSchema,
  OpenAiPreferenceRowSchema,
  PreferencePairSchema,
  TrlConversationalPreferenceSchema,
  TrlStandardPreferenceSchema,
} from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { createFakeAdapter, createModelRegistry, judgeScript, type ModelRegistry } from '../../src/models/index.js';
import { exportRun, type LabelingProgress, REJECTED_FILE, runLabeling } from '../../src/runner/index.js';
import {
  LOCK_OWNER_FILE_NAME,
  lockRunDirectory,
  openStore,
  RunDirectoryLockedError,
  STORE_FILE_NAME,
} from '../../src/store/index.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import {
  ARENA,
  copyLibrary,
  fakeModels,
  HH,
  labelEssence,
  nativeItem,
  readJsonl,
  tempDir,
  turnStatuses,
  withRounds,
  writeInput,
} from './fixtures.js';

const OUTPUT_FILES = ['labels.jsonl', 'pairs.jsonl', 'README.md', 'score-distribution.svg'];

let registries: ModelRegistry[] = [];
function models(): ModelRegistry {
  const registry = fakeModels();
  registries.push(registry);
  return registry;
}
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.close()));
  registries = [];
});

function readFiles(dir: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, readFileSync(path.join(dir, name), 'utf8')]));
}

describe('runLabeling', () => {
  it('labels every item exactly once, copies bad lines to rejected.jsonl and writes TRL pairs', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [
      nativeItem(1),
      nativeItem(2),
      '{"id": "broken", "prompt": "unterminated',
      nativeItem(3),
      { id: 'no-candidates', prompt: 'Hello?' },
      nativeItem(4),
      nativeItem(5),
      nativeItem(6),
    ]);
    const out = path.join(dir, 'out');
    const panel = withRounds(await loadPanel(), 1);
    const rejected: number[] = [];
    const progress: LabelingProgress[] = [];
    const result = await runLabeling({
      input,
      outDir: out,
      panel,
      models: models(),
      defaultModel: 'fake:judge',
      concurrency: 3,
      onRejected: (rejection) => rejected.push(rejection.line),
      onProgress: (snapshot) => progress.push(snapshot),
    });

    expect(result.status).toBe('done');
    expect(result.opening).toBe('created');
    expect(result.totals).toMatchObject({ items: 6, done: 6, pending: 0, running: 0, failed: 0, rejectedLines: 2 });
    expect(rejected).toEqual([3, 5]);
    const rejectedRows = readJsonl<{ line: number; code: string; reason: string; raw: string }>(path.join(out, REJECTED_FILE));
    expect(rejectedRows.map((row) => [row.line, row.code])).toEqual([
      [3, 'invalid-json'],
      [5, 'invalid-field'],
    ]);
    expect(rejectedRows[0]?.raw).toContain('unterminated');
    expect(rejectedRows[1]?.reason).toMatch(/candidates/);

    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labels.map((row) => row.id)).toEqual(['item-1', 'item-2', 'item-3', 'item-4', 'item-5', 'item-6']);
    for (const row of labels) {
      expect(LabelRowSchema.safeParse(row).success).toBe(true);
      expect(row.runId).toBe(result.runId);
      expect(row.panel.hash).toBe(panel.hash);
      expect(row.candidates.every((candidate) => candidate.score !== null)).toBe(true);
    }
    const pairs = readJsonl(path.join(out, 'pairs.jsonl'));
    expect(pairs.length).toBe(result.export.summary.pairs);
    expect(pairs.length).toBeGreaterThan(0);
    for (const pair of pairs) {
      expect(PreferencePairSchema.safeParse(pair).success).toBe(true);
      expect(TrlStandardPreferenceSchema.safeParse(pair).success).toBe(true);
      expect(pair.margin).toBeGreaterThan(0);
      expect(pair.score_chosen).toBeGreaterThan(pair.score_rejected as number);
    }
    const card = readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain('score-distribution.svg');
    expect(result.export.summary.rejected).toBe(2);
    const last = progress.at(-1);
    expect(last).toMatchObject({ total: 6, done: 6, pending: 0, running: 0 });
    expect(last?.usage.calls).toBeGreaterThan(0);
  });

  it('deltaIntervalMs: watchers get one delta per turn and chunk burst; labels, pairs and stored events as with every token', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), nativeItem(3)]);
    const panel = withRounds(await loadPanel(), 1);
    const label = async (name: string, deltaIntervalMs?: number) => {
      const out = path.join(dir, name);
      const events: DebateEvent[] = [];
      const result = await runLabeling({
        input,
        outDir: out,
        panel,
        models: models(),
        defaultModel: 'fake:judge?chunks=8',
        concurrency: 2,
        onEvent: (event) => events.push(event),
        ...(deltaIntervalMs === undefined ? {} : { deltaIntervalMs }),
      });
      const store = openStore({ dir: out, readonly: true });
      const stored: DebateEvent[] = [];
      try {
        for (const entry of await store.eventsAfter({ runId: result.runId, limit: 10_000 })) stored.push(entry.event);
      } finally {
        await store.close();
      }
      const normalized = (file: string) =>
        readFileSync(path.join(out, file), 'utf8')
          .replaceAll(result.runId, 'RUN')
          .replace(/"debateId":"[^"]*"/g, '"debateId":"D"');
      return { events, stored, labels: normalized('labels.jsonl'), pairs: normalized('pairs.jsonl') };
    };
    const each = await label('each');
    const joined = await label('joined', 60_000);
    const deltas = (events: readonly DebateEvent[]) => events.filter((event) => event.type === 'turn-delta');
    const turns = (events: readonly DebateEvent[]) => events.filter((event) => event.type === 'turn-end').length;
    expect(deltas(joined.events)).toHaveLength(turns(joined.events));
    expect(deltas(each.events).length).toBe(8 * turns(each.events));
    expect(joined.labels).toBe(each.labels);
    expect(joined.pairs).toBe(each.pairs);
    // What the store keeps after pruning (no deltas of done items) is the same events either way.
    const kept = (events: readonly DebateEvent[]) =>
      events.map((event) => `${event.type} ${'turnId' in event ? event.turnId : ''}`);
    expect(kept(joined.stored)).toEqual(kept(each.stored));
  });

  it('resumes: a rerun skips done items and `exportRun` regenerates identical files', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), 'not json', nativeItem(3)]);
    const out = path.join(dir, 'out');
    const panel = withRounds(await loadPanel(), 1);
    const options = {
      input,
      outDir: out,
      panel,
      defaultModel: 'fake:judge',
      concurrency: 2,
      export: { strategy: 'all-pairs' as const },
    };
    const first = await runLabeling({ ...options, models: models() });
    const files = readFiles(out, [...OUTPUT_FILES, REJECTED_FILE]);
    const events: DebateEvent[] = [];
    const second = await runLabeling({ ...options, models: models(), onEvent: (event) => events.push(event) });
    expect(second.opening).toBe('resumed');
    expect(second.runId).toBe(first.runId);
    expect(second.session).toMatchObject({ done: 0, failed: 0 });
    expect(second.session.usage.calls).toBe(0);
    expect(events).toEqual([]);
    expect(readFiles(out, [...OUTPUT_FILES, REJECTED_FILE])).toEqual(files);

    const store = openStore({ dir: out, readonly: true });
    try {
      await exportRun({ store, runId: first.runId, directory: out, settings: { strategy: 'all-pairs' } });
    } finally {
      await store.close();
    }
    expect(readFiles(out, [...OUTPUT_FILES, REJECTED_FILE])).toEqual(files);
  });

  it('--strict refuses an input with a bad line before it creates a store', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), '{"prompt": 3}', nativeItem(2)]);
    const out = path.join(dir, 'out');
    const failure = await runLabeling({
      input,
      outDir: out,
      panel: await loadPanel(),
      models: models(),
      defaultModel: 'fake:judge',
      concurrency: 1,
      strict: true,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(FileValidationError);
    expect((failure as FileValidationError).code).toBe('INPUT_INVALID');
    expect((failure as FileValidationError).issues.map((issue) => issue.line)).toEqual([2]);
    expect(existsSync(path.join(out, STORE_FILE_NAME))).toBe(false);
  });

  it('stops cleanly at a --max-calls budget and a rerun finishes with every item labeled once', async () => {
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: 8 }, (_, index) => nativeItem(index + 1, 2)),
    );
    const panel = withRounds(await loadPanel(), 1);
    const base = { input, panel, defaultModel: 'fake:judge', concurrency: 2 };

    const reference = await runLabeling({ ...base, outDir: path.join(dir, 'reference'), models: models() });
    const perItem = reference.session.usage.calls / 8;

    const out = path.join(dir, 'capped');
    const capped = await runLabeling({ ...base, outDir: out, models: models(), maxCalls: Math.floor(perItem * 3.5) });
    expect(capped.status).toBe('stopped');
    expect(capped.stopReason).toBe('max-calls');
    expect(capped.totals.done).toBeGreaterThan(0);
    expect(capped.totals.done).toBeLessThan(8);
    expect(capped.session.usage.calls).toBeLessThanOrEqual(Math.floor(perItem * 3.5));
    const store = openStore({ dir: out, readonly: true });
    expect((await store.getRun({ runId: capped.runId }))?.status).toBe('stopped');
    await store.close();
    // What was done is exported.
    expect(readJsonl(path.join(out, 'labels.jsonl'))).toHaveLength(capped.totals.done);

    const resumed = await runLabeling({ ...base, outDir: out, models: models() });
    expect(resumed.status).toBe('done');
    expect(resumed.opening).toBe('resumed');
    expect(resumed.session.done).toBe(8 - capped.totals.done);
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(dir, 'reference', 'labels.jsonl'))));
  });

  it('stops on abort: in-flight debates go back to the queue and resume from their checkpoints', async () => {
    const dir = tempDir();
    const input = writeInput(
      dir,
      Array.from({ length: 10 }, (_, index) => nativeItem(index + 1, 2)),
    );
    const panel = await loadPanel();
    const base = { input, panel, concurrency: 3 };
    await runLabeling({
      ...base,
      outDir: path.join(dir, 'reference'),
      models: models(),
      defaultModel: 'fake:judge',
    });

    const out = path.join(dir, 'out');
    const controller = new AbortController();
    const interrupted = await runLabeling({
      ...base,
      outDir: out,
      models: models(),
      // Latency keeps debates in flight when the abort lands; the judge's scores do not depend on it.
      defaultModel: 'fake:judge?latencyMs=5',
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'round-end' && event.round === 1 && !controller.signal.aborted) controller.abort();
      },
    });
    expect(interrupted.status).toBe('stopped');
    expect(interrupted.stopReason).toBe('interrupted');
    expect(interrupted.session.aborted).toBeGreaterThan(0);
    expect(interrupted.totals.running).toBe(0);
    expect(interrupted.totals.done).toBeLessThan(10);

    const events: DebateEvent[] = [];
    const resumed = await runLabeling({
      ...base,
      outDir: out,
      models: models(),
      defaultModel: 'fake:judge?latencyMs=5',
      onEvent: (event) => events.push(event),
    });
    expect(resumed.status).toBe('done');
    expect(resumed.totals.done).toBe(10);
    // A resumed debate skips the rounds its checkpoint holds: some debate restarts after round 0.
    const firstRound = new Map<string, number>();
    for (const event of events) {
      if (event.type === 'round-end' && !firstRound.has(event.debateId)) firstRound.set(event.debateId, event.round);
    }
    expect([...firstRound.values()].some((round) => round > 0)).toBe(true);
    // Seqs stay unique per debate across the two sessions.
    const store = openStore({ dir: out, readonly: true });
    for (const debate of await store.listDebates({ runId: resumed.runId })) {
      const stored = await store.eventsAfter({ runId: resumed.runId, debateId: debate.debateId, limit: 100_000 });
      const seqs = stored.map((entry) => entry.event.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    await store.close();
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labelEssence(labels)).toEqual(labelEssence(readJsonl<LabelRow>(path.join(dir, 'reference', 'labels.jsonl'))));
  });

  it('stops at --max-cost with a priced model on an OpenAI-compatible server, spending no more than the cap', async () => {
    const server = await startOpenAIWireServer();
    server.setScript((request) => {
      const size = JSON.stringify(request.body?.messages ?? '').length;
      const text = JSON.stringify({ rationale: `${size} chars`, principles: [], score: 1 + (size % 90) / 10, confidence: 0.7 });
      return { text, inputTokens: 10_000, outputTokens: 1_000 };
    });
    // $0.40 in and $1.60 out per million tokens: $0.0056 a call, 12 calls (4 candidates x 3 critics) an item.
    const registry = createModelRegistry({
      settings: { openaiBaseUrl: server.baseURL, openaiApiKey: 'test-key' },
      pricing: { 'openai:served-model': { inputPerMillion: 0.4, outputPerMillion: 1.6 } },
    });
    registries.push(registry);
    try {
      const out = path.join(tempDir(), 'out');
      const base = {
        input: ARENA,
        limit: 6,
        outDir: out,
        panel: withRounds(await loadPanel(), 0),
        defaultModel: 'openai:served-model',
        concurrency: 1,
      };
      const capped = await runLabeling({ ...base, models: registry, maxCostUsd: 0.15 });
      expect(capped.stopReason).toBe('max-cost');
      expect(capped.totals.done).toBe(2);
      expect(capped.session.usage.costUsd).toBeCloseTo(2 * 12 * 0.0056, 9);
      expect(server.requests).toHaveLength(24);

      const resumed = await runLabeling({ ...base, models: registry, maxCostUsd: 1 });
      expect(resumed.status).toBe('done');
      expect(resumed.totals.done).toBe(6);
      expect(resumed.totals.usage.costUsd).toBeCloseTo(6 * 12 * 0.0056, 9);
    } finally {
      await server.close();
    }
  });

  it('marks items whose every turn failed as failed; --retry-failed requeues them; a provider-error streak stops', async () => {
    let mode: 'invalid' | 'unauthorized' | 'ok' = 'invalid';
    const judge = judgeScript();
    const registry = createModelRegistry({
      settings: {},
      reliability: { maxRetries: 0 },
      adapters: {
        flaky: () =>
          createFakeAdapter({
            script: (call) =>
              mode === 'ok'
                ? judge(call)
                : mode === 'invalid'
                  ? 'not JSON'
                  : Object.assign(new Error('invalid api key'), { status: 401 }),
          }),
      },
    });
    registries.push(registry);
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1, 2), nativeItem(2, 2), nativeItem(3, 2)]);
    const out = path.join(dir, 'out');
    const failures: string[] = [];
    const base = {
      input,
      outDir: out,
      panel: withRounds(await loadPanel(), 1),
      models: registry,
      defaultModel: 'flaky:judge',
      concurrency: 2,
      onItemFailed: (failure: { itemId: string; state: string; code: string }) =>
        failures.push(`${failure.itemId} ${failure.state} ${failure.code}`),
    };

    const failed = await runLabeling(base);
    expect(failed.status).toBe('done');
    expect(failed.totals).toMatchObject({ done: 0, failed: 3, pending: 0 });
    expect(failures.sort()).toEqual([
      'item-1 failed OUTPUT_INVALID',
      'item-2 failed OUTPUT_INVALID',
      'item-3 failed OUTPUT_INVALID',
    ]);
    expect(readJsonl(path.join(out, 'labels.jsonl'))).toEqual([]);

    mode = 'ok';
    const untouched = await runLabeling(base);
    expect(untouched.session).toMatchObject({ done: 0, failed: 0 });
    expect(untouched.totals.failed).toBe(3);

    const retried = await runLabeling({ ...base, retryFailed: true });
    expect(retried.totals).toMatchObject({ done: 3, failed: 0 });
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labels.map((row) => row.id)).toEqual(['item-1', 'item-2', 'item-3']);
    // The retried debates ran again under fresh debate ids (the failed ones had finished).
    expect(labels.every((row) => row.debateId?.endsWith('-2'))).toBe(true);

    mode = 'unauthorized';
    const many = writeInput(
      dir,
      Array.from({ length: 12 }, (_, index) => nativeItem(index + 10, 2)),
      'many.jsonl',
    );
    const stopped = await runLabeling({ ...base, input: many, outDir: path.join(dir, 'down'), concurrency: 1 });
    expect(stopped.stopReason).toBe('provider-failing');
    expect(stopped.status).toBe('stopped');
    expect(stopped.totals).toMatchObject({ failed: 8, pending: 4, done: 0 });
  });

  it('turn cache: after editing one persona, a rerun calls the model only for that persona', async () => {
    const dir = tempDir();
    const { panelFile, personasDir } = copyLibrary(dir);
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), nativeItem(3)]);
    const out = path.join(dir, 'out');
    const run = async () => {
      const events: DebateEvent[] = [];
      const result = await runLabeling({
        input,
        outDir: out,
        panel: await loadPanel({ file: panelFile }),
        models: models(),
        defaultModel: 'fake:judge',
        concurrency: 2,
        onEvent: (event) => events.push(event),
      });
      return { result, events };
    };
    const first = await run();
    expect(turnStatuses(first.events)).toEqual({ ok: expect.any(Number) });
    const firstLabels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));

    const personaFile = path.join(personasDir, 'efficiency.md');
    writeFileSync(personaFile, `${readFileSync(personaFile, 'utf8')}\nAlso flag answers that bury the lede.\n`);
    const second = await run();
    expect(second.result.opening).toBe('reconfigured');
    expect(second.result.requeued).toBe(3);
    const statuses = turnStatuses(second.events);
    expect(statuses.ok).toBeGreaterThan(0);
    expect(statuses.cached).toBeGreaterThan(0);
    const turnEnds = second.events.filter((event) => event.type === 'turn-end');
    for (const event of turnEnds) {
      expect([event.criticId, event.status]).toEqual([event.criticId, event.criticId === 'efficiency' ? 'ok' : 'cached']);
      if (event.status === 'cached') expect(event.usage).toEqual({ inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 });
    }
    expect(second.result.session.usage.calls).toBe(statuses.ok);
    // The cache changes what is spent, never the labels (the fake judge ignores the persona's wording).
    expect(labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')))).toEqual(labelEssence(firstLabels));
  });

  it('labels the real HH-RLHF file into conversational TRL pairs and OpenAI pairs', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const result = await runLabeling({
      input: HH,
      outDir: out,
      panel: withRounds(await loadPanel(), 0),
      models: models(),
      defaultModel: 'fake:judge',
      concurrency: 4,
      limit: 4,
    });
    expect(result.totals).toMatchObject({ items: 4, done: 4, rejectedLines: 0 });
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(labels.every((row) => row.meta?.source === 'hh-rlhf' && typeof row.meta?.humanPreferred === 'string')).toBe(true);
    const pairs = readJsonl(path.join(out, 'pairs.jsonl'));
    for (const pair of pairs) expect(TrlConversationalPreferenceSchema.safeParse(pair).success).toBe(true);

    const store = openStore({ dir: out, readonly: true });
    try {
      const exported = await exportRun({ store, runId: result.runId, directory: out, settings: { pairFormat: 'openai' } });
      expect(path.basename(exported.files.pairs)).toBe('pairs.openai.jsonl');
      const openai = readJsonl(exported.files.pairs);
      expect(openai).toHaveLength(pairs.length);
      for (const row of openai) expect(OpenAiPreferenceRowSchema.safeParse(row).success).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('binarizes with the strategy and filters: all-pairs above a margin and an agreement, never ties', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1, 4), nativeItem(2, 4), nativeItem(3, 4)]);
    const out = path.join(dir, 'out');
    const panel = withRounds(await loadPanel(), 1);
    const result = await runLabeling({
      input,
      outDir: out,
      panel,
      models: models(),
      defaultModel: 'fake:judge',
      concurrency: 3,
      export: { strategy: 'all-pairs', minMargin: 0.5, minAgreement: 0.3 },
    });
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    const pairs = readJsonl<{ id: string; chosen_id: string; rejected_id: string; margin: number; confidence: number }>(
      path.join(out, 'pairs.jsonl'),
    );
    let expected = 0;
    for (const row of labels) {
      const candidates = row.candidates.filter((candidate) => candidate.score !== null);
      for (const a of candidates) {
        for (const b of candidates) {
          const margin = (a.score ?? 0) - (b.score ?? 0);
          if (margin >= 0.5 && Math.min(a.agreement ?? 0, b.agreement ?? 0) >= 0.3) expected += 1;
        }
      }
    }
    expect(pairs).toHaveLength(expected);
    expect(result.export.summary.pairs).toBe(expected);
    for (const pair of pairs) {
      expect(pair.margin).toBeGreaterThanOrEqual(0.5);
      expect(pair.confidence).toBeGreaterThanOrEqual(0.3);
      expect(pair.chosen_id).not.toBe(pair.rejected_id);
    }
    expect(readFileSync(path.join(out, 'README.md'), 'utf8')).toMatch(/all-pairs|every two candidates/);
  });
});

describe('runLabeling: run directory lock', () => {
  /** Whether the lock of `dir` is free now (taken and given back at once). */
  function lockIsFree(dir: string): boolean {
    try {
      lockRunDirectory({ dir, purpose: 'label' }).release();
      return true;
    } catch (error) {
      if (error instanceof RunDirectoryLockedError) return false;
      throw error;
    }
  }

  it('refuses a second session on the same directory while the first runs, and frees the lock when it ends', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), nativeItem(3)]);
    const out = path.join(dir, 'out');
    const base = {
      input,
      outDir: out,
      panel: withRounds(await loadPanel(), 1),
      defaultModel: 'fake:judge?latencyMs=20',
      concurrency: 1,
    };
    const first = runLabeling({ ...base, models: models() });
    const second = runLabeling({ ...base, models: models() });
    await expect(second).rejects.toBeInstanceOf(RunDirectoryLockedError);
    await expect(second).rejects.toThrow(`run directory ${out} is locked by a labeling session (pid ${process.pid}`);
    expect(lockIsFree(out)).toBe(false);
    const result = await first;
    expect(result.totals).toMatchObject({ items: 3, done: 3 });
    expect(lockIsFree(out)).toBe(true);
    expect(existsSync(path.join(out, LOCK_OWNER_FILE_NAME))).toBe(false);
  });

  it('frees the lock when the session fails and when it is aborted', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), nativeItem(3), nativeItem(4)]);
    const out = path.join(dir, 'out');
    const base = { input, outDir: out, panel: withRounds(await loadPanel(), 1), concurrency: 1 };

    // A failure inside the session (an unknown provider fails the run before the first item).
    await expect(runLabeling({ ...base, models: models(), defaultModel: 'nosuch:model' })).rejects.toThrow();
    expect(lockIsFree(out)).toBe(true);

    // An abort mid-run: the session stops gracefully and gives the lock back.
    const controller = new AbortController();
    const stopped = await runLabeling({
      ...base,
      models: models(),
      defaultModel: 'fake:judge?latencyMs=20',
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'round-end') controller.abort();
      },
    });
    expect(stopped.status).toBe('stopped');
    expect(lockIsFree(out)).toBe(true);
  });
});

describe('runLabeling: resuming interrupted debates', () => {
  it('resumes from debate snapshots, and a debate an older Tribunal left with a LangGraph checkpoint on LangGraph', async () => {
    const dir = tempDir();
    const input = writeInput(dir, [nativeItem(1), nativeItem(2), nativeItem(3)]);
    const panel = withRounds(await loadPanel(), 2);
    const base = { input, panel, defaultModel: 'fake:judge', concurrency: 1 };
    await runLabeling({ ...base, outDir: path.join(dir, 'reference'), models: models() });
    const reference = readJsonl<LabelRow>(path.join(dir, 'reference', 'labels.jsonl'));

    // Stop the first session as item-1's round 1 starts: its debate keeps a snapshot after round 0.
    const out = path.join(dir, 'out');
    const controller = new AbortController();
    const stopped = await runLabeling({
      ...base,
      outDir: out,
      models: models(),
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'turn-start' && event.round === 1) controller.abort();
      },
    });
    expect(stopped.totals).toMatchObject({ done: 0, pending: 3 });
    const store = openStore({ dir: out });
    const [debate] = await store.listDebates({ runId: stopped.runId });
    if (!debate) throw new Error('expected a debate');
    expect(await store.getDebateSnapshot({ debateId: debate.debateId })).toMatchObject({ next: 'debate', round: 0 });

    // As an older Tribunal would have left it: the same point as a LangGraph checkpoint, no snapshot.
    await store.deleteDebateSnapshot({ debateId: debate.debateId });
    const checkpointer = await store.checkpointer();
    const abort = new AbortController();
    await expect(
      runDebate({
        panel,
        input: nativeItem(1) as DebateInput,
        models: models(),
        defaultModel: 'fake:judge',
        runId: stopped.runId,
        debateId: debate.debateId,
        itemId: 'item-1',
        checkpointer,
        signal: abort.signal,
        onEvent: (event) => {
          if (event.type === 'turn-start' && event.round === 1) abort.abort();
        },
      }),
    ).rejects.toThrow();
    await store.close();

    const events: DebateEvent[] = [];
    const resumed = await runLabeling({ ...base, outDir: out, models: models(), onEvent: (event) => events.push(event) });
    expect(resumed.totals).toMatchObject({ done: 3, pending: 0 });
    expect(labelEssence(readJsonl<LabelRow>(path.join(out, 'labels.jsonl')))).toEqual(labelEssence(reference));
    // item-1's debate continued after round 0 (no round-0 turn again), on LangGraph from its checkpoint.
    const resumedTurns = events.filter((event) => event.debateId === debate.debateId && event.type === 'turn-start');
    expect(resumedTurns.length).toBeGreaterThan(0);
    expect(resumedTurns.some((event) => event.type === 'turn-start' && event.round === 0)).toBe(false);
    const after = openStore({ dir: out, readonly: true });
    try {
      expect(await after.getDebateSnapshot({ debateId: debate.debateId })).toBeUndefined();
      const threads: string[] = [];
      for await (const tuple of (await after.checkpointer()).list({})) threads.push(String(tuple.config.configurable?.thread_id));
      expect(threads).toEqual([]);
    } finally {
      await after.close();
    }
  });
});
