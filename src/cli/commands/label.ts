import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel } from '../../config/index.js';
import { TribunalError } from '../../contracts/index.js';
import { formatRejection } from '../../datasets/index.js';
import { createModelRegistry, loadSettings, priceOf, resolveDefaultModel } from '../../models/index.js';
import {
  estimateLabeling,
  LABELING_DELTA_INTERVAL_MS,
  type LabelingEstimate,
  type LabelingResult,
  runLabeling,
  type StopReason,
} from '../../runner/index.js';
import { STORE_FILE_NAME } from '../../store/index.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointsFrom, modelsFileOf } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import { inputFormatFlag, integerFlag, numberFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import {
  failureLines,
  labelingExitCode,
  MODEL_FAILURE_HELP,
  MODEL_FAILURE_OPTIONS,
  modelFailureSettingsFrom,
} from '../model-failure-options.js';
import { PAIR_OPTIONS, pairSettingsFrom } from '../pair-options.js';
import {
  estimatedUsageNote,
  estimatingNotice,
  PRICE_HELP,
  PRICE_OPTIONS,
  pricingFrom,
  unpricedModels,
  unpricedWarning,
} from '../price-options.js';
import { formatCost, formatCount, formatDuration, ProgressBar } from '../progress-bar.js';
import { styleFor, table, terminalSafe } from '../terminal.js';
import { startWorkerProcesses } from '../worker-processes.js';

export const LABEL_HELP = `Usage: tribunal label INPUT --out DIR [options]

Debates every item of INPUT (JSONL: native, HH-RLHF or TRL; gzipped or not) with the panel and writes
labels.jsonl, pairs.jsonl, a dataset card (README.md) and rejected.jsonl to DIR. Progress lives in
DIR/tribunal.sqlite: run the same command again to resume after a crash, Ctrl-C or a budget stop.

Options:
  --out DIR                 the run directory (required): outputs, and the store unless --store says otherwise
  --store URL               keep runs in this Postgres database (postgres://…; default $TRIBUNAL_STORE, else
                            DIR/tribunal.sqlite): resume from any machine, export anywhere (docs/labeling.md)
  --panel FILE              panel file (default: panels/default.yaml)
  --model ID                model for every critic, e.g. openai:gpt-4.1-mini, local:/path/model.gguf, fake:judge
  --concurrency N           items debated at once, across all processes (default 8)
  --processes N             label with N processes on this machine: this one and N-1 "tribunal worker" children
                            on the same store (SQLite in WAL mode, or Postgres); default 1 (README.md, "Many
                            cores and many machines"); not with --max-cost or --max-calls (budgets are per process)
  --no-work                 only create the run and import INPUT, for "tribunal worker" processes to label
  --lease-s S               seconds an item's claim lasts without a heartbeat (default 30): a worker that dies
                            loses its items to the others this long after its last heartbeat
  --limit N                 import at most N items of INPUT
  --max-cost USD            stop taking items before this session's spend would pass USD; every model needs a
                            known price (built in, --price, --prices or the panel's prices:) or the run refuses
${PRICE_HELP}
${ENDPOINT_HELP}
  --max-calls N             stop taking items before this session's model calls would pass N
  --max-rounds N            override the panel's debate rounds
  --dry-run                 estimate calls, tokens and cost, then exit without calling any model
  --strict                  check the whole input first; refuse to start if any line is rejected
  --max-rejected N          stop (exit 1) when more than N input lines are rejected (default 1000)
  --retry-failed            put items whose debate failed back in the queue
${MODEL_FAILURE_HELP}
  --format F                input format: native | hh-rlhf | trl | humaneval (default: detected)
  --pairs-format F          trl (pairs.jsonl, default) | openai (pairs.openai.jsonl)
  --strategy S              best-vs-worst (default) | best-vs-random-lower | all-pairs
  --min-margin X            keep pairs whose score margin is at least X (panel scale units)
  --min-agreement X         keep pairs whose candidates' agreement is at least X (0..1)
  --min-consensus X         keep pairs whose critics' consensus probability is at least X (0..1)
  --uncertainty             add votes, consensus_probability, disagreement and label_smoothing columns to TRL pairs
  --length-control          pair on length-controlled scores (the run's score-on-length slope regressed out)
  --exclude-flagged         drop pairs with a candidate flagged as prompt injection (docs/prompt-injection.md)
  --exclude-escalated       drop the pairs of items escalated to a human review (panel escalate) that no human
                            verdict answered; by default they are kept, marked "review" (docs/labeling.md)
  --seed S                  seed of best-vs-random-lower (default 0)
  --json                    print the final summary as JSON on stdout
  -h, --help                show this help

Ctrl-C stops gracefully (in-flight debates keep their finished rounds, what is done is exported);
a second Ctrl-C exits at once. Exit codes: 0 done, 1 invalid input or panel (or no item in INPUT), 2 usage,
3 the model kept failing (see --min-success-rate), 4 budget reached, 130 interrupted. See docs/labeling.md.`;

