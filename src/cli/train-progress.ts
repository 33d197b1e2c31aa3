import type { HeldOutMetrics, TrainerDataReport, TrainerEvent, TrainerMetricEvent } from '../contracts/index.js';
import { formatCount, formatDuration } from './progress-bar.js';
import { type ProgressBarOptions, type ProgressStream, StatusLine } from './status-line.js';
import { type Style, terminalSafe } from './terminal.js';

/** Where a training run stands, as the progress line shows it. */
export interface TrainSnapshot {
  task: string;
  step: number;
  totalSteps: number;
  loss: number | null;
  /** Training accuracy over the last logging window: `accuracy` (reward model) or `rewards/accuracies` (DPO). */
  accuracy: number | null;
  lr: number | null;
  tokensPerSecond: number | null;
  etaSeconds: number | undefined;
  stopping: boolean;
  /** A phase before the first step (DPO's reference log-probs): what is done of it; absent once training runs. */
  phase?: { name: string; done: number; total: number; unit: string } | undefined;
}

/** What each phase of a `progress` event is called on the progress line. */
const PHASE_NAMES: Record<string, string> = { reference: 'reference log-probs' };

/** Options of `TrainProgress`. */
export type TrainProgressOptions = ProgressBarOptions;

/**
 * The progress display of `tribunal train`, fed with the worker's events. On a terminal, one line redrawn in place:
 * a bar, step/total, loss, accuracy, learning rate, tokens per second and ETA; held-out evaluations and checkpoints
 * print above it. Elsewhere, a plain line every `lineMs` (and for the first and last metrics).
 */
export class TrainProgress {
  private readonly style: Style;
  private readonly now: () => number;
  private readonly line: StatusLine<TrainSnapshot>;
  private clockStart: { at: number; step: number } | undefined;

  constructor(options: TrainProgressOptions) {
    const { style } = options;
    this.style = style;
    this.now = options.now ?? Date.now;
    this.line = new StatusLine(options, {
      terminal: (snapshot, columns) => renderTrainBar(snapshot, style, Math.max(40, (columns || 100) - 1)),
      // Off a terminal, nothing to report before the first loss (unless stopping).
      plain: (snapshot) =>
        snapshot.loss === null && !snapshot.stopping && !snapshot.phase ? undefined : renderTrainLine(snapshot),
    });
  }

