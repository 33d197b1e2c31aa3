import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel, withoutTools } from '../../config/index.js';
import { formatRejection } from '../../datasets/index.js';
import { writeFileAtomic } from '../../export/index.js';
import { createModelRegistry, loadSettings, resolveDefaultModel } from '../../models/index.js';
import {
  accuracySvg,
  calibratedPanelYaml,
  coverageSvg,
  type EvalReport,
  evalReport,
  type PairwiseTurn,
  reportMarkdown,
} from '../../quality/index.js';
import { LABELING_DELTA_INTERVAL_MS, type LabelingResult, runLabeling } from '../../runner/index.js';
import { openStore } from '../../store/index.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointsFrom } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import { integerFlag, numberFlag } from '../flags.js';
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
import { styleFor, terminalSafe } from '../terminal.js';
import { unreportedRejections } from './label.js';

export const EVAL_HELP = `Usage: tribunal eval --gold FILE --out DIR [options]

Labels human-labeled pairs (HH-RLHF or TRL preference JSONL, or native rows with meta.humanPreferred; gzip ok)
with the panel, then measures the labels: consensus and per-persona accuracy against the humans with 95%
bootstrap intervals, Cohen's kappa, ties and abstentions, length bias, position consistency (pairwise panels),
self-preference, inter-critic agreement (Krippendorff's alpha), debate dynamics, and agreement on the pairs the
panel keeps against the share it would escalate to a human, per consensus-probability threshold. Writes
DIR/report.json, DIR/report.md, DIR/report-accuracy.svg and DIR/report-coverage.svg beside the run's labels.jsonl;
rerunning resumes the labeling.

Options:
  --gold FILE               the human-labeled pairs (required)
  --out DIR                 the run directory (required)
  --store URL               keep the run in this Postgres database (default $TRIBUNAL_STORE; docs/labeling.md)
  --panel FILE              panel file (default: panels/default.yaml)
  --model ID                model for every critic, e.g. openai:gpt-4.1-mini, local:/path/model.gguf, fake:judge
  --limit N                 evaluate at most N items of FILE
  --max-rejected N          stop (exit 1) when more than N lines of FILE are rejected (default 1000)
  --concurrency N           items debated at once (default 8)
  --max-rounds N            override the panel's debate rounds
  --without-tools           the execution ablation: the same model critics with their tools taken away (no code is
                            run, no critic sees an execution result; verifiers are left out). Compare its per-persona
                            accuracy with the same command without the flag (docs/sandbox.md)
  --format F                input format: native | hh-rlhf | trl | humaneval (default: detected)
  --calibrate               fit persona weights (and a bias term) on part of the gold set, report before and after
                            on the rest, and write DIR/panel.calibrated.yaml
  --held-out X              share of the gold set held out for --calibrate and --target-agreement (default 0.3)
  --target-agreement A      choose the escalation threshold (panel escalate.belowConsensusProbability) with the
                            least escalation whose agreement is certified at least A on a calibration split, and
                            report how it holds on the held-out split (docs/quality.md, Agreement vs coverage)
  --delta D                 error level of that certificate: it holds with probability >= 1 - D (default 0.1)
  --no-bias                 fit --calibrate without the bias term (weights only)
  --seed S                  seed of the bootstrap, the kappa orientation and the split (default 0)
  --resamples N             bootstrap resamples (default 1000)
${PRICE_HELP}
${ENDPOINT_HELP}
${MODEL_FAILURE_HELP}
  --json                    print report.json on stdout
  -h, --help                show this help

Exit codes: 0 done, 1 invalid input (or no item in FILE), 2 usage, 3 the model kept failing, 130 interrupted.
See docs/quality.md for how to read the report.`;

