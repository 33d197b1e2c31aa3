import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { LabelRow } from '../../src/contracts/index.js';
import type { EvalReport } from '../../src/quality/index.js';
import { assertWellFormedXml } from '../export/xml-check.js';
import { captureIo } from '../fakes/cli-io.js';
import { startOpenAIWireServer } from '../fakes/openai-wire-server.js';
import { copyLibrary, HH, REPO_ROOT, readJsonl, tempDir } from '../runner/fixtures.js';

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

async function run(args: string[], cwd = REPO_ROOT) {
  const io = captureIo(cwd);
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

function readReport(out: string): EvalReport {
  return JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as EvalReport;
}

describe('tribunal eval', () => {
  it('labels a slice of the real HH-RLHF file and reports agreement computed from the labels', async () => {
    const out = path.join(tempDir('tribunal-eval-'), 'out');
    const result = await run([
      'eval',
      '--gold',
      HH,
      '--model',
      'fake:judge',
      '--limit',
      '30',
      '--out',
      out,
      '--calibrate',
      '--resamples',
      '200',
    ]);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain('30 gold pairs: consensus accuracy');
    const report = readReport(out);
    expect(report.items).toEqual({ labeled: 30, gold: 30, skipped: 0 });

    // Recompute the consensus outcome counts straight from labels.jsonl: HH's human-preferred id is "chosen".
    const rows = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    const counts = { agree: 0, disagree: 0, tie: 0, abstain: 0 };
    for (const row of rows) {
      const chosen = row.candidates.find((candidate) => candidate.id === 'chosen')?.score ?? null;
      const rejected = row.candidates.find((candidate) => candidate.id === 'rejected')?.score ?? null;
      if (chosen === null || rejected === null) counts.abstain++;
      else if (chosen > rejected) counts.agree++;
      else if (chosen < rejected) counts.disagree++;
      else counts.tie++;
    }
    const consensus = report.agreement.consensus;
    expect(consensus.counts).toEqual(counts);
    expect(consensus.accuracy.value).toBeCloseTo(counts.agree / (30 - counts.abstain));
    expect(consensus.accuracy.low).toBeLessThanOrEqual(consensus.accuracy.value ?? 0);
    expect(consensus.accuracy.high).toBeGreaterThanOrEqual(consensus.accuracy.value ?? 1);
    expect(Object.keys(report.agreement.critics).sort()).toEqual(['creativity', 'efficiency', 'safety']);
    expect(report.lengthBias.candidates).toBe(60);
    expect(report.interCriticAlpha).not.toBeNull();
    expect(Object.keys(report.dynamics.rounds).length).toBeGreaterThan(0);
    expect(report.position).toEqual({});

    const markdown = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('## Agreement with human labels');
    expect(markdown).toContain('](report-accuracy.svg)');
    const svg = readFileSync(path.join(out, 'report-accuracy.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
    assertWellFormedXml(svg);
    // consensus, three critics, length-controlled, longer answer, calibrated: seven bars
    expect(svg.match(/<rect x=/g)).toHaveLength(7);

    // The calibrated panel is a valid panel file with the fitted weights.
    expect(report.calibration?.heldOutPairs).toBeGreaterThan(0);
    const calibrated = path.join(out, 'panel.calibrated.yaml');
    const text = readFileSync(calibrated, 'utf8');
    expect(text).toContain('id: default-calibrated');
    for (const [id, weight] of Object.entries(report.calibration?.fit.weights ?? {}))
      expect(text).toContain(`persona: ${id}\n    weight: ${weight}`);
    expect((await run(['check', '--panel', calibrated])).code).toBe(0);

    // Rerunning resumes the finished run and writes the same report.
    const again = await run([
      'eval',
      '--gold',
      HH,
      '--model',
      'fake:judge',
      '--limit',
      '30',
      '--out',
      out,
      '--json',
      '--calibrate',
      '--resamples',
      '200',
    ]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toEqual(report);
  });

  it('measures position consistency for a pairwise panel', async () => {
    const dir = tempDir('tribunal-eval-');
    const { panelFile } = copyLibrary(dir);
    const pairwise = path.join(path.dirname(panelFile), 'pairwise.yaml');
    writeFileSync(
      pairwise,
      readFileSync(panelFile, 'utf8').replace('id: default', 'id: pairwise').replace('mode: pointwise', 'mode: pairwise'),
    );
    const out = path.join(dir, 'out');
    const result = await run(
      [
        'eval',
        '--gold',
        HH,
        '--panel',
        pairwise,
        '--model',
        'fake:judge',
        '--limit',
        '6',
        '--max-rounds',
        '0',
        '--out',
        out,
        '--resamples',
        '50',
      ],
      dir,
    );
    expect(result.code, result.err).toBe(0);
    const report = readReport(out);
    expect(Object.keys(report.position).sort()).toEqual(['creativity', 'efficiency', 'safety']);
    for (const stats of Object.values(report.position)) {
      expect(stats.swappedPairs).toBe(6);
      expect(stats.verdicts).toBe(12);
    }
    for (const agreement of Object.values(report.agreement.critics)) {
      expect(agreement.counts.abstain).toBe(0);
      expect(agreement.counts.agree + agreement.counts.disagree + agreement.counts.tie).toBe(6);
    }
  });

  it('runs against an OpenAI-compatible server', async () => {
    const server = await startOpenAIWireServer();
    try {
      server.setScript((request) => {
        const size = JSON.stringify(request.body?.messages ?? '').length;
        const score = 1 + (size % 90) / 10;
        return { text: JSON.stringify({ rationale: `Judged ${size} characters.`, principles: [], score, confidence: 0.7 }) };
      });
      process.env.OPENAI_BASE_URL = server.baseURL;
      process.env.OPENAI_API_KEY = 'test-key';
      const out = path.join(tempDir('tribunal-eval-'), 'out');
      const result = await run([
        'eval',
        '--gold',
        HH,
        '--model',
        'openai:served-model',
        '--limit',
        '4',
        '--max-rounds',
        '0',
        '--out',
        out,
      ]);
      expect(result.code, result.err).toBe(0);
      const report = readReport(out);
      expect(report.items.gold).toBe(4);
      expect(report.panel.critics.every((critic) => critic.model === 'openai:served-model')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('reads TRL preference rows as gold (the chosen answer is the human label)', async () => {
    const dir = tempDir('tribunal-eval-');
    const gold = path.join(dir, 'trl.jsonl');
    const rows = Array.from({ length: 6 }, (_, index) => ({
      prompt: `Question ${index}: how do I water a cactus?`,
      chosen: `Sparingly: every two weeks in summer (${index}).`,
      rejected: `Every day, as much as it will take ${'and more '.repeat(index + 1)}.`,
    }));
    writeFileSync(gold, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
    const out = path.join(dir, 'out');
    const result = await run(['eval', '--gold', gold, '--model', 'fake:judge', '--out', out, '--max-rounds', '0', '--json']);
    expect(result.code, result.err).toBe(0);
    const report = JSON.parse(result.out) as EvalReport;
    expect(report.items).toEqual({ labeled: 6, gold: 6, skipped: 0 });
    // every rejected answer is longer, so humans preferred the longer one in none of the pairs
    expect(report.humanLongerRate).toBe(0);
    expect(report).toEqual(readReport(out));
  });

  it('refuses a missing --gold or --out', async () => {
    const missing = await run(['eval', '--out', tempDir()]);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('--gold FILE is required');
    const help = await run(['eval', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: tribunal eval --gold FILE --out DIR');
  });
});