  /** Takes one worker event. */
  handle(event: TrainerEvent): void {
    switch (event.type) {
      case 'start':
        if (event.command === 'eval') {
          this.log(`evaluating ${event.checkpoint ?? 'the initial model'} on ${event.data.eval_pairs} held-out pairs`);
          return;
        }
        this.clockStart = { at: this.now(), step: event.step };
        this.log(
          `${event.resumed_from ? `resuming from step ${event.step}` : 'training'} ${event.task} · ${event.data.train_pairs} ` +
            `training pairs (${event.data.eval_pairs} held out${trainingCuts(event.data)}) · ` +
            `${event.model.family} model, ${formatCount(event.model.parameters)} parameters` +
            `${event.model.lora ? ` (${formatCount(event.model.trainable)} trainable: LoRA, ${event.model.lora})` : ''} · ${event.device}` +
            `${event.world_size > 1 ? ` × ${event.world_size}` : ''}`,
        );
        if (event.init_checkpoint) {
          this.log(`policy starts from ${event.init_checkpoint.path} (step ${event.init_checkpoint.step})`);
        }
        if (event.ref_checkpoint) {
          this.log(`reference: ${event.ref_checkpoint.path} (step ${event.ref_checkpoint.step})`);
        }
        if (event.schedule?.changed_on_resume) {
          const before = event.schedule.changed_on_resume.from.total_steps;
          this.log(
            this.style.yellow(
              `the learning-rate schedule is rebuilt for ${event.schedule.total_steps} steps` +
                `${typeof before === 'number' ? ` (the checkpoint's run had ${before})` : ''}`,
            ),
          );
        }
        this.line.show(
          {
            task: event.task,
            step: event.step,
            totalSteps: event.total_steps,
            loss: null,
            accuracy: null,
            lr: null,
            tokensPerSecond: null,
            etaSeconds: undefined,
            stopping: false,
          },
          true,
        );
        return;
      case 'metric':
        this.update(event);
        return;
      case 'progress': {
        const previous = this.line.current;
        if (previous === undefined) this.clockStart = { at: this.now(), step: 0 };
        const phase = { name: event.phase, done: event.done, total: event.total, unit: event.unit };
        this.line.show(
          {
            task: previous?.task ?? '',
            step: 0,
            totalSteps: 0,
            loss: null,
            accuracy: null,
            lr: null,
            tokensPerSecond: null,
            etaSeconds: this.phaseEta(event.done, event.total),
            stopping: previous?.stopping ?? false,
            phase,
          },
          event.done === 0 || event.done >= event.total,
        );
        return;
      }
      case 'eval':
        if (event.checkpoint !== undefined) return; // the eval command: the final report shows it
        this.log(`held-out @ step ${event.step}: ${formatHeldOut(event.metrics)}`);
        return;
      case 'checkpoint':
        this.log(this.style.dim(`checkpoint: ${event.path}`));
        return;
      case 'done':
      case 'error':
        this.finish();
        return;
      default: {
        const unreachable: never = event;
        throw new Error(`unknown trainer event ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Shows that a graceful stop was requested. */
  stopping(): void {
    const snapshot = this.line.current;
    if (snapshot) this.line.show({ ...snapshot, stopping: true }, true);
  }

  /** Prints a message line, above the bar on a terminal. */
  log(line: string): void {
    this.line.log(line);
  }

  /** Draws the last state once more (off a terminal: unless already printed) and ends the line. */
  finish(): void {
    this.line.finish();
  }

  /** Seconds left of a phase at the rate since its first event. */
  private phaseEta(done: number, total: number): number | undefined {
    const elapsed = this.clockStart ? (this.now() - this.clockStart.at) / 1000 : 0;
    return done > 0 && elapsed > 0 ? (elapsed / done) * Math.max(0, total - done) : undefined;
  }

  private update(event: TrainerMetricEvent): void {
    const previous = this.line.current;
    const now = this.now();
    const totalSteps = previous?.totalSteps ?? event.step;
    let etaSeconds: number | undefined;
    if (this.clockStart && event.step > this.clockStart.step && now > this.clockStart.at) {
      const secondsPerStep = (now - this.clockStart.at) / 1000 / (event.step - this.clockStart.step);
      etaSeconds = Math.max(0, totalSteps - event.step) * secondsPerStep;
    }
    const first = previous === undefined || previous.loss === null;
    this.line.show(
      {
        task: previous?.task ?? '',
        step: event.step,
        totalSteps,
        loss: event.loss,
        accuracy: trainingAccuracy(event),
        lr: event.lr,
        tokensPerSecond: event.tokens_per_s,
        etaSeconds,
        stopping: previous?.stopping ?? false,
      },
      first || event.step >= totalSteps,
    );
  }
}

/**
 * The terminal line: `[██████░░░░] 120/200 60% · loss 0.5120 · acc 87.5% · lr 2.7e-3 · 5.3k tok/s · ETA 0:42`.
 * When `width` is too narrow, the learning rate goes first, then tokens/s, accuracy and ETA.
 */
export function renderTrainBar(snapshot: TrainSnapshot, style: Style, width = 120, barWidth = 20): string {
  if (snapshot.phase) return renderPhaseBar(snapshot, style, barWidth);
  const fraction = snapshot.totalSteps > 0 ? Math.min(1, snapshot.step / snapshot.totalSteps) : 0;
  const filled = Math.round(fraction * barWidth);
  const head = `[${style.green('█'.repeat(filled))}${style.dim('░'.repeat(barWidth - filled))}] ${snapshot.step}/${snapshot.totalSteps} ${Math.floor(fraction * 100)}%`;
  // [text, priority]: the lowest priority is dropped first
  const parts: Array<[string, number]> = [
    [`loss ${formatNumber(snapshot.loss, 4)}`, 5],
    [`acc ${formatPercent(snapshot.accuracy)}`, 3],
    [`lr ${formatRate(snapshot.lr)}`, 1],
    [`${snapshot.tokensPerSecond === null ? '--' : formatCount(snapshot.tokensPerSecond)} tok/s`, 2],
    [`ETA ${snapshot.etaSeconds === undefined ? '--:--' : formatDuration(snapshot.etaSeconds)}`, 4],
  ];
  if (snapshot.stopping) parts.push([style.yellow('stopping: finishing the step, then checkpointing'), 6]);
  const render = (kept: Array<[string, number]>) => [head, ...kept.map(([text]) => text)].join(' · ');
  let kept = parts;
  while (kept.length > 0 && visibleLength(render(kept)) > width) {
    const lowest = Math.min(...kept.map(([, priority]) => priority));
    kept = kept.filter(([, priority]) => priority !== lowest);
  }
  return render(kept);
}

/** A phase before training: `[████░░░░] reference log-probs 120/400 batches 30% · ETA 1:10` (and the plain twin). */
function renderPhaseBar(snapshot: TrainSnapshot, style: Style, barWidth: number): string {
  const phase = snapshot.phase;
  if (!phase) return '';
  const fraction = phase.total > 0 ? Math.min(1, phase.done / phase.total) : 0;
  const filled = Math.round(fraction * barWidth);
  return (
    `[${style.green('█'.repeat(filled))}${style.dim('░'.repeat(barWidth - filled))}] ${phaseText(snapshot)}` +
    (snapshot.stopping ? ` · ${style.yellow('stopping')}` : '')
  );
}

function phaseText(snapshot: TrainSnapshot): string {
  const phase = snapshot.phase;
  if (!phase) return '';
  const fraction = phase.total > 0 ? Math.min(1, phase.done / phase.total) : 0;
  return (
    `${PHASE_NAMES[phase.name] ?? phase.name} ${phase.done}/${phase.total} ${phase.unit} ${Math.floor(fraction * 100)}%` +
    ` · ETA ${snapshot.etaSeconds === undefined ? '--:--' : formatDuration(snapshot.etaSeconds)}`
  );
}

/** The line written off a terminal: `train dpo: step 120/200 (60%) · loss 0.5120 · accuracy 87.5% · ...`. */
export function renderTrainLine(snapshot: TrainSnapshot): string {
  if (snapshot.phase) return `${snapshot.task ? `train ${snapshot.task}: ` : ''}${phaseText(snapshot)}`;
  const fraction = snapshot.totalSteps > 0 ? Math.min(1, snapshot.step / snapshot.totalSteps) : 0;
  const parts = [
    `train ${snapshot.task}: step ${snapshot.step}/${snapshot.totalSteps} (${Math.floor(fraction * 100)}%)`,
    `loss ${formatNumber(snapshot.loss, 4)}`,
    `accuracy ${formatPercent(snapshot.accuracy)}`,
    `lr ${formatRate(snapshot.lr)}`,
    `${snapshot.tokensPerSecond === null ? 'unknown' : formatCount(snapshot.tokensPerSecond)} tokens/s`,
    `ETA ${snapshot.etaSeconds === undefined ? 'unknown' : formatDuration(snapshot.etaSeconds)}`,
  ];
  if (snapshot.stopping) parts.push('stopping');
  return parts.join(' · ');
}

/** `, 12 dropped as too long, 3 truncated` of a training start event's data (the older `truncated` count alone). */
function trainingCuts(data: {
  truncated: number;
  truncation?: { train?: TrainerDataReport | null | undefined } | undefined;
}): string {
  const train = data.truncation?.train;
  const dropped = train?.dropped ?? 0;
  return `${dropped > 0 ? `, ${dropped} dropped as too long` : ''}${data.truncated > 0 ? `, ${data.truncated} truncated` : ''}`;
}

/** `accuracy 91.2% · ECE 0.034 · Brier 0.081 · loss 0.412 (160 pairs)`. */
export function formatHeldOut(metrics: HeldOutMetrics): string {
  return [
    `accuracy ${formatPercent(metrics.accuracy ?? null)}`,
    `ECE ${formatNumber(metrics.ece ?? null, 3)}`,
    `Brier ${formatNumber(metrics.brier ?? null, 3)}`,
    `loss ${formatNumber(metrics.loss, 3)} (${metrics.pairs} pairs)`,
  ].join(' · ');
}

/** Training accuracy of a metric event: TRL's `accuracy` (reward model) or `rewards/accuracies` (DPO). */
export function trainingAccuracy(event: TrainerMetricEvent): number | null {
  return event.metrics.accuracy ?? event.metrics['rewards/accuracies'] ?? null;
}

/** `87.5%`, or `--` when unknown. */
export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? '--' : `${(value * 100).toFixed(1)}%`;
}

/** A number with `digits` decimals, or `--` (NaN and infinities arrive as null). */
export function formatNumber(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? '--' : value.toFixed(digits);
}

function formatRate(value: number | null): string {
  return value === null ? '--' : value.toExponential(1).replace('e+0', '');
}

const ANSI_STYLE = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g');

function visibleLength(text: string): number {
  return text.replace(ANSI_STYLE, '').length;
}

/**
 * Prints the worker's log lines (`--verbose`): above the progress line when there is one, else straight to `stream`;
 * untrusted text, so made terminal-safe.
 */
export function workerLogPrinter(options: {
  progress: TrainProgress | undefined;
  stream: ProgressStream;
  style: Style;
}): (line: string) => void {
  const { progress, stream, style } = options;
  return (line) => {
    if (progress) progress.log(style.dim(terminalSafe(line)));
    else stream.write(`${terminalSafe(line)}\n`);
  };
}
