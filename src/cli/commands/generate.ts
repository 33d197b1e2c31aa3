import path from 'node:path';
import { parseArgs } from 'node:util';
import { TribunalError } from '../../contracts/index.js';
import { formatRejection } from '../../datasets/index.js';
import {
  estimateGeneration,
  GENERATION_DEFAULTS,
  type GenerationEstimate,
  type GenerationResult,
  parsePolicy,
  runGeneration,
  samplingSettingsOf,
} from '../../generate/index.js';
import { loadSettings } from '../../models/index.js';
import type { LabelingProgress, StopReason } from '../../runner/index.js';
import { EXIT } from '../exit-codes.js';
import { inputFormatFlag, integerFlag, numberFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import { formatCost, formatCount, formatDuration, formatItemRate, renderBarLine } from '../progress-bar.js';
import { type ProgressBarOptions, StatusLine } from '../status-line.js';
import { styleFor, table, terminalSafe } from '../terminal.js';

export const GENERATE_HELP = `Usage: tribunal generate PROMPTS --policy POLICY --out DIR [options]

Draws K samples per prompt of PROMPTS (JSONL: native, HH-RLHF or TRL, gzipped or not; native rows need no
candidates, existing candidates are ignored) from POLICY and writes DIR/candidates.jsonl: one row per prompt in
the native input format, so "tribunal label DIR/candidates.jsonl" debates the samples. Identical samples of a prompt
are folded into one candidate and counted. Progress lives in DIR/tribunal.sqlite: run the same command again to
resume after a crash, Ctrl-C or a budget stop.

Policies:
  tiny                      a fresh tiny decoder (tiny?seed=N), sampled by the Python worker: tests, offline demos
  checkpoint:DIR            the latest checkpoint of a "tribunal train dpo --out DIR" run (tiny or HF, full or LoRA)
  openai:NAME               OpenAI or an OpenAI-compatible server (OPENAI_BASE_URL: vLLM, Ollama, llama.cpp...);
                            K samples in one request with n where the server supports it
  anthropic:NAME            Anthropic (one request per sample)
  local:PATH                a GGUF model run in-process
  fake:NAME                 deterministic text for tests (fake:policy?vocab=4&words=6)

Options:
  --out DIR                 the run directory (required)
  --policy POLICY           the policy to sample (required)
  --n K                     samples per prompt (default ${GENERATION_DEFAULTS.n})
  --temperature T           sampling temperature, 0 greedy (default ${GENERATION_DEFAULTS.temperature})
  --top-p P                 nucleus sampling, 0 < P <= 1 (default ${GENERATION_DEFAULTS.topP})
  --max-tokens N            new tokens per sample at most (default ${GENERATION_DEFAULTS.maxTokens})
  --seed S                  sampling seed (default ${GENERATION_DEFAULTS.seed}); tiny, checkpoint and fake samples are reproducible
  --concurrency N           prompts sampled at once by API and local policies (default 8)
  --limit N                 import at most N prompts of PROMPTS
  --max-cost USD            stop taking prompts before this session's spend would pass USD
  --max-calls N             stop taking prompts before this session's model calls would pass N
  --dry-run                 estimate calls, tokens and cost, then exit without calling any model
  --strict                  check the whole input first; refuse to start if any line is rejected
  --retry-failed            put prompts whose sampling failed back in the queue
  --format F                input format: native | hh-rlhf | trl (default: detected)
  --reference POLICY        tiny/checkpoint: also score each sample under POLICY (tiny or checkpoint:DIR): meta.refLogprob
  --device D                tiny/checkpoint: auto (default) | cpu | cuda
  --batch-size N            tiny/checkpoint: sequences per forward pass (default 16)
  --json                    print the final summary as JSON on stdout
  -h, --help                show this help

Ctrl-C stops gracefully (sampled prompts are kept and written); a second Ctrl-C exits at once. Exit codes: 0 done,
1 invalid input, 2 usage, 3 model errors, 4 budget reached, 130 interrupted. See docs/generate.md.`;

/** `tribunal generate`: sample a policy, resumably, with a progress bar. */
export async function generateCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      policy: { type: 'string' },
      n: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      'max-cost': { type: 'string' },
      'max-calls': { type: 'string' },
      'dry-run': { type: 'boolean' },
      strict: { type: 'boolean' },
      'retry-failed': { type: 'boolean' },
      format: { type: 'string' },
      device: { type: 'string' },
      'batch-size': { type: 'string' },
      reference: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${GENERATE_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    throw new TribunalError(
      'CONFIG_INVALID',
      'give exactly one PROMPTS file: tribunal generate PROMPTS --policy POLICY --out DIR',
    );
  }
  if (!values.policy) throw new TribunalError('CONFIG_INVALID', '--policy is required: tiny, checkpoint:DIR or a model id');
  if (!values.out && !values['dry-run']) throw new TribunalError('CONFIG_INVALID', '--out DIR is required: the run directory');
  const input = path.resolve(io.cwd, positionals[0] ?? '');
  const outDir = path.resolve(io.cwd, values.out ?? '.');
  const sampling = samplingSettingsOf({
    n: integerFlag(values.n, '--n', { min: 1, max: 1024 }) ?? GENERATION_DEFAULTS.n,
    temperature: numberFlag(values.temperature, '--temperature', { min: 0, max: 10 }),
    topP: numberFlag(values['top-p'], '--top-p', { min: 0, max: 1, exclusive: true }),
    maxTokens: integerFlag(values['max-tokens'], '--max-tokens', { min: 1, max: 1_000_000 }),
    seed: integerFlag(values.seed, '--seed', { min: 0 }),
  });
  const concurrency = integerFlag(values.concurrency, '--concurrency', { min: 1, max: 4096 }) ?? 8;
  const limit = integerFlag(values.limit, '--limit', { min: 1 });
  const maxCalls = integerFlag(values['max-calls'], '--max-calls', { min: 1 });
  const maxCostUsd = numberFlag(values['max-cost'], '--max-cost', { min: 0, exclusive: true, unit: 'US dollars' });
  const batchSize = integerFlag(values['batch-size'], '--batch-size', { min: 1, max: 65_536 });
  const format = inputFormatFlag(values.format);
  const device = values.device;
  if (device !== undefined && device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new TribunalError('CONFIG_INVALID', `--device must be auto, cpu or cuda, got "${device}"`);
  }
  const spec = parsePolicy({ text: values.policy, cwd: io.cwd });
  const settings = loadSettings();
  const err = styleFor(io.stderr);
  const out = styleFor(io.stdout);

  if (values['dry-run']) {
    const estimate = await estimateGeneration({
      input,
      spec,
      n: sampling.n,
      maxTokens: sampling.maxTokens,
      settings,
      limit,
      format,
    });
    if (values.json) io.stdout.write(`${JSON.stringify(estimate, null, 2)}\n`);
    else io.stdout.write(`${renderEstimate(estimate, out)}\n`);
    return EXIT.ok;
  }

  if (!values.json) io.stderr.write(err.dim(`policy: ${spec.id} · K = ${sampling.n} · run directory: ${outDir}\n`));
  const bar = new GenerateProgressBar({ stream: io.stderr, style: err });
  let failuresShown = 0;
  let result: GenerationResult;
  try {
    result = await runGeneration({
      input,
      outDir,
      policy: values.policy,
      ...(values.reference === undefined ? {} : { reference: values.reference }),
      ...sampling,
      concurrency,
      limit,
      maxCostUsd,
      maxCalls,
      strict: values.strict,
      format,
      retryFailed: values['retry-failed'],
      cwd: io.cwd,
      settings,
      worker: {
        ...(device === undefined ? {} : { device }),
        ...(batchSize === undefined ? {} : { batchSize }),
      },
      signal,
      onProgress: (progress) => bar.update(progress),
      onRejected: (rejection) => bar.log(err.yellow(`rejected ${terminalSafe(formatRejection({ file: input, rejection }))}`)),
      onItemFailed: (failure) => {
        failuresShown += 1;
        if (failuresShown <= 20) {
          bar.log(
            err.red(`prompt ${failure.itemId} (line ${failure.line}) failed: ${failure.code}: ${terminalSafe(failure.message)}`),
          );
        } else if (failuresShown === 21) {
          bar.log(err.red('more prompts failed; see the summary and rerun with --retry-failed'));
        }
      },
    });
  } finally {
    bar.finish();
  }
  if (values.json) io.stdout.write(`${JSON.stringify(summaryJson(result), null, 2)}\n`);
  else io.stdout.write(`${renderSummary(result, out)}\n`);
  return exitCodeOf(result.stopReason);
}