/** `tribunal label`: label a dataset, resumably, with a progress bar. */
export async function labelCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      store: { type: 'string' },
      panel: { type: 'string' },
      model: { type: 'string' },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      'max-cost': { type: 'string' },
      'max-calls': { type: 'string' },
      'max-rounds': { type: 'string' },
      'dry-run': { type: 'boolean' },
      strict: { type: 'boolean' },
      'max-rejected': { type: 'string' },
      'retry-failed': { type: 'boolean' },
      processes: { type: 'string' },
      'no-work': { type: 'boolean' },
      'lease-s': { type: 'string' },
      format: { type: 'string' },
      ...PAIR_OPTIONS,
      ...PRICE_OPTIONS,
      ...ENDPOINT_OPTIONS,
      ...MODEL_FAILURE_OPTIONS,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${LABEL_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    throw new TribunalError('CONFIG_INVALID', 'give exactly one INPUT file: tribunal label INPUT --out DIR');
  }
  const input = path.resolve(io.cwd, positionals[0] ?? '');
  if (!values.out && !values['dry-run']) throw new TribunalError('CONFIG_INVALID', '--out DIR is required: the run directory');
  const outDir = path.resolve(io.cwd, values.out ?? '.');
  const concurrency = integerFlag(values.concurrency, '--concurrency', { min: 1, max: 4096 }) ?? 8;
  const limit = integerFlag(values.limit, '--limit', { min: 1 });
  const maxRejected = integerFlag(values['max-rejected'], '--max-rejected', { min: 0 });
  const maxCalls = integerFlag(values['max-calls'], '--max-calls', { min: 1 });
  const maxRounds = integerFlag(values['max-rounds'], '--max-rounds', { min: 0, max: 10 });
  const maxCostUsd = numberFlag(values['max-cost'], '--max-cost', { min: 0, exclusive: true, unit: 'US dollars' });
  const format = inputFormatFlag(values.format);
  const processes = integerFlag(values.processes, '--processes', { min: 1, max: 256 }) ?? 1;
  const leaseS = numberFlag(values['lease-s'], '--lease-s', { min: 0.1, max: 86_400, unit: 'seconds' });
  if (processes > 1 && (maxCostUsd !== undefined || maxCalls !== undefined)) {
    throw new TribunalError(
      'CONFIG_INVALID',
      '--processes cannot be combined with --max-cost or --max-calls: each process keeps its own budget, so the caps would not hold; use one process for a capped run',
    );
  }
  if (processes > 1 && values['no-work']) {
    throw new TribunalError(
      'CONFIG_INVALID',
      '--no-work only queues the items: it starts no process, so --processes does not apply',
    );
  }
  // --concurrency is what the run has in flight: shared out between the processes.
  const perProcess = Math.max(1, Math.ceil(concurrency / processes));
  const exportSettings = pairSettingsFrom(values);
  const failureSettings = modelFailureSettingsFrom(values);

  const panel = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
  if (maxRounds !== undefined) panel.panel.maxRounds = maxRounds;
  const settings = loadSettings();
  const defaultModel = resolveDefaultModel({ explicit: values.model, panelModel: panel.panel.model, settings });
  const err = styleFor(io.stderr);
  const out = styleFor(io.stdout);
  const pricing = await pricingFrom({ values, panel, cwd: io.cwd });
  const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
  const unpriced = unpricedModels({
    panel,
    defaultModel: defaultModel.id,
    modelOverride: values.model,
    pricing,
    settings,
    endpoints,
  });

  if (values['dry-run']) {
    const estimate = await estimateLabeling({
      input,
      panel,
      defaultModel: defaultModel.id,
      modelOverride: values.model,
      limit,
      format,
      priceOf: (id) => priceOf(id, { overrides: pricing, openaiBaseUrl: settings.openaiBaseUrl, endpoints }),
    });
    if (values.json) io.stdout.write(`${JSON.stringify(estimate, null, 2)}\n`);
    else io.stdout.write(`${renderEstimate(estimate, out)}\n`);
    const warning = unpricedWarning(unpriced);
    if (warning) io.stderr.write(`${err.yellow(warning)}\n`);
    if (estimate.items === 0) {
      const why = estimate.rejectedLines > 0 ? `all ${estimate.rejectedLines} of its lines would be rejected` : 'it is empty';
      throw new TribunalError('INPUT_INVALID', `${input} holds no item to label: ${why}`, { location: { file: input } });
    }
    return EXIT.ok;
  }

  if (!values.json)
    io.stderr.write(err.dim(`model: ${defaultModel.id} (from ${defaultModel.source}) · run directory: ${outDir}\n`));
  // With --max-cost the run itself refuses unpriced models; otherwise say up front that their cost counts as $0.
  const warning = maxCostUsd === undefined ? unpricedWarning(unpriced) : undefined;
  if (warning) io.stderr.write(`${err.yellow(warning)}\n`);
  const bar = new ProgressBar({ stream: io.stderr, style: err });
  const models = createModelRegistry({ settings, pricing, endpoints });
  let failuresShown = 0;
  let estimating = false;
  let result: LabelingResult;
  try {
    const storeUrl = values.store ?? settings.store;
    result = await runLabeling({
      input,
      outDir,
      storeUrl,
      panel,
      models,
      pricing,
      defaultModel: defaultModel.id,
      modelOverride: values.model,
      concurrency: perProcess,
      work: !values['no-work'],
      leaseMs: leaseS === undefined ? undefined : leaseS * 1000,
      // Nothing in this process watches single tokens: a turn's tokens become a delta per flush interval.
      deltaIntervalMs: LABELING_DELTA_INTERVAL_MS,
      ...(processes > 1
        ? {
            startHelpers: ({ runId }: { runId: string }) =>
              startWorkerProcesses({
                count: processes - 1,
                runId,
                store: storeUrl ? { url: storeUrl } : { file: path.join(outDir, STORE_FILE_NAME) },
                concurrency: perProcess,
                leaseS,
                modelsFile: modelsFileOf({ values, settings, cwd: io.cwd }),
                cwd: io.cwd,
                onExit: (exit) => {
                  if (exit.code === 0 || exit.stderr === '') return;
                  const why = exit.signal ?? `exit code ${exit.code}`;
                  bar.log(
                    err.yellow(
                      `worker process ${exit.index + 1} stopped (${why}); its items go to the others when their leases expire: ${terminalSafe(exit.stderr.trim().split('\n').slice(-3).join(' '))}`,
                    ),
                  );
                },
              }),
          }
        : {}),
      limit,
      maxCostUsd,
      maxCalls,
      strict: values.strict,
      maxRejected,
      format,
      retryFailed: values['retry-failed'],
      breaker: failureSettings.breaker,
      export: exportSettings,
      signal,
      onProgress: (progress) => {
        if (!estimating && progress.usage.estimatedCalls) {
          estimating = true;
          bar.log(err.yellow(estimatingNotice(maxCostUsd)));
        }
        bar.update(progress);
      },
      onRejected: (rejection) => bar.log(err.yellow(`rejected ${terminalSafe(formatRejection({ file: input, rejection }))}`)),
      onItemFailed: (failure) => {
        failuresShown += 1;
        if (failuresShown <= 20) {
          bar.log(
            err.red(
              `item ${failure.itemId} (line ${failure.line}) ${failure.state}: ${failure.code}: ${terminalSafe(failure.message)}`,
            ),
          );
        } else if (failuresShown === 21) {
          bar.log(err.red('more items failed; see the summary and rerun with --retry-failed'));
        }
      },
    });
  } finally {
    bar.finish();
    await models.close();
  }

  const failed = failureLines({ result, minSuccessRate: failureSettings.minSuccessRate, style: values.json ? err : out });
  if (values.json) {
    io.stdout.write(`${JSON.stringify(summaryJson(result), null, 2)}\n`);
    if (failed.length > 0) io.stderr.write(`${failed.join('\n')}\n`);
  } else {
    io.stdout.write(`${[renderSummary(result, out), ...failed].join('\n')}\n`);
  }
  const estimated = estimatedUsageNote(result.session.usage, maxCostUsd);
  if (estimated) io.stderr.write(`${err.yellow(estimated)}\n`);
  return labelingExitCode(result, failureSettings.minSuccessRate);
}