/** `tribunal eval`: label a gold set and report how the labels agree with the humans, with bias measures. */
export async function evalCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...GOLD_RUN_OPTIONS,
      store: { type: 'string' },
      ...MODEL_FAILURE_OPTIONS,
      'max-rounds': { type: 'string' },
      'without-tools': { type: 'boolean' },
      calibrate: { type: 'boolean' },
      'held-out': { type: 'string' },
      'no-bias': { type: 'boolean' },
      'target-agreement': { type: 'string' },
      delta: { type: 'string' },
      ...PRICE_OPTIONS,
      ...ENDPOINT_OPTIONS,
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${EVAL_HELP}\n`);
    return EXIT.ok;
  }
  const { gold, outDir, limit, maxRejected, concurrency, resamples, seed, format } = goldRunFlags({
    values,
    positionals,
    cwd: io.cwd,
    outPurpose: 'the run directory',
  });
  const maxRounds = integerFlag(values['max-rounds'], '--max-rounds', { min: 0, max: 10 });
  const failureSettings = modelFailureSettingsFrom(values);
  const targetAgreement = numberFlag(values['target-agreement'], '--target-agreement', {
    min: 0,
    max: 1,
    exclusive: true,
    exclusiveMax: true,
  });
  const delta = numberFlag(values.delta, '--delta', { min: 0, max: 1, exclusive: true, exclusiveMax: true }) ?? 0.1;
  const heldOut = numberFlag(values['held-out'], '--held-out', { min: 0, max: 1, exclusive: true, exclusiveMax: true }) ?? 0.3;

  let panel = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
  if (maxRounds !== undefined) panel.panel.maxRounds = maxRounds;
  if (values['without-tools']) {
    const ablation = withoutTools(panel);
    panel = ablation.panel;
    io.stderr.write(
      `${styleFor(io.stderr).dim(
        `--without-tools: ${ablation.stripped.length > 0 ? `tools taken from ${ablation.stripped.join(', ')}` : 'no critic had tools'}` +
          `${ablation.dropped.length > 0 ? `; verifiers left out: ${ablation.dropped.join(', ')}` : ''}`,
      )}\n`,
    );
  }
  const settings = loadSettings();
  const storeUrl = values.store ?? settings.store;
  const defaultModel = resolveDefaultModel({ explicit: values.model, panelModel: panel.panel.model, settings });
  const err = styleFor(io.stderr);
  if (!values.json)
    io.stderr.write(err.dim(`model: ${defaultModel.id} (from ${defaultModel.source}) · run directory: ${outDir}\n`));
  const pricing = await pricingFrom({ values, panel, cwd: io.cwd });
  const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
  const warning = unpricedWarning(
    unpricedModels({ panel, defaultModel: defaultModel.id, modelOverride: values.model, pricing, settings, endpoints }),
  );
  if (warning) io.stderr.write(`${err.yellow(warning)}\n`);
  const bar = new ProgressBar({ stream: io.stderr, style: err });
  const models = createModelRegistry({ settings, pricing, endpoints });
  let result: LabelingResult;
  try {
    result = await runLabeling({
      storeUrl,
      // nobody watches these debates token by token in this process: join each turn's tokens as `label` does
      deltaIntervalMs: LABELING_DELTA_INTERVAL_MS,
      input: gold,
      outDir,
      panel,
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
      onRejected: (rejection) => bar.log(err.yellow(`rejected ${terminalSafe(formatRejection({ file: gold, rejection }))}`)),
    });
  } finally {
    bar.finish();
    await models.close();
  }
  if (result.imported.unreported > 0) io.stderr.write(`${err.yellow(unreportedRejections(result.imported))}\n`);
  const failed = failureLines({ result, minSuccessRate: failureSettings.minSuccessRate, style: err });
  if (failed.length > 0) io.stderr.write(`${failed.join('\n')}\n`);
  const exitCode = labelingExitCode(result, failureSettings.minSuccessRate);
  if (result.totals.done === 0 && exitCode !== EXIT.ok) {
    io.stderr.write('No report was written: no item has a label to measure.\n');
    return exitCode;
  }

  const rows = readLabels(result.export.files.labels);
  const pairwiseTurns = panel.panel.mode === 'pairwise' ? await readPairwiseTurns({ outDir, storeUrl, runId: result.runId }) : [];
  const report = evalReport({
    rows,
    pairwiseTurns,
    seed,
    resamples,
    calibrate: values.calibrate ? { heldOut, bias: values['no-bias'] !== true } : undefined,
    targetAgreement: targetAgreement === undefined ? undefined : { agreement: targetAgreement, heldOut, delta },
  });
  const files = await writeReport({ report, outDir });
  if (report.calibration && panel.file) {
    const calibrated = path.join(outDir, 'panel.calibrated.yaml');
    await writeFileAtomic({
      file: calibrated,
      content: calibratedPanelYaml({
        panelText: readFileSync(panel.file, 'utf8'),
        personaOrder: panel.critics.map((critic) => critic.id),
        weights: report.calibration.fit.weights,
        note:
          `Weights calibrated by tribunal eval on ${report.calibration.fit.trainingPairs} pairs of ${path.basename(gold)} ` +
          `(seed ${seed}); held-out accuracy ${percent(report.calibration.before.accuracy.value)} -> ${percent(report.calibration.after.accuracy.value)}.`,
      }),
    });
    files.push(calibrated);
  }

  if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(`${renderSummary(report, files, outDir)}\n`);
  return exitCode;
}

/** Writes report.json, report.md and the accuracy and coverage plots into `outDir`, each atomically; returns their paths. */
export async function writeReport(options: { report: EvalReport; outDir: string }): Promise<string[]> {
  const json = path.join(options.outDir, 'report.json');
  const markdown = path.join(options.outDir, 'report.md');
  const svg = path.join(options.outDir, 'report-accuracy.svg');
  const coverage = path.join(options.outDir, 'report-coverage.svg');
  await writeFileAtomic({ file: json, content: `${JSON.stringify(options.report, null, 2)}\n` });
  await writeFileAtomic({ file: svg, content: accuracySvg(options.report) });
  await writeFileAtomic({ file: coverage, content: coverageSvg(options.report) });
  await writeFileAtomic({
    file: markdown,
    content: reportMarkdown(options.report, { plotFile: path.basename(svg), coverageFile: path.basename(coverage) }),
  });
  return [json, markdown, svg, coverage];
}

/** Every pairwise judgment of the run, from the store (so resumed runs count earlier sessions' turns too). */
async function readPairwiseTurns(options: {
  outDir: string;
  storeUrl: string | undefined;
  runId: string;
}): Promise<PairwiseTurn[]> {
  const { runId } = options;
  const store = openStore({ dir: options.outDir, url: options.storeUrl });
  const turns: PairwiseTurn[] = [];
  try {
    let afterId = 0;
    for (;;) {
      const batch = await store.eventsAfter({ runId, afterId, limit: 5000 });
      if (batch.length === 0) break;
      for (const { id, event } of batch) {
        afterId = Math.max(afterId, id);
        if (event.type === 'turn-end' && event.judgment) turns.push({ ...event, judgment: event.judgment });
      }
    }
  } finally {
    await store.close();
  }
  return turns;
}

function renderSummary(report: EvalReport, files: readonly string[], outDir: string): string {
  const consensus = report.agreement.consensus;
  const lines = [
    `${report.items.gold} gold pairs: consensus accuracy ${percent(consensus.accuracy.value)} ` +
      `(95% CI ${percent(consensus.accuracy.low)}–${percent(consensus.accuracy.high)}), Cohen's kappa ${fixed(consensus.kappa.value)}, ` +
      `${consensus.counts.tie} ties, ${consensus.counts.abstain} abstentions`,
    ...Object.entries(report.agreement.critics).map(
      ([id, agreement]) => `  ${id}: ${percent(agreement.accuracy.value)} (${agreement.counts.abstain} abstentions)`,
    ),
    `Length baselines: longer ${percent(report.lengthBaselines.longer)}, shorter ${percent(report.lengthBaselines.shorter)}; ` +
      `consensus ${report.lengthBaselines.consensusMargin === null ? 'n/a' : (report.lengthBaselines.consensusMargin * 100).toFixed(1)} points over the better. ` +
      `On the same ${report.lengthPreference.pairs} gold pairs the panel preferred the longer answer in ${percent(report.lengthPreference.panelLongerRate)}, ` +
      `the humans in ${percent(report.lengthPreference.humanLongerRate)}; inter-critic alpha ${fixed(report.interCriticAlpha)}`,
  ];
  if (report.calibration)
    lines.push(
      `Calibration (held out, ${report.calibration.heldOutPairs} pairs): ${percent(report.calibration.before.accuracy.value)} -> ` +
        `${percent(report.calibration.after.accuracy.value)}; weights ${Object.entries(report.calibration.fit.weights)
          .map(([id, weight]) => `${id} ${weight}`)
          .join(', ')}`,
    );
  const target = report.escalation.target;
  if (target) {
    lines.push(
      target.threshold === null || !target.heldOut
        ? `Target agreement ${percent(target.target)}: no threshold certified it on ${target.calibrationPairs} calibration pairs`
        : `Target agreement ${percent(target.target)}: escalate below ${target.threshold.toFixed(2)}; held out ` +
            `(${target.heldOutPairs} pairs) ${percent(target.heldOut.agreement.value)} agreement, ${percent(target.heldOut.escalated)} escalated`,
    );
  }
  lines.push(`Wrote ${outDir}/: ${files.map((file) => path.basename(file)).join(', ')}`);
  return lines.join('\n');
}

function percent(value: number | null): string {
  return value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

function fixed(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(3);
}
