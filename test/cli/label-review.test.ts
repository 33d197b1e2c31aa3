import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type LabelRow, LabelRowSchema } from '../../src/contracts/index.js';
import { pairUncertainty } from '../../src/export/index.js';
import { reviewQueue } from '../../src/runner/index.js';
import { openStore } from '../../src/store/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { copyLibrary, nativeItem, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';

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

async function run(args: string[], cwd: string) {
  const io = captureIo(cwd);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

/** A copy of the default panel with `escalate` (a threshold of 1 escalates every item the critics do not agree on). */
function escalatingPanel(dir: string, threshold: number): string {
  const { panelFile } = copyLibrary(dir);
  const file = path.join(path.dirname(panelFile), 'escalating.yaml');
  writeFileSync(
    file,
    `${readFileSync(panelFile, 'utf8').replace('id: default', 'id: escalating')}escalate: { belowConsensusProbability: ${threshold} }\n`,
  );
  return file;
}

describe('tribunal label with a panel that escalates', () => {
  it('labels every item, queues the uncertain ones, and export marks, counts and (on request) drops them', async () => {
    const dir = tempDir('tribunal-review-');
    const panel = escalatingPanel(dir, 1);
    const input = writeInput(
      dir,
      Array.from({ length: 12 }, (_, index) => nativeItem(index + 1, 3)),
    );
    const out = path.join(dir, 'out');
    const labeled = await run(
      ['label', input, '--out', out, '--panel', panel, '--model', 'fake:judge', '--max-rounds', '0'],
      dir,
    );
    expect(labeled.code, labeled.err).toBe(0);

    const rows = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    // Never blocks: every item is labeled, escalated or not.
    expect(rows).toHaveLength(12);
    for (const row of rows) {
      LabelRowSchema.parse(row);
      expect(row.candidates.every((candidate) => candidate.score !== null)).toBe(true);
      // The consensus probability of the top pair is the one the export's uncertainty columns compute for it.
      const [first, second] = row.ranking;
      const top = row.candidates.find((candidate) => candidate.id === first);
      const runnerUp = row.candidates.find((candidate) => candidate.id === second);
      if (!top || !runnerUp) throw new Error('a row without a top pair');
      expect(row.consensusProbability).toBe(pairUncertainty({ row, chosen: top, rejected: runnerUp })?.consensusProbability);
      // Escalated exactly when the panel was not unanimous on the top pair (threshold 1).
      if ((row.consensusProbability ?? 1) < 1) {
        expect(row.review).toEqual({ escalated: true, consensusProbability: row.consensusProbability, threshold: 1 });
      } else {
        expect(row.review).toBeUndefined();
      }
    }
    const escalated = rows.filter((row) => row.review !== undefined);
    // The fake judge's critics split on some items and agree on others: both kinds are present.
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.length).toBeLessThan(rows.length);
    expect(labeled.out).toContain(`Review queue: ${escalated.length} items await a human verdict`);

    // The store lists the queue; a human verdict through the viewer's override path answers one item.
    const answeredRow = escalated[0] as LabelRow;
    const store = openStore({ dir: out });
    let queue: Awaited<ReturnType<typeof reviewQueue>>;
    try {
      const runId = answeredRow.runId as string;
      expect((await reviewQueue({ store, runId })).map((item) => item.itemId)).toEqual(escalated.map((row) => row.id));
      await store.putOverride({
        runId,
        debateId: answeredRow.debateId as string,
        kind: 'prefer',
        candidateId: answeredRow.ranking[1] as string,
      });
      queue = await reviewQueue({ store, runId });
    } finally {
      await store.close();
    }
    expect(queue.filter((item) => item.answer !== undefined).map((item) => item.itemId)).toEqual([answeredRow.id]);
    expect(queue.find((item) => item.itemId === answeredRow.id)?.answer).toMatchObject({
      kind: 'prefer',
      candidateId: answeredRow.ranking[1],
    });

    // Default export: escalated items keep their pairs, marked; the answered one says so.
    const kept = out;
    const exported = await run(['export', out, '--json'], dir);
    expect(exported.code, exported.err).toBe(0);
    const keptSummary = (JSON.parse(exported.out) as { summary: { pairs: number; review: unknown } }).summary;
    expect(keptSummary.review).toEqual({ escalated: escalated.length, answered: 1 });
    const keptRows = readJsonl<LabelRow>(path.join(kept, 'labels.jsonl'));
    expect(keptRows.find((row) => row.id === answeredRow.id)?.review).toEqual({ ...answeredRow.review, answered: true });
    expect(keptRows.filter((row) => row.review !== undefined && row.review.answered !== true)).toHaveLength(escalated.length - 1);
    const keptPairs = readJsonl<{ id: string }>(path.join(kept, 'pairs.jsonl'));
    expect(new Set(keptPairs.map((pair) => pair.id))).toEqual(new Set(rows.map((row) => row.id)));
    const card = readFileSync(path.join(kept, 'README.md'), 'utf8');
    expect(card).toContain(`| items escalated to a human review (panel \`escalate\`) | ${escalated.length} |`);
    expect(card).toContain('## Human review');
    expect(card).toContain('export with `--exclude-escalated` to drop them');

    // --exclude-escalated drops the open items' pairs (not the answered one's), keeps every label, and counts them.
    const strict = out;
    const excluded = await run(['export', out, '--exclude-escalated'], dir);
    expect(excluded.code, excluded.err).toBe(0);
    expect(excluded.out).toContain(`Review queue: ${escalated.length} items escalated, 1 answered by a human`);
    expect(readJsonl<LabelRow>(path.join(strict, 'labels.jsonl'))).toHaveLength(12);
    const open = new Set(escalated.filter((row) => row.id !== answeredRow.id).map((row) => row.id));
    const strictPairs = readJsonl<{ id: string }>(path.join(strict, 'pairs.jsonl'));
    expect(strictPairs.some((pair) => open.has(pair.id))).toBe(false);
    expect(new Set(strictPairs.map((pair) => pair.id))).toEqual(
      new Set(rows.filter((row) => !open.has(row.id)).map((row) => row.id)),
    );
    expect(readFileSync(path.join(strict, 'README.md'), 'utf8')).toContain(
      `| pairs filtered out as escalated and unanswered (--exclude-escalated) | ${open.size} |`,
    );
  }, 60_000);

  it('a panel without escalate queues nothing but still records the consensus probability', async () => {
    const dir = tempDir('tribunal-review-');
    const { panelFile } = copyLibrary(dir);
    const input = writeInput(dir, [nativeItem(1), nativeItem(2)]);
    const out = path.join(dir, 'out');
    const labeled = await run(
      ['label', input, '--out', out, '--panel', panelFile, '--model', 'fake:judge', '--max-rounds', '0'],
      dir,
    );
    expect(labeled.code, labeled.err).toBe(0);
    expect(labeled.out).not.toContain('Review queue');
    const rows = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    expect(rows.every((row) => row.review === undefined && typeof row.consensusProbability === 'number')).toBe(true);
  }, 60_000);
});
