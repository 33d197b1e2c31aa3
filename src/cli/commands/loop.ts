import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadPanel } from '../../config/index.js';
import { DPO_LOSS_TYPES, TribunalError } from '../../contracts/index.js';
import { estimateLoop, LOOP_DEFAULTS, type LoopEstimate, type LoopResult, type LoopStage, runLoop } from '../../loop/index.js';
import { createModelRegistry, loadSettings, priceOf, resolveDefaultModel } from '../../models/index.js';
import type { LabelingProgress } from '../../runner/index.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointsFrom } from '../endpoint-options.js';
import { EXIT } from '../exit-codes.js';
import { inputFormatFlag, integerFlag, numberFlag, pairSmoothingFlag } from '../flags.js';
import type { CliIo } from '../io.js';
import { PAIR_OPTIONS, pairSettingsFrom } from '../pair-options.js';
import { PRICE_HELP, PRICE_OPTIONS, pricingFrom } from '../price-options.js';
import { formatCost, formatCount, renderBarLine } from '../progress-bar.js';
import { StatusLine } from '../status-line.js';
import { styleFor, terminalSafe } from '../terminal.js';

export const LOOP_HELP = `Usage: tribunal loop --prompts FILE --policy POLICY --iterations N --out DIR [options]

The RLAIF loop. Splits the prompts once (seeded) into train and held-out prompts; then each iteration i samples
K answers per train prompt from policy_i, labels them with the panel, exports preference pairs, trains DPO from
policy_i (reference: policy_0) into policy_{i+1}, and measures policy_{i+1} on the held-out prompts: the panel's
win rate over policy_i and policy_0 (pairwise debates, order swapped, 95% interval), a length-controlled win
rate, mean length vs policy_0, diversity (distinct-1/2, overlap), KL(policy ‖ policy_0) and the mean consensus.
DIR/report.json and DIR/report.md (with plots) are rewritten after every stage. Every stage is a resumable
sub-run under DIR/iter-<i>/: after a crash or Ctrl-C, run the same command again.

Policies (the loop trains its policy):
  tiny, tiny?seed=N        a fresh tiny decoder (offline demos and tests)
  checkpoint:DIR           a "tribunal train dpo --out DIR" run (tiny or Hugging Face, full or LoRA)

Options:
  --prompts FILE           prompts: JSONL (native, HH-RLHF or TRL; native rows need no candidates) (required)
  --policy POLICY          policy_0 (required)
  --iterations N           iterations to run (required); rerun with a larger N to continue a finished loop
  --out DIR                the loop directory (required)
  --panel FILE             the panel (default: the built-in panel)
  --model MODEL            every critic's model (e.g. fake:judge, openai:gpt-4o-mini)
  --n K                    samples per train prompt (default ${LOOP_DEFAULTS.n})
  --held-out F             held-out prompts: a fraction below 1 or a count (default ${LOOP_DEFAULTS.heldOut})
  --eval-samples K         samples per held-out prompt and policy, each compared pairwise (default ${LOOP_DEFAULTS.evalSamples})
  --max-tokens N           new tokens per sample at most (default ${LOOP_DEFAULTS.maxTokens})
  --temperature T          sampling temperature (default ${LOOP_DEFAULTS.temperature})
  --top-p P                nucleus sampling (default ${LOOP_DEFAULTS.topP})
  --seed S                 split, sampling and training seed (default ${LOOP_DEFAULTS.seed})
  --limit N                use at most N prompts of FILE
  --format F               input format: native | hh-rlhf | trl (default: detected)
  --concurrency N          debates at once (default 8)
  --max-cost USD           stop before this session's spend on the critics' models would pass USD (rerun to go on)
  --max-calls N            stop before this session's model calls would pass N
  --reference R            DPO reference: initial (policy_0, default) or previous (policy_i); see docs/loop.md
  --beta X, --lr X, --epochs N, --steps N, --batch-size N, --loss L, --label-smoothing E, --max-length N,
  --lora R, --lora-alpha A, --eval-fraction F, --save-steps N, --gpus N
                           each iteration's DPO training, as in "tribunal train dpo"
  --pair-smoothing C       train with each pair's own label smoothing from the panel's uncertainty:
                           label-smoothing or consensus-probability (as "tribunal train"; turns on --uncertainty)
  --max-kl X               stop after an iteration whose KL(policy ‖ policy_0) passes X nats
  --min-win-rate-gain G    stop after an iteration whose win rate over policy_i is below 0.5 + G
  --max-length-drift R     stop after an iteration whose mean length is off policy_0's by more than R (0.5 = ±50%)
  --min-diversity D        stop after an iteration whose distinct-2 falls below D
  --gold FILE              human preference pairs (TRL or HH-RLHF): agreement of the policy's implicit reward
  --gold-max-pairs N       read at most N pairs of --gold
  --device D               sampling device: auto (default) | cpu | cuda
  --strategy, --min-margin, --min-agreement, --min-consensus, --uncertainty, --length-control,
  --exclude-flagged, --exclude-escalated
                           how labels become pairs, as in "tribunal label"
${ENDPOINT_HELP}
  --dry-run                estimate the critics' calls, tokens and cost of every iteration (an upper bound: samples
                           of --max-tokens) and exit without calling a model or writing DIR
${PRICE_HELP}
  --json                   print the final report.json (or the --dry-run estimate) on stdout
  -h, --help               show this help

Exit codes: 0 done (or stopped by a stop rule), 1 invalid input, 2 usage, 3 model errors, 4 budget reached,
130 interrupted (rerun to continue). See docs/loop.md.`;