/** The progress line of `tribunal generate`: the labeling bar's numbers, with prompts for items off a terminal. */
class GenerateProgressBar {
  private readonly line: StatusLine<LabelingProgress>;

  constructor(options: ProgressBarOptions) {
    const { style } = options;
    this.line = new StatusLine(options, {
      terminal: (progress, columns) => {
        const width = Math.max(20, (columns !== undefined && columns > 0 ? columns : 120) - 1);
        return renderBarLine(progress, style, Math.max(6, Math.min(24, width - 90))).replace(/items\/(s|min)/, 'prompts/$1');
      },
      plain: (progress) =>
        [
          `generate: ${progress.done + progress.failed}/${progress.total} prompts${progress.failed > 0 ? ` (${progress.failed} failed)` : ''}`,
          formatItemRate(progress.itemsPerSecond).replace('items', 'prompts'),
          `ETA ${progress.etaSeconds === undefined ? 'unknown' : formatDuration(progress.etaSeconds)}`,
          `${progress.usage.calls} calls`,
          `${progress.usage.inputTokens + progress.usage.outputTokens} tokens`,
          formatCost(progress.usage.costUsd),
          ...(progress.stopping ? [`stopping (${progress.stopping})`] : []),
        ].join(' · '),
    });
  }

  update(progress: LabelingProgress): void {
    this.line.show(progress);
  }