const STOP_TEXT: Record<StopReason, string> = {
  interrupted: 'interrupted',
  'max-calls': 'the --max-calls budget is reached',
  'max-cost': 'the --max-cost budget is reached',
  'provider-failing': 'the model kept failing',
};

function renderSummary(result: LabelingResult, style: ReturnType<typeof styleFor>): string {
  const { totals, session, export: exported } = result;
  const seconds = session.elapsedMs / 1000;
  const settled = session.done + session.failed + session.rejected;
  const lines: string[] = [];
  const opening =
    result.opening === 'created'
      ? 'new run'
      : result.opening === 'resumed'
        ? 'resumed'
        : `resumed with a changed config (${result.requeued} items requeued)`;
  lines.push(
    `${style.bold(`Run ${result.runId}`)} (${opening}): ${totals.done}/${totals.items} items labeled` +
      `${totals.failed > 0 ? style.red(`, ${totals.failed} failed`) : ''}` +
      `${totals.rejected > 0 ? style.yellow(`, ${totals.rejected} refused`) : ''}` +
      `${totals.rejectedLines > 0 ? style.yellow(`, ${totals.rejectedLines} input lines rejected`) : ''}` +
      `${totals.pending > 0 ? `, ${totals.pending} pending` : ''}`,
  );
  lines.push(
    `This session: ${session.done} done, ${session.failed} failed${session.aborted > 0 ? `, ${session.aborted} interrupted (they resume)` : ''} ` +
      `in ${formatDuration(seconds)} (${seconds > 0 ? (settled / seconds).toFixed(2) : '0'} items/s) · ` +
      `${session.usage.calls} calls · ${formatCount(session.usage.inputTokens)} in + ${formatCount(session.usage.outputTokens)} out tokens · ${formatCost(session.usage.costUsd)}`,
  );
  if (result.imported.unreported > 0) lines.push(style.yellow(unreportedRejections(result.imported)));
  if (result.recovered > 0) lines.push(`Recovered ${result.recovered} items a crashed run left in progress.`);
  const files = [
    `${path.basename(exported.files.labels)} (${exported.summary.items} rows)`,
    `${path.basename(exported.files.pairs)} (${exported.summary.pairs} pairs, ${exported.settings.strategy})`,
    path.basename(exported.files.card),
    ...(exported.rejectedFile ? [`rejected.jsonl (${exported.rejectedLines} lines)`] : []),
  ];
  lines.push(`Wrote ${path.dirname(exported.files.labels)}/: ${files.join(', ')}`);
  const { review } = exported.summary;
  if (review.escalated > 0) {
    lines.push(
      style.yellow(
        `Review queue: ${review.escalated - review.answered} items await a human verdict (${review.escalated} escalated, ${review.answered} answered); ` +
          'labels.jsonl marks them "review"; answer them in the viewer (tribunal serve).',
      ),
    );
  }
  if (result.status === 'queued') {
    lines.push(
      `Queued: ${totals.pending} items wait in run ${result.runId}; label them with "tribunal worker --store … --run ${result.runId}" on any machine that reaches the store.`,
    );
  }
  if (result.stopReason) {
    lines.push(style.yellow(`Stopped: ${STOP_TEXT[result.stopReason]}. Run the same command again to continue.`));
  }
  if (totals.failed > 0 && !result.stopReason) lines.push('Retry the failed items with --retry-failed.');
  return lines.join('\n');
}

