import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loopCommand } from '../../src/cli/commands/loop.js';
import { untrustedBlock } from '../../src/engine/untrusted-block.js';
import {
  firedStopRule,
  type IterationReport,
  type LoopEstimate,
  type LoopReport,
  lineChart,
  markEndedCompletions,
  planComparisons,
  readComparisonVerdicts,
  readHeldOutSamples,
  readingsOf,
  renderMarkdown,
  splitPrompts,
  writeComparisons,
  writeLoopReport,
} from '../../src/loop/index.js';
import { judgeScript, parseFakeSpec } from '../../src/models/fake-provider.js';
import { assertWellFormedXml } from '../export/xml-check.js';
import { captureIo } from '../fakes/cli-io.js';
import { tempDir } from '../runner/fixtures.js';

function promptsFile(dir: string, ids: string[], name = 'prompts.jsonl'): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${ids.map((id) => JSON.stringify({ id, prompt: `question ${id}` })).join('\n')}\n`);
  return file;
}

const ids = (file: string): string[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { id: string }).id);

describe('splitPrompts', () => {
  it('splits by a seeded hash of the id: the same split whatever the file order, the input order kept in each file', async () => {
    const dir = tempDir('tribunal-loop-split-');
    const names = Array.from({ length: 50 }, (_, index) => `q${index}`);
    const forward = promptsFile(dir, names, 'a.jsonl');
    const backward = promptsFile(dir, [...names].reverse(), 'b.jsonl');
    const a = { train: path.join(dir, 'a-train.jsonl'), held: path.join(dir, 'a-held.jsonl') };
    const b = { train: path.join(dir, 'b-train.jsonl'), held: path.join(dir, 'b-held.jsonl') };
    expect(await splitPrompts({ input: forward, heldOut: 0.2, seed: 7, trainFile: a.train, heldOutFile: a.held })).toEqual({
      train: 40,
      heldOut: 10,
      rejected: 0,
    });
    await splitPrompts({ input: backward, heldOut: 0.2, seed: 7, trainFile: b.train, heldOutFile: b.held });
    expect([...ids(b.held)].sort()).toEqual([...ids(a.held)].sort());
    expect(ids(b.held)).toEqual([...ids(a.held)].reverse());
    expect(new Set([...ids(a.train), ...ids(a.held)]).size).toBe(50);
    // another seed, another split
    const c = { train: path.join(dir, 'c-train.jsonl'), held: path.join(dir, 'c-held.jsonl') };
    await splitPrompts({ input: forward, heldOut: 10, seed: 8, trainFile: c.train, heldOutFile: c.held });
    expect(ids(c.held)).toHaveLength(10);
    expect([...ids(c.held)].sort()).not.toEqual([...ids(a.held)].sort());
  });

  it('keeps one prompt on each side and refuses a file with fewer than two prompts', async () => {
    const dir = tempDir('tribunal-loop-split-');
    const two = promptsFile(dir, ['x', 'y']);
    const out = { trainFile: path.join(dir, 't.jsonl'), heldOutFile: path.join(dir, 'h.jsonl') };
    expect(await splitPrompts({ input: two, heldOut: 0.9, seed: 0, ...out })).toMatchObject({ train: 1, heldOut: 1 });
    expect(await splitPrompts({ input: two, heldOut: 0.01, seed: 0, ...out })).toMatchObject({ train: 1, heldOut: 1 });
    const one = promptsFile(dir, ['only'], 'one.jsonl');
    await expect(splitPrompts({ input: one, heldOut: 0.2, seed: 0, ...out })).rejects.toThrow(/1 usable prompt.*at least 2/);
  });
});

function candidatesFile(
  dir: string,
  name: string,
  rows: { id: string; samples: { text: string; copies?: number; tokens?: number }[] }[],
): string {
  const file = path.join(dir, name);
  const lines = rows.map((row) =>
    JSON.stringify({
      id: row.id,
      prompt: `prompt ${row.id}`,
      meta: { generation: { policy: 'tiny', samples: row.samples.length, unique: row.samples.length, duplicates: 0 } },
      candidates: row.samples.map((sample, index) => ({
        id: `s${index}`,
        text: sample.text,
        model: 'tiny',
        meta: {
          policy: 'tiny',
          sample: index,
          tokens: sample.tokens ?? sample.text.length,
          finish: 'length',
          copies: sample.copies ?? 1,
        },
      })),
    }),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function labelRow(id: string, scores: Record<string, number | null>): string {
  const candidates = Object.entries(scores).map(([candidateId, score], index) => ({
    id: candidateId,
    text: candidateId,
    score,
    rank: index + 1,
    agreement: null,
    mean: score,
    median: score,
    stdev: null,
    turns: 1,
    failedTurns: 0,
    critics: {},
  }));
  return JSON.stringify({
    id,
    prompt: 'p',
    candidates,
    ranking: Object.keys(scores),
    roundsUsed: 1,
    panel: { id: 'panel', hash: 'h', protocol: 'p', aggregation: 'weighted-mean', scale: { min: 1, max: 10 }, critics: [] },
    usage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    failedTurns: [],
  });
}

describe('held-out comparisons', () => {
  it('expands folded copies and pairs the j-th samples of the prompts both policies answered', async () => {
    const dir = tempDir('tribunal-loop-compare-');
    const policy = await readHeldOutSamples(
      candidatesFile(dir, 'policy.jsonl', [
        { id: 'a', samples: [{ text: 'same', copies: 2 }, { text: 'other' }] },
        { id: 'only-policy', samples: [{ text: 'x' }] },
      ]),
    );
    expect(policy.prompts.get('a')?.samples.map((sample) => sample.text)).toEqual(['same', 'same', 'other']);
    const baseline = await readHeldOutSamples(
      candidatesFile(dir, 'baseline.jsonl', [{ id: 'a', samples: [{ text: 'b0' }, { text: 'b1' }] }]),
    );
    const file = path.join(dir, 'compare.jsonl');
    const plan = await writeComparisons({ policy, baseline, file });
    expect(plan.map((comparison) => comparison.key)).toEqual(['a#0', 'a#1']);
    expect(planComparisons(policy, baseline)).toEqual(plan);
    const rows = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; candidates: { id: string; text: string }[] });
    expect(rows.map((row) => row.id)).toEqual(['a#0:forward', 'a#0:swapped', 'a#1:forward', 'a#1:swapped']);
    expect(rows[0]?.candidates.map((candidate) => candidate.id)).toEqual(['policy', 'baseline']);
    expect(rows[1]?.candidates.map((candidate) => candidate.id)).toEqual(['baseline', 'policy']);
    expect(rows[2]?.candidates.map((candidate) => candidate.text)).toEqual(['same', 'b1']);
  });

  it('reads each verdict by identity, counts a swap-inconsistent pair as such and leaves out unlabeled debates', async () => {
    const dir = tempDir('tribunal-loop-verdicts-');
    const policy = await readHeldOutSamples(
      candidatesFile(dir, 'p.jsonl', [{ id: 'a', samples: [{ text: 'p0' }, { text: 'p1' }, { text: 'p2' }] }]),
    );
    const baseline = await readHeldOutSamples(
      candidatesFile(dir, 'b.jsonl', [{ id: 'a', samples: [{ text: 'b0' }, { text: 'b1' }, { text: 'b2' }] }]),
    );
    const comparisons = planComparisons(policy, baseline);
    const labels = path.join(dir, 'labels.jsonl');
    writeFileSync(
      labels,
      `${[
        // a#0: the policy wins in both orders (the swapped row lists the baseline first)
        labelRow('a#0:forward', { policy: 8, baseline: 3 }),
        labelRow('a#0:swapped', { baseline: 3, policy: 8 }),
        // a#1: the first-shown answer wins each time: swap-inconsistent
        labelRow('a#1:forward', { policy: 7, baseline: 4 }),
        labelRow('a#1:swapped', { baseline: 7, policy: 4 }),
        // a#2: the swapped debate failed (no row)
        labelRow('a#2:forward', { policy: 5, baseline: 5 }),
      ].join('\n')}\n`,
    );
    const verdicts = await readComparisonVerdicts({ labelsFile: labels, comparisons });
    expect(verdicts.outcomes.map((outcome) => [outcome.forward, outcome.swapped])).toEqual([
      ['policy', 'policy'],
      ['policy', 'baseline'],
    ]);
    expect(verdicts.missing).toBe(1);
    expect(verdicts.outcomes[0]).toMatchObject({ policyTokens: 2, baselineTokens: 2 });
    expect(verdicts.meanPolicyScore).toBeCloseTo((8 + 8 + 7 + 4 + 5) / 5, 10);
  });
});

describe('markEndedCompletions', () => {
  it('marks the completions the policy did not end, by item and candidate id, and keeps the rest of each row', async () => {
    const dir = tempDir('tribunal-loop-ended-');
    const candidates = path.join(dir, 'candidates.jsonl');
    const row = (id: string, finishes: string[]) =>
      JSON.stringify({
        id,
        prompt: 'p',
        meta: { generation: { policy: 'tiny', samples: finishes.length, unique: finishes.length, duplicates: 0 } },
        candidates: finishes.map((finish, index) => ({
          id: `s${index}`,
          text: `t${index}`,
          model: 'tiny',
          meta: { policy: 'tiny', sample: index, tokens: 3, finish, copies: 1 },
        })),
      });
    writeFileSync(candidates, `${row('a', ['stop', 'length'])}\n${row('b', ['length', 'stop'])}\n`);
    const pairs = path.join(dir, 'pairs.jsonl');
    const pair = (id: string, chosen: string, rejected: string) =>
      JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'y', id, chosen_id: chosen, rejected_id: rejected, margin: 1 });
    writeFileSync(pairs, `${pair('a', 's0', 's1')}\n${pair('b', 's0', 's1')}\n`);
    const out = path.join(dir, 'train-pairs.jsonl');
    expect(await markEndedCompletions({ pairsFile: pairs, candidatesFile: candidates, out })).toEqual({ pairs: 2, cutOff: 2 });
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows[0]).toMatchObject({ id: 'a', rejected_ended: false, margin: 1 });
    expect(rows[0]).not.toHaveProperty('chosen_ended');
    expect(rows[1]).toMatchObject({ id: 'b', chosen_ended: false });
    expect(rows[1]).not.toHaveProperty('rejected_ended');
    writeFileSync(pairs, `${JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'y' })}\n`);
    await expect(markEndedCompletions({ pairsFile: pairs, candidatesFile: candidates, out })).rejects.toThrow(
      /line 1 has no id, chosen_id and rejected_id/,
    );
  });
});

function iteration(overrides: Partial<IterationReport>): IterationReport {
  return {
    iteration: 0,
    policy: 'checkpoint:/x',
    samples: 10,
    duplicates: 0,
    pairs: 5,
    cutOffCompletions: 0,
    trainerAccuracy: null,
    winRate: 0.6,
    winRateInterval: [0.52, 0.68],
    wins: 3,
    losses: 1,
    ties: 1,
    swapInconsistent: 0,
    comparisons: 5,
    missingComparisons: 0,
    winRateVsInitial: 0.6,
    winRateVsInitialInterval: [0.5, 0.7],
    lengthControlledWinRate: 0.45,
    lengthControlledWinRateInterval: [0.4, 0.5],
    lengthControlledWinRateVsInitial: 0.45,
    meanConsensus: 6,
    meanTokens: 30,
    lengthDrift: 1.5,
    distinct1: 0.5,
    distinct2: 0.4,
    pairwiseOverlap: 0.2,
    kl: 2,
    klInterval: [1, 3],
    goldAgreement: null,
    stopRule: null,
    ...overrides,
  };
}

describe('stop rules', () => {
  it('fire past their thresholds, in a fixed order, and not at or inside them', () => {
    const row = iteration({});
    expect(firedStopRule(row, {})).toBeNull();
    expect(firedStopRule(row, { maxKl: 2 })).toBeNull();
    expect(firedStopRule(row, { maxKl: 1.9 })).toMatchObject({ rule: 'max-kl', value: 2, threshold: 1.9 });
    expect(firedStopRule(row, { minWinRateGain: 0.1 })).toBeNull();
    expect(firedStopRule(row, { minWinRateGain: 0.11 })?.rule).toBe('min-win-rate-gain');
    expect(firedStopRule(row, { maxLengthDrift: 0.5 })).toBeNull();
    expect(firedStopRule(row, { maxLengthDrift: 0.49 })?.rule).toBe('max-length-drift');
    expect(firedStopRule(iteration({ lengthDrift: 0.4 }), { maxLengthDrift: 0.5 })?.rule).toBe('max-length-drift');
    expect(firedStopRule(row, { minDiversity: 0.4 })).toBeNull();
    expect(firedStopRule(row, { minDiversity: 0.41 })?.message).toMatch(/distinct-2 of the held-out samples is 0.400/);
    expect(firedStopRule(row, { maxKl: 1, minDiversity: 0.9 })?.rule).toBe('max-kl');
    // a measure that could not be computed never fires a rule
    expect(firedStopRule(iteration({ kl: null }), { maxKl: 0 })).toBeNull();
  });
});

describe('the report', () => {
  const report: LoopReport = {
    version: 1,
    status: 'stopped',
    stage: null,
    prompts: { file: '/p.jsonl', train: 8, heldOut: 2 },
    policy: 'tiny',
    iterationsRequested: 3,
    reference: 'initial',
    initial: { policy: 'tiny', meanTokens: 20, distinct1: 0.6, distinct2: 0.9, pairwiseOverlap: 0.1, meanConsensus: 5 },
    iterations: [iteration({}), iteration({ iteration: 1, winRateInterval: [0.3, 0.45], distinct2: 0.5 })],
    stoppedBy: { rule: 'max-kl', value: 2, threshold: 1, message: 'KL passed' },
  };

  it('writes report.json, report.md and well-formed SVG plots that escape their labels', async () => {
    const dir = tempDir('tribunal-loop-report-');
    const files = await writeLoopReport({ report, outDir: dir });
    expect(files.map((file) => path.relative(dir, file))).toEqual([
      'report.json',
      'plots/win-rate.svg',
      'plots/kl.svg',
      'plots/length.svg',
      'plots/diversity.svg',
      'report.md',
    ]);
    expect(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'))).toEqual(report);
    for (const file of files.filter((name) => name.endsWith('.svg'))) assertWellFormedXml(readFileSync(file, 'utf8'));
    const svg = lineChart({
      name: 'x',
      title: 'a <b> & "c"',
      yLabel: 'y',
      series: [{ label: '<s>', color: '#000', points: [{ x: 1, y: 1 }] }],
    });
    assertWellFormedXml(svg);
    expect(svg).toContain('a &#60;b&#62; &#38; &#34;c&#34;');
    const markdown = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(markdown).toContain('![Panel win rate');
    expect(markdown).toContain('**Stopped after iteration 1:** KL passed');
    expect(markdown).toMatch(/\| 0 → policy_1 \| 60\.0% \[52\.0%, 68\.0%\]/);
  });

  it('names length exploitation, clear gains and losses, and collapsing diversity', () => {
    const readings = readingsOf(report);
    expect(
      readings.some((text) =>
        /Iteration 0: the raw win rate \(60\.0%\) is well above the length-controlled one \(45\.0%\)/.test(text),
      ),
    ).toBe(true);
    expect(readings).toContain(
      'Iteration 0: policy_1 beats policy_0 by the panel (interval above 50%), but not once length is controlled (its length-controlled interval reaches 50%).',
    );
    expect(readingsOf({ ...report, iterations: [iteration({ lengthControlledWinRateInterval: [0.51, 0.6] })] })).toContain(
      'Iteration 0: policy_1 beats policy_0 by the panel (interval above 50%).',
    );
    expect(readings).toContain('Iteration 1: policy_2 is worse than policy_1 by the panel (interval below 50%).');
    expect(readings.some((text) => /Iteration 1: distinct-2 fell below 70%/.test(text))).toBe(true);
    expect(renderMarkdown({ ...report, iterations: [] })).not.toContain('What the numbers suggest');
  });
});

describe('fake:judge planted preferences', () => {
  const scoreCall = (text: string) => ({
    messages: [],
    system: '',
    user: `Rate it.\n${untrustedBlock({ label: 'CANDIDATE', text })}`,
    turn: { round: 0, criticId: 'c', candidateId: 'x' },
    jsonSchema: { properties: { score: { minimum: 1, maximum: 10 } } },
    index: 0,
  });
  const score = (options: Parameters<typeof judgeScript>[0], text: string): number =>
    (JSON.parse(judgeScript(options)(scoreCall(text) as never) as string) as { score: number }).score;

  it('prefer=TEXT scores every answer with the marker above every answer without it', () => {
    const marked = Array.from({ length: 50 }, (_, index) => score({ prefer: 'e' }, `answer ${index} yes`));
    const plain = Array.from({ length: 50 }, (_, index) => score({ prefer: 'e' }, `answr ${index} no`));
    expect(Math.min(...marked)).toBeGreaterThan(Math.max(...plain));
  });

  it('lengthBonus moves scores with length, both ways, within the scale', () => {
    const short = 'ab';
    const long = 'ab'.repeat(200);
    expect(score({ lengthBonus: 50 }, long)).toBe(10);
    expect(score({ lengthBonus: -50 }, long)).toBe(1);
    expect(score({ lengthBonus: -50 }, short)).toBeGreaterThan(1);
  });

  it('decides pairwise turns by the marker, then by length', () => {
    const pairCall = (a: string, b: string) => ({
      messages: [],
      system: '',
      user: `Answer A:\n${untrustedBlock({ label: 'ANSWER A', text: a })}\nAnswer B:\n${untrustedBlock({ label: 'ANSWER B', text: b })}`,
      turn: { round: 0, criticId: 'c', candidateId: 'x-vs-y' },
      jsonSchema: { properties: { preferred: { enum: ['A', 'B', 'tie'] } } },
      index: 0,
    });
    const preferred = (options: Parameters<typeof judgeScript>[0], a: string, b: string): string =>
      (JSON.parse(judgeScript(options)(pairCall(a, b) as never) as string) as { preferred: string }).preferred;
    expect(preferred({ prefer: 'e' }, 'xyz', 'hello')).toBe('B');
    expect(preferred({ prefer: 'e' }, 'hello', 'xyz')).toBe('A');
    expect(preferred({ lengthBonus: 1 }, 'short', 'much longer')).toBe('B');
    expect(preferred({ lengthBonus: -1 }, 'short', 'much longer')).toBe('A');
  });

  it('parses the options from the model id and refuses bad ones', () => {
    expect(parseFakeSpec('judge?prefer=%E2%9C%93&lengthBonus=-2.5')).toEqual({ name: 'judge', prefer: '✓', lengthBonus: -2.5 });
    expect(() => parseFakeSpec('judge?lengthBonus=abc')).toThrow(/lengthBonus must be a number/);
    expect(() => parseFakeSpec(`judge?prefer=${'x'.repeat(65)}`)).toThrow(/prefer must be 1 to 64 characters/);
  });
});

describe('tribunal loop --dry-run', () => {
  it('estimates every iteration from the split without calling a model or writing the loop directory', async () => {
    const dir = tempDir('tribunal-loop-dry-run-');
    const prompts = promptsFile(
      dir,
      Array.from({ length: 20 }, (_, index) => `q${index}`),
    );
    const io = captureIo(dir);
    const args = ['--prompts', prompts, '--policy', 'tiny', '--iterations', '3', '--model', 'openai:gpt-4o-mini', '--dry-run'];
    expect(await loopCommand([...args, '--n', '4', '--max-tokens', '100', '--json'], io, new AbortController().signal)).toBe(0);
    const estimate = JSON.parse(io.out()) as LoopEstimate;
    expect(estimate.prompts).toEqual({ train: 16, heldOut: 4, rejected: 0 });
    // 16 train prompts; 4 held-out prompts x 2 samples x 2 orders, against policy_i and (from iteration 1) policy_0
    expect(estimate.perIteration.map((row) => [row.labelItems, row.compareItems])).toEqual([
      [16, 16],
      [16, 32],
      [16, 32],
    ]);
    expect(estimate.total.calls).toBe(estimate.perIteration.reduce((sum, row) => sum + row.usage.calls, 0));
    expect(estimate.models).toEqual([expect.objectContaining({ model: 'openai:gpt-4o-mini', priced: true })]);
    expect(estimate.total.costUsd).toBeGreaterThan(0);
    // longer samples cost more; nothing was written
    const longer = captureIo(dir);
    await loopCommand([...args, '--n', '4', '--max-tokens', '400', '--json'], longer, new AbortController().signal);
    expect((JSON.parse(longer.out()) as LoopEstimate).total.inputTokens).toBeGreaterThan(estimate.total.inputTokens);
    expect(readdirSync(dir).sort()).toEqual(['prompts.jsonl']);
  });
});