  log(line: string): void {
    this.line.log(line);
  }

  finish(): void {
    this.line.finish();
  }
}

function exitCodeOf(reason: StopReason | undefined): number {
  switch (reason) {
    case undefined:
      return EXIT.ok;
    case 'max-calls':
    case 'max-cost':
      return EXIT.budget;
    case 'interrupted':
      return EXIT.interrupted;
    case 'provider-failing':
      return EXIT.model;
    default: {
      const unknown: never = reason;
      return unknown;
    }
  }
}

const STOP_TEXT: Record<StopReason, string> = {
  interrupted: 'interrupted',
  'max-calls': 'the --max-calls budget is reached',
  'max-cost': 'the --max-cost budget is reached',
  'provider-failing': 'the policy kept failing (8 prompts in a row, or more than 80% of the last 50)',
};

function renderSummary(result: GenerationResult, style: ReturnType<typeof styleFor>): string {
  const { totals, session, export: exported } = result;
  const seconds = session.elapsedMs / 1000;
  const opening =
    result.opening === 'created'
      ? 'new run'
      : result.opening === 'resumed'
        ? 'resumed'
        : `resumed with another policy or settings (${result.requeued} prompts resampled)`;
  const lines = [
    `${style.bold(`Run ${result.runId}`)} (${opening}): ${totals.done}/${totals.items} prompts sampled from ${result.policy.id}` +
      `${totals.failed > 0 ? style.red(`, ${totals.failed} failed`) : ''}` +
      `${totals.rejectedLines > 0 ? style.yellow(`, ${totals.rejectedLines} input lines rejected`) : ''}` +
      `${totals.pending > 0 ? `, ${totals.pending} pending` : ''}`,
    `This session: ${session.done} prompts in ${formatDuration(seconds)} · ${session.usage.calls} calls · ` +
      `${formatCount(session.usage.inputTokens)} in + ${formatCount(session.usage.outputTokens)} out tokens · ${formatCost(session.usage.costUsd)}`,
    `Wrote ${exported.file}: ${exported.items} prompts, ${exported.candidates} candidates from ${exported.samples} samples` +
      ` (${exported.duplicates} duplicate${exported.duplicates === 1 ? '' : 's'} folded), ${formatCount(exported.tokens)} tokens`,
  ];
  if (result.recovered > 0) lines.push(`Recovered ${result.recovered} prompts a crashed run left in progress.`);
  if (result.stopReason)
    lines.push(style.yellow(`Stopped: ${STOP_TEXT[result.stopReason]}. Run the same command again to continue.`));
  if (totals.failed > 0 && !result.stopReason) lines.push('Retry the failed prompts with --retry-failed.');
  return lines.join('\n');
}

function summaryJson(result: GenerationResult): Record<string, unknown> {
  return {
    runId: result.runId,
    opening: result.opening,
    requeued: result.requeued,
    status: result.status,
    stopReason: result.stopReason ?? null,
    policy: result.policy,
    imported: result.imported,
    recovered: result.recovered,
    totals: result.totals,
    session: result.session,
    candidates: result.export,
  };
}

function renderEstimate(estimate: GenerationEstimate, style: ReturnType<typeof styleFor>): string {
  const rows = [
    ['policy', 'prompts', 'samples', 'calls', 'input tokens', 'output tokens', 'cost'],
    [
      estimate.policy,
      String(estimate.prompts),
      String(estimate.prompts * estimate.n),
      estimate.callsWithN === estimate.usage.calls
        ? String(estimate.usage.calls)
        : `${estimate.callsWithN}–${estimate.usage.calls}`,
      formatCount(estimate.usage.inputTokens),
      formatCount(estimate.usage.outputTokens),
      estimate.where === 'local' ? 'local' : estimate.priced ? formatCost(estimate.usage.costUsd) : 'unknown price',
    ],
  ];
  const lines = [
    `${style.bold('Dry run')}: ${estimate.prompts} prompts from ${estimate.file} (${estimate.format}), K = ${estimate.n}` +
      `${estimate.rejectedLines > 0 ? `, ${estimate.rejectedLines} lines would be rejected` : ''}`,
    '',
    table(rows, style),
    '',
    'Upper bound: every sample runs to --max-tokens; samples that stop early cost less. Tokens are estimated as characters / 4.',
  ];
  if (estimate.callsWithN !== estimate.usage.calls)
    lines.push('Calls: one per prompt where the server takes n, one per sample where it does not.');
  if (estimate.where === 'local') lines.push('The samples are drawn on this machine: no API cost.');
  else if (!estimate.priced) lines.push('The policy has no known price: its cost counts as $0.');
  lines.push('Nothing was sent to any model.');
  return lines.join('\n');
}
