/**
 * The kill -9 loop over `tribunal label`, at scale: many trials, each killing the labeling CLI at random moments
 * (start-up, import, debates, settling, export) one to `--max-kills` times before letting the same command finish,
 * then checking the run directory: every item labeled exactly once (labels.jsonl and the store), no pair twice, each
 * debate's events stored once per seq, no snapshot or temporary file left, and labels equal to an uninterrupted run.
 * Prints one line per trial and a summary (JSON with --json); exits 1 when any trial lost or duplicated anything.
 *
 *   npx tsx scripts/label-kill-loop.ts --trials 50 --items 12 --seed 7
 *
 * test/cli/label-kill-loop.test.ts runs a few trials of the same loop in CI.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LabelRow } from '../src/contracts/index.js';
import { mulberry32, runCli, runProblems } from '../test/cli/label-process.js';
import { labelEssence, nativeItem, readJsonl, tempDir, writeInput } from '../test/runner/fixtures.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    items: { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    'latency-ms': { type: 'string', default: '40' },
    'max-rounds': { type: 'string', default: '1' },
    'max-kills': { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const number = (name: keyof typeof values, min: number): number => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${name} must be a whole number from ${min}, got ${values[name]}`);
  return value;
};
const trials = number('trials', 1);
const items = number('items', 1);
const maxKills = number('max-kills', 1);
const random = mulberry32(number('seed', 0));
const model = `fake:judge?latencyMs=${number('latency-ms', 0)}`;

const dir = tempDir('tribunal-kill-loop-');
const input = writeInput(
  dir,
  Array.from({ length: items }, (_, index) => nativeItem(index + 1, 3)),
);
const itemIds = Array.from({ length: items }, (_, index) => `item-${index + 1}`);
const args = (out: string) => [
  'label',
  input,
  '--model',
  model,
  '--out',
  out,
  '--concurrency',
  String(number('concurrency', 1)),
  '--max-rounds',
  String(number('max-rounds', 0)),
  '--json',
];

/** Where a run was when the kill landed, from the store's item states. */
function phaseOf(states: Record<string, number> | undefined): string {
  if (states === undefined || Object.keys(states).length === 0) return 'start-up/import';
  if ((states.done ?? 0) === items) return 'export';
  if ((states.running ?? 0) > 0) return 'debating';
  return 'between items';
}

const cleanOut = path.join(dir, 'clean');
const started = Date.now();
const cleanRun = await runCli({ args: args(cleanOut), out: cleanOut });
const cleanMs = Date.now() - started;
if (cleanRun.code !== 0) throw new Error(`the uninterrupted run failed: ${cleanRun.stderr}`);
// Start-up (loading the CLI) takes much of a short run: most kills are aimed at the time after the store holds the
// items (debates, settling, export), a fifth at any moment from the start.
const activeMs = Math.max(50, cleanRun.elapsedMs - (cleanRun.readyMs ?? 0));
const clean = JSON.stringify(labelEssence(readJsonl<LabelRow>(path.join(cleanOut, 'labels.jsonl'))));
const cleanCalls = readJsonl<LabelRow>(path.join(cleanOut, 'labels.jsonl')).reduce((sum, row) => sum + row.usage.calls, 0);

const phases: Record<string, number> = {};
const failures: Array<{ trial: number; problems: string[] }> = [];
let attempted = 0;
let landed = 0;
const loopStarted = Date.now();
for (let trial = 0; trial < trials; trial++) {
  const out = path.join(dir, `trial-${trial}`);
  const kills = 1 + Math.floor(random() * maxKills);
  const landedAt: string[] = [];
  for (let kill = 0; kill < kills; kill++) {
    const fromStart = random() < 0.2;
    const delay = Math.floor(random() * (fromStart ? cleanMs : activeMs));
    attempted += 1;
    const result = await runCli({
      args: args(out),
      out,
      plan: fromStart ? { killAtMs: delay } : { killAfterReadyMs: delay },
    });
    if (result.signal === 'SIGKILL') {
      landed += 1;
      const phase = phaseOf(result.atKill);
      phases[phase] = (phases[phase] ?? 0) + 1;
      landedAt.push(`${fromStart ? '' : 'ready+'}${delay}ms/${phase}`);
    } else if (result.code !== 0) {
      failures.push({ trial, problems: [`a run exited ${result.code}: ${result.stderr.slice(-500)}`] });
    }
  }
  const finished = await runCli({ args: args(out), out });
  const problems =
    finished.code === 0
      ? runProblems({ out, itemIds })
      : [`the final run exited ${finished.code}: ${finished.stderr.slice(-500)}`];
  if (problems.length === 0) {
    const labels = readJsonl<LabelRow>(path.join(out, 'labels.jsonl'));
    if (JSON.stringify(labelEssence(labels)) !== clean) problems.push('labels differ from the uninterrupted run');
    const calls = labels.reduce((sum, row) => sum + row.usage.calls, 0);
    // A crash can only add calls (repeated turns); counting fewer than an uninterrupted run means usage was lost.
    if (calls < cleanCalls) problems.push(`labels count ${calls} calls, fewer than the ${cleanCalls} of an uninterrupted run`);
  }
  if (problems.length > 0) failures.push({ trial, problems });
  if (!values.json) {
    process.stdout.write(
      `trial ${trial + 1}/${trials}: ${landedAt.length}/${kills} kills landed ${landedAt.length > 0 ? `(${landedAt.join(', ')}) ` : ''}` +
        `${problems.length === 0 ? 'ok' : `FAILED: ${problems.join('; ')}`}\n`,
    );
  }
  if (!values.keep && problems.length === 0) rmSync(out, { recursive: true, force: true });
}

const report = {
  trials,
  items,
  model,
  uninterruptedMs: cleanMs,
  kills: { attempted, landed, byPhase: phases },
  failedTrials: failures.length,
  failures,
  elapsedSeconds: Math.round((Date.now() - loopStarted) / 100) / 10,
  directory: dir,
};
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else {
  process.stdout.write(
    `\n${trials} trials, ${landed}/${attempted} kills landed (${Object.entries(phases)
      .map(([phase, count]) => `${phase} ${count}`)
      .join(', ')}), ${failures.length} trials lost or duplicated something · ${report.elapsedSeconds} s\n`,
  );
}
process.exitCode = failures.length === 0 ? 0 : 1;