/** `tribunal loop`: the RLAIF loop with its measures. */
export async function loopCommand(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prompts: { type: 'string' },
      policy: { type: 'string' },
      iterations: { type: 'string' },
      out: { type: 'string' },
      panel: { type: 'string' },
      model: { type: 'string' },
      n: { type: 'string' },
      'held-out': { type: 'string' },
      'eval-samples': { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      limit: { type: 'string' },
      format: { type: 'string' },
      concurrency: { type: 'string' },
      'max-cost': { type: 'string' },
      'max-calls': { type: 'string' },
      reference: { type: 'string' },
      beta: { type: 'string' },
      lr: { type: 'string' },
      epochs: { type: 'string' },
      steps: { type: 'string' },
      'batch-size': { type: 'string' },
      loss: { type: 'string' },
      'label-smoothing': { type: 'string' },
      'pair-smoothing': { type: 'string' },
      'max-length': { type: 'string' },
      lora: { type: 'string' },
      'lora-alpha': { type: 'string' },
      'eval-fraction': { type: 'string' },
      'save-steps': { type: 'string' },
      gpus: { type: 'string' },
      'max-kl': { type: 'string' },
      'min-win-rate-gain': { type: 'string' },
      'max-length-drift': { type: 'string' },
      'min-diversity': { type: 'string' },
      gold: { type: 'string' },
      'gold-max-pairs': { type: 'string' },
      device: { type: 'string' },
      ...PAIR_OPTIONS,
      ...PRICE_OPTIONS,
      ...ENDPOINT_OPTIONS,
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${LOOP_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 0) {
    throw new TribunalError('CONFIG_INVALID', `unexpected argument "${positionals[0]}": give the prompts with --prompts FILE`);
  }
  for (const flag of ['prompts', 'policy', 'iterations', 'out'] as const) {
    if (flag === 'out' && values['dry-run']) continue;
    if (!values[flag]) throw new TribunalError('CONFIG_INVALID', `--${flag} is required (see tribunal loop --help)`);
  }
  if (values['pairs-format'] !== undefined) {
    throw new TribunalError('CONFIG_INVALID', '--pairs-format: the loop trains on TRL pairs; leave --pairs-format out');
  }
  const reference = values.reference ?? LOOP_DEFAULTS.reference;
  if (reference !== 'initial' && reference !== 'previous') {
    throw new TribunalError('CONFIG_INVALID', `--reference must be initial or previous, got "${reference}"`);
  }
  const loss = values.loss;
  if (loss !== undefined && !(DPO_LOSS_TYPES as readonly string[]).includes(loss)) {
    throw new TribunalError('CONFIG_INVALID', `--loss must be one of ${DPO_LOSS_TYPES.join(', ')}, got "${loss}"`);
  }
  const device = values.device;
  if (device !== undefined && device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new TribunalError('CONFIG_INVALID', `--device must be auto, cpu or cuda, got "${device}"`);
  }
  const heldOut = numberFlag(values['held-out'], '--held-out', { min: 0, exclusive: true });
  if (heldOut !== undefined && heldOut >= 1 && !Number.isInteger(heldOut)) {
    throw new TribunalError('CONFIG_INVALID', `--held-out is a fraction below 1 or a whole count, got ${heldOut}`);
  }
  const iterations = integerFlag(values.iterations, '--iterations', { min: 1, max: 1000 }) as number;
  const loraRank = integerFlag(values.lora, '--lora', { min: 1 });
  const pairSmoothing = pairSmoothingFlag(values['pair-smoothing']);
  // What decides the split and the samples, for the run and for --dry-run alike.
  const shape = {
    prompts: path.resolve(io.cwd, values.prompts as string),
    format: inputFormatFlag(values.format),
    limit: integerFlag(values.limit, '--limit', { min: 2 }),
    seed: integerFlag(values.seed, '--seed', { min: 0 }),
    n: integerFlag(values.n, '--n', { min: 1, max: 1024 }),
    evalSamples: integerFlag(values['eval-samples'], '--eval-samples', { min: 1, max: 64 }),
    maxTokens: integerFlag(values['max-tokens'], '--max-tokens', { min: 1, max: 32_768 }),
  };

  const panel = await loadPanel({ cwd: io.cwd, ...(values.panel ? { file: values.panel } : {}) });
  const settings = loadSettings();
  const defaultModel = resolveDefaultModel({ explicit: values.model, panelModel: panel.panel.model, settings });
  const err = styleFor(io.stderr);
  const pricing = await pricingFrom({ values, panel, cwd: io.cwd });
  const endpoints = await endpointsFrom({ values, settings, cwd: io.cwd });
  if (values['dry-run']) {
    const estimate = await estimateLoop({
      ...shape,
      heldOut: heldOut ?? LOOP_DEFAULTS.heldOut,
      seed: shape.seed ?? LOOP_DEFAULTS.seed,
      iterations,
      n: shape.n ?? LOOP_DEFAULTS.n,
      evalSamples: shape.evalSamples ?? LOOP_DEFAULTS.evalSamples,
      maxTokens: shape.maxTokens ?? LOOP_DEFAULTS.maxTokens,
      panel,
      defaultModel: defaultModel.id,
      modelOverride: values.model,
      priceOf: (id) => priceOf(id, { overrides: pricing, openaiBaseUrl: settings.openaiBaseUrl, endpoints }),
    });
    io.stdout.write(values.json ? `${JSON.stringify(estimate, null, 2)}\n` : `${renderEstimate(estimate)}\n`);
    return EXIT.ok;
  }
  const outDir = path.resolve(io.cwd, values.out as string);
  io.stderr.write(err.dim(`critics' model: ${defaultModel.id} (from ${defaultModel.source}) · loop directory: ${outDir}\n`));
  const line = new StatusLine<{ stage: string; progress: LabelingProgress }>(
    { stream: io.stderr, style: err },
    {
      terminal: (state) => `${state.stage}: ${renderBarLine(state.progress, err)}`,
      plain: (state) => `${state.stage}: ${renderBarLine(state.progress, err)}`,
    },
  );
  const models = createModelRegistry({ settings, pricing, ...(endpoints === undefined ? {} : { endpoints }) });
  const trainLine = new StatusLine<string>(
    { stream: io.stderr, style: err },
    { terminal: (text) => text, plain: (text) => text },
  );
  let trainSteps: number | undefined;
  let result: LoopResult;
  try {
    result = await runLoop({
      ...shape,
      outDir,
      policy: values.policy as string,
      iterations,
      heldOut,
      temperature: numberFlag(values.temperature, '--temperature', { min: 0 }),
      topP: numberFlag(values['top-p'], '--top-p', { min: 0, exclusive: true, max: 1 }),
      panel,
      models,
      defaultModel: defaultModel.id,
      modelOverride: values.model,
      concurrency: integerFlag(values.concurrency, '--concurrency', { min: 1, max: 4096 }),
      maxCostUsd: numberFlag(values['max-cost'], '--max-cost', { min: 0, exclusive: true, unit: 'US dollars' }),
      maxCalls: integerFlag(values['max-calls'], '--max-calls', { min: 1 }),
      export: {
        ...pairSettingsFrom({ ...values, seed: undefined }),
        // per-pair smoothing reads the uncertainty columns: export them
        ...(pairSmoothing !== undefined && pairSmoothing !== 'off' ? { uncertainty: true } : {}),
      },
      reference,
      train: {
        beta: numberFlag(values.beta, '--beta', { min: 0, exclusive: true }),
        learningRate: numberFlag(values.lr, '--lr', { min: 0, exclusive: true }),
        epochs: numberFlag(values.epochs, '--epochs', { min: 0, exclusive: true }),
        steps: integerFlag(values.steps, '--steps', { min: 1 }),
        batchSize: integerFlag(values['batch-size'], '--batch-size', { min: 1 }),
        loss: loss as (typeof DPO_LOSS_TYPES)[number] | undefined,
        labelSmoothing: numberFlag(values['label-smoothing'], '--label-smoothing', { min: 0, max: 0.49 }),
        pairSmoothing,
        maxLength: integerFlag(values['max-length'], '--max-length', { min: 8 }),
        loraRank,
        loraAlpha: numberFlag(values['lora-alpha'], '--lora-alpha', { min: 0, exclusive: true }),
        evalFraction: numberFlag(values['eval-fraction'], '--eval-fraction', { min: 0, max: 0.9 }),
        saveSteps: integerFlag(values['save-steps'], '--save-steps', { min: 1 }),
        gpus: integerFlag(values.gpus, '--gpus', { min: 0, max: 64 }),
      },
      stopRules: {
        maxKl: numberFlag(values['max-kl'], '--max-kl', { min: 0 }),
        minWinRateGain: numberFlag(values['min-win-rate-gain'], '--min-win-rate-gain', { min: -0.5, max: 0.5 }),
        maxLengthDrift: numberFlag(values['max-length-drift'], '--max-length-drift', { min: 0 }),
        minDiversity: numberFlag(values['min-diversity'], '--min-diversity', { min: 0, max: 1 }),
      },
      gold: values.gold,
      goldMaxPairs: integerFlag(values['gold-max-pairs'], '--gold-max-pairs', { min: 1 }),
      worker: { ...(device === undefined ? {} : { device }) },
      cwd: io.cwd,
      signal,
      onStage: (stage) => {
        const text = stageText(stage);
        if (text) {
          line.finish();
          io.stderr.write(`${err.dim(text)}\n`);
        }
      },
      onProgress: ({ stage, progress }) => line.show({ stage, progress }),
      onTrainerEvent: (event, iteration) => {
        if (event.type === 'start' && typeof event.total_steps === 'number') {
          trainSteps = event.total_steps;
          io.stderr.write(
            err.dim(`iteration ${iteration}: training ${trainSteps} steps${event.step > 0 ? ` from step ${event.step}` : ''}\n`),
          );
        } else if (event.type === 'metric') {
          trainLine.show(
            `iteration ${iteration}: training step ${event.step}/${trainSteps ?? '?'} · loss ${event.loss === null ? '—' : event.loss.toFixed(4)}`,
          );
        } else if (event.type === 'done') {
          trainLine.finish();
          io.stderr.write(err.dim(`iteration ${iteration}: training ${event.status} at step ${event.step}\n`));
        }
      },
    });
  } finally {
    line.finish();
    trainLine.finish();
    await models.close();
  }
  if (values.json) io.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
  else io.stdout.write(`${renderSummary(result, outDir)}\n`);
  if (result.status === 'interrupted') return EXIT.interrupted;
  if (result.status === 'halted') {
    const reason = result.halted?.reason;
    io.stderr.write(
      `${err.red(`the loop halted in iteration ${result.halted?.iteration} (${result.halted?.stage}): ${reason}; rerun the same command to continue`)}\n`,
    );
    return reason === 'max-cost' || reason === 'max-calls' ? EXIT.budget : EXIT.model;
  }
  return EXIT.ok;
}

function stageText(stage: LoopStage): string | undefined {
  const where = stage.iteration < 0 ? 'setup' : `iteration ${stage.iteration}`;
  if (stage.state === 'skipped') return `${where}: ${stage.stage} already done`;
  if (stage.state === 'start') return `${where}: ${stage.stage}…`;
  if (stage.detail) return `${where}: ${stage.detail}`;
  return undefined;
}

function renderSummary(result: LoopResult, outDir: string): string {
  const { report } = result;
  const lines: string[] = [];
  const pct = (value: number | null): string => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
  const num = (value: number | null, digits = 3): string => (value === null ? '—' : value.toFixed(digits));
  for (const row of report.iterations) {
    lines.push(
      `iteration ${row.iteration}: win rate ${pct(row.winRate)} vs policy_${row.iteration}, ${pct(row.winRateVsInitial)} vs policy_0 · ` +
        `length-controlled ${pct(row.lengthControlledWinRate)} · KL ${num(row.kl)} · tokens ×${num(row.lengthDrift, 2)} · ` +
        `distinct-2 ${num(row.distinct2)} · ${row.pairs} pairs`,
    );
  }
  if (report.stoppedBy) lines.push(`Stopped: ${terminalSafe(report.stoppedBy.message)}`);
  if (result.status === 'interrupted') lines.push('Interrupted: run the same command again to continue.');
  lines.push(`Report: ${path.join(outDir, 'report.md')} (and report.json)`);
  return lines.join('\n');
}

function renderEstimate(estimate: LoopEstimate): string {
  const lines = [
    `Estimate for ${estimate.iterations} iteration${estimate.iterations === 1 ? '' : 's'}: ${estimate.prompts.train} train prompts, ${estimate.prompts.heldOut} held out${estimate.prompts.rejected > 0 ? ` (${estimate.prompts.rejected} input lines rejected)` : ''}`,
  ];
  for (const row of estimate.perIteration) {
    lines.push(
      `  iteration ${row.iteration}: ${row.labelItems} label debates + ${row.compareItems} comparison debates · ${formatCount(row.usage.calls)} calls · ${formatCount(row.usage.inputTokens)} in + ${formatCount(row.usage.outputTokens)} out tokens · ${formatCost(row.usage.costUsd)}`,
    );
  }
  for (const entry of estimate.models) {
    lines.push(
      `  ${entry.model}: ${formatCount(entry.usage.calls)} calls · ${formatCost(entry.usage.costUsd)}${entry.priced ? '' : ' (no known price: counted as $0; give --price)'}`,
    );
  }
  lines.push(
    `Total: ${formatCount(estimate.total.calls)} calls · ${formatCount(estimate.total.inputTokens)} in + ${formatCount(estimate.total.outputTokens)} out tokens · ${formatCost(estimate.total.costUsd)} at most`,
    `Assumes: ${estimate.assumptions.join('; ')}.`,
  );
  return lines.join('\n');
}
