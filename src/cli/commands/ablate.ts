import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel } from '../../config/index.js';
import { type LabelRow, TribunalError } from '../../contracts/index.js';
import { writeFileAtomic } from '../../export/index.js';
import { createModelRegistry, loadSettings, resolveDefaultModel } from '../../models/index.js';
import { ablationMarkdown, ablationPlans, ablationResults } from '../../quality/index.js';
import { LABELING_DELTA_INTERVAL_MS, runLabeling } from '../../runner/index.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointsFrom } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import { GOLD_RUN_OPTIONS, goldRunFlags, readLabels } from '../gold-run.js';
import type { CliIo } from '../io.js';
import {
  failureLines,
  labelingExitCode,
  MODEL_FAILURE_HELP,
  MODEL_FAILURE_OPTIONS,
  modelFailureSettingsFrom,
} from '../model-failure-options.js';
import { PRICE_HELP, PRICE_OPTIONS, pricingFrom, unpricedModels, unpricedWarning } from '../price-options.js';
import { ProgressBar } from '../progress-bar.js';
import { styleFor } from '../terminal.js';

export const ABLATE_HELP = `Usage: tribunal ablate --gold FILE --out DIR [options]

Judges the same human-labeled pairs three ways at the same planned number of model calls per candidate: a single
judge sampled N x (1 + R) times, a jury of the N personas voting 1 + R times each, and the panel's debate (N
personas, R rounds). Each arm is a label run in DIR/single, DIR/jury and DIR/debate (rerunning resumes); the
comparison (agreement with the humans, calls, tokens and cost) goes to DIR/ablation.json and DIR/ablation.md.

Options:
  --gold FILE               the human-labeled pairs (HH-RLHF, TRL, or native with meta.humanPreferred; required)
  --out DIR                 the ablation directory (required)
  --panel FILE              the debate panel (default: panels/default.yaml)
  --model ID                model for every critic, e.g. openai:gpt-4.1-mini, local:/path/model.gguf, fake:judge
  --judge ID                the persona of the single-judge arm (default: the panel's first)
  --limit N                 use at most N items of FILE
  --max-rejected N          stop (exit 1) when more than N lines of FILE are rejected (default 1000)
  --concurrency N           items debated at once (default 8)
  --format F                input format: native | hh-rlhf | trl | humaneval (default: detected)
  --seed S                  bootstrap seed (default 0)
  --resamples N             bootstrap resamples (default 1000)
${PRICE_HELP}
${ENDPOINT_HELP}
${MODEL_FAILURE_HELP}
  --json                    print ablation.json on stdout
  -h, --help                show this help

Exit codes: 0 done, 1 invalid input (or no item in FILE), 2 usage, 3 the model kept failing in an arm (the later
arms are not run), 130 interrupted. See docs/quality.md.`;

/** `tribunal ablate`: single judge vs jury vs debate at equal budget, against human labels. */
export async function ablateCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...GOLD_RUN_OPTIONS, ...MODEL_FAILURE_OPTIONS, judge: { type: 'string' }, ...PRICE_OPTIONS, ...ENDPOINT_OPTIONS },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${ABLATE_HELP}\n`);
    return EXIT.ok;
  }
  const { gold, outDir, limit, maxRejected, concurrency, resamples, seed, format } = goldRunFlags({
    values,
    positionals,
    cwd: io.cwd,
    outPurpose: 'the ablation directory',
  });
  const panel = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
  if (values.judge !== undefined && !panel.critics.some((critic) => critic.id === values.judge)) {
    throw new TribunalError(
      'CONFIG_INVALID',
      `--judge must name a persona on the panel (${panel.critics.map((critic) => critic.id).join(', ')}), got "${values.judge}"`,
    );
  }
  const failureSettings = modelFailureSettingsFrom(values);
  const plans = ablationPlans({ panel, ...(values.judge ? { judge: values.judge } : {}) });
  const settings = loadSettings();
  const defaultModel = resolveDefaultModel({ explicit: values.model, panelModel: panel.panel.model, settings });
  const err = styleFor(io.stderr);
  const pricing = await pricingFrom({ values, panel, cwd: io.cwd });
  const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
  const warning = unpricedWarning(
    unpricedModels({ panel, defaultModel: defaultModel.id, modelOverride: values.model, pricing, settings, endpoints }),
  );
  if (warning) io.stderr.write(`${err.yellow(warning)}\n`);
  mkdirSync(outDir, { recursive: true });
  const models = createModelRegistry({ settings, pricing, endpoints });
  const arms: Array<{ plan: (typeof plans)[number]; rows: LabelRow[] }> = [];
  try {
    for (const plan of plans) {
      if (!values.json) io.stderr.write(err.dim(`${plan.arm}: ${plan.description} · model ${defaultModel.id}\n`));
      const bar = new ProgressBar({ stream: io.stderr, style: err });
      try {
        const result = await runLabeling({
          input: gold,
          // nobody watches these debates token by token in this process: join each turn's tokens as `label` does
          deltaIntervalMs: LABELING_DELTA_INTERVAL_MS,
          outDir: path.join(outDir, plan.arm),
          panel: plan.panel,
          models,
          defaultModel: defaultModel.id,
          modelOverride: values.model,
          concurrency,
          limit,
          maxRejected,
          format,
          signal,
          breaker: failureSettings.breaker,
          onProgress: (progress) => bar.update(progress),
        });
        bar.finish();
        const failed = failureLines({ result, minSuccessRate: failureSettings.minSuccessRate, style: err, label: plan.arm });
        if (failed.length > 0) io.stderr.write(`${failed.join('\n')}\n`);
        const exitCode = labelingExitCode(result, failureSettings.minSuccessRate);
        if (exitCode !== EXIT.ok) return exitCode;
        arms.push({ plan, rows: readLabels(result.export.files.labels) });
      } finally {
        bar.finish();
      }
    }
  } finally {
    await models.close();
  }
  const results = ablationResults({ arms, seed, resamples });
  const report = { v: 1, gold: path.basename(gold), model: defaultModel.id, arms: results };
  await writeFileAtomic({ file: path.join(outDir, 'ablation.json'), content: `${JSON.stringify(report, null, 2)}\n` });
  await writeFileAtomic({ file: path.join(outDir, 'ablation.md'), content: ablationMarkdown(results) });
  if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else
    io.stdout.write(
      `${results
        .map(
          (result) =>
            `${result.arm.padEnd(7)} ${result.usage.calls} calls, accuracy ${
              result.agreement.accuracy.value === null ? 'n/a' : `${(result.agreement.accuracy.value * 100).toFixed(1)}%`
            } (${result.description})`,
        )
        .join('\n')}\nWrote ${outDir}/: ablation.json, ablation.md, single/, jury/, debate/\n`,
    );
  return EXIT.ok;
}
