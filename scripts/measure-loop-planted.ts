/**
 * Measures the distribution the loop's learning test (test/loop/loop-learns.test.ts) picks its assertions from: the
 * planted-marker loop with PLANTED_SETTINGS for seeds 0..N-1, printing per seed the marker rate of policy_0's,
 * policy_1's and policy_2's held-out samples, the win rate of policy_2 over policy_0 and the KL after each iteration.
 *   npx tsx scripts/measure-loop-planted.ts [--seeds N] [--out FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel } from '../src/config/index.js';
import { runLoop } from '../src/loop/index.js';
import { createModelRegistry, loadSettings } from '../src/models/index.js';
import { heldOutFiles, MARKER, markerRate, PLANTED_SETTINGS, writePrompts } from '../test/loop/planted.js';

const { values } = parseArgs({ options: { seeds: { type: 'string' }, out: { type: 'string' } } });
const seeds = Number(values.seeds ?? 10);
const rows: unknown[] = [];
for (let seed = 0; seed < seeds; seed++) {
  const dir = await mkdtemp(path.join(tmpdir(), 'loop-planted-'));
  const started = Date.now();
  const models = createModelRegistry({ settings: loadSettings() });
  try {
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), PLANTED_SETTINGS.prompts);
    const result = await runLoop({
      prompts,
      outDir: path.join(dir, 'loop'),
      policy: `tiny?seed=${seed}`,
      iterations: PLANTED_SETTINGS.iterations,
      n: PLANTED_SETTINGS.n,
      heldOut: PLANTED_SETTINGS.heldOut,
      evalSamples: PLANTED_SETTINGS.evalSamples,
      maxTokens: PLANTED_SETTINGS.maxTokens,
      seed,
      panel: await loadPanel({}),
      models,
      defaultModel: `fake:judge?prefer=${MARKER}`,
      modelOverride: `fake:judge?prefer=${MARKER}`,
      train: { epochs: PLANTED_SETTINGS.epochs, gpus: 0 },
      export: { strategy: PLANTED_SETTINGS.strategy, minMargin: PLANTED_SETTINGS.minMargin },
      worker: { device: 'cpu' },
    });
    const rates = [];
    for (const file of heldOutFiles(path.join(dir, 'loop'), PLANTED_SETTINGS.iterations))
      rates.push((await markerRate(file)).rate);
    const last = result.report.iterations.at(-1);
    const row = {
      seed,
      markerRates: rates,
      gain: (rates.at(-1) as number) - (rates[0] as number),
      winRateVsInitial: last?.winRateVsInitial ?? null,
      kl: result.report.iterations.map((iteration) => iteration.kl),
      seconds: (Date.now() - started) / 1000,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await models.close();
    await rm(dir, { recursive: true, force: true });
  }
}
if (values.out)
  await writeFile(
    values.out,
    `${JSON.stringify({ command: 'npx tsx scripts/measure-loop-planted.ts', settings: PLANTED_SETTINGS, marker: MARKER, rows }, null, 2)}\n`,
  );