/** The line that stands for the rejection messages not printed (past the first 20). */
export function unreportedRejections(imported: LabelingResult['imported']): string {
  const counts = Object.entries(imported.rejectedByCode)
    .sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b))
    .map(([code, count]) => `${code}: ${count}`)
    .join(', ');
  return `${imported.unreported} more rejected lines not shown (all rejected lines by reason: ${counts}); see rejected.jsonl`;
}

function summaryJson(result: LabelingResult): Record<string, unknown> {
  return {
    runId: result.runId,
    opening: result.opening,
    requeued: result.requeued,
    status: result.status,
    stopReason: result.stopReason ?? null,
    imported: result.imported,
    recovered: result.recovered,
    totals: result.totals,
    session: result.session,
    failures: result.failures,
    breaker: result.breaker ?? null,
    files: { ...result.export.files, rejected: result.export.rejectedFile ?? null },
    export: {
      settings: result.export.settings,
      pairs: result.export.summary.pairs,
      items: result.export.summary.items,
      review: result.export.summary.review,
    },
  };
}

function renderEstimate(estimate: LabelingEstimate, style: ReturnType<typeof styleFor>): string {
  const rows = [
    ['model', 'calls', 'input tokens', 'output tokens', 'cost'],
    ...estimate.models.map((entry) => [
      entry.model,
      String(entry.usage.calls),
      formatCount(entry.usage.inputTokens),
      formatCount(entry.usage.outputTokens),
      entry.priced ? formatCost(entry.usage.costUsd) : 'unknown price',
    ]),
    [
      'total',
      String(estimate.total.calls),
      formatCount(estimate.total.inputTokens),
      formatCount(estimate.total.outputTokens),
      formatCost(estimate.total.costUsd),
    ],
  ];
  const lines = [
    `${style.bold('Dry run')}: ${estimate.items} items from ${estimate.file} (${estimate.format})` +
      `${estimate.rejectedLines > 0 ? `, ${estimate.rejectedLines} lines would be rejected` : ''}` +
      `${estimate.rejectedItems > 0 ? `, ${estimate.rejectedItems} items would be refused` : ''}`,
    '',
    table(rows, style),
    '',
    `Upper bound: every debate runs all ${estimate.roundsPerDebate} rounds; debates that converge early cost less.`,
    'Tokens are estimated from the text (ASCII characters / 4, one per other character); nothing was sent to any model.',
  ];
  if (estimate.models.some((entry) => !entry.priced)) lines.push('Models without a known price count as $0.');
  return lines.join('\n');
}
