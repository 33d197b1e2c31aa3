// The state of one training run, folded from the worker's events (src/contracts/trainer.ts) in events.jsonl order.
// Pure data: the renderer reads it; nothing here touches the DOM. A run directory can hold several worker runs (a
// resumed run appends a new `start`; `tribunal train eval` appends its own `start` … `done`).

/** Training accuracy of a metric event: TRL's `accuracy` (reward model) or `rewards/accuracies` (DPO). */
export function trainingAccuracy(event, task) {
  const metrics = event.metrics ?? {};
  const value = task === 'dpo' ? metrics['rewards/accuracies'] : task === 'rm' ? metrics.accuracy : undefined;
  return value ?? metrics.accuracy ?? metrics['rewards/accuracies'] ?? null;
}

export class TrainingModel {
  constructor() {
    /** The last training `start` (rm/dpo). */
    this.start = undefined;
    /** The `start` of the first worker run in the directory (where the run began). */
    this.firstStart = undefined;
    /** Resumes seen: [{ step, from, time }]. */
    this.resumes = [];
    /** One point per `metric` event: { step, epoch, time, loss, accuracy, lr, gradNorm, tokensPerSecond, tokens }. */
    this.metrics = [];
    /** Held-out evaluations during training: { step, epoch, time, metrics }. */
    this.evals = [];
    /** `eval` command results: { step, checkpoint, time, metrics }. */
    this.checkpointEvals = [];
    /** { step, epoch, path, time } */
    this.checkpoints = [];
    /** The last `done` of a training run (cleared when a later run starts). */
    this.done = undefined;
    /** Every `error`, oldest first, with its `eventsLine`; `failed` is the one that ended the latest worker run. */
    this.errors = [];
    this.failed = undefined;
    /** The last `start` of the eval command (`tribunal train eval`: a checkpoint evaluated on held-out pairs). */
    this.evalStart = undefined;
    /** That evaluation has not ended yet. */
    this.evaluating = false;
    this.lastLine = 0;
    this.lastTime = undefined;
    /**
     * The long phase the worker is in before its `start` (DPO's reference log-probs): { phase, split, done, total,
     * unit, time }, cleared by the `start` that follows it.
     */
    this.phase = undefined;
  }

  /** 'waiting' (no event yet), 'running', 'evaluating', 'completed', 'stopped' or 'failed'. */
  get status() {
    if (this.failed) return 'failed';
    if (this.evaluating) return 'evaluating';
    if (this.done) return this.done.status;
    if (this.start) return 'running';
    return 'waiting';
  }

  get task() {
    return this.start?.task ?? this.evalStart?.task;
  }

  get totalSteps() {
    return Math.max(this.start?.total_steps ?? 0, this.metrics.at(-1)?.step ?? 0, this.done?.step ?? 0);
  }

  /** The step reached: the last metric's, or the step the run started (or resumed) from, or `done`'s. */
  get step() {
    return Math.max(this.metrics.at(-1)?.step ?? 0, this.start?.step ?? 0, this.done?.step ?? 0);
  }

  get latest() {
    return this.metrics.at(-1);
  }

  /**
   * Seconds per step and the estimated seconds left, from the worker's own event times since the latest `start` (so a
   * replayed run shows the pace it ran at). Undefined until a metric past the start's step has arrived.
   */
  get pace() {
    const start = this.start;
    const latest = this.latest;
    if (!start || !latest || latest.step <= start.step || latest.time <= start.time) return undefined;
    const secondsPerStep = (latest.time - start.time) / (latest.step - start.step);
    return { secondsPerStep, etaSeconds: Math.max(0, this.totalSteps - latest.step) * secondsPerStep };
  }

  /**
   * Applies one event and its 1-based line; returns what changed so the renderer can redraw just that:
   * `'start' | 'progress' | 'metric' | 'eval' | 'checkpoint' | 'done' | 'error'`, or undefined for a line already applied.
   */
  apply(event, line) {
    if (line <= this.lastLine) return undefined;
    this.lastLine = line;
    this.lastTime = event.time;
    switch (event.type) {
      case 'progress':
        this.phase = {
          phase: event.phase,
          split: event.split,
          done: event.done,
          total: event.total,
          unit: event.unit,
          time: event.time,
        };
        return 'progress';
      case 'start':
        this.phase = undefined;
        this.failed = undefined;
        if (event.command === 'eval') {
          this.evalStart = event;
          this.evaluating = true;
          return 'start';
        }
        this.evaluating = false;
        this.done = undefined;
        if (this.firstStart === undefined) this.firstStart = event;
        if (event.resumed_from) {
          this.resumes.push({ step: event.step, from: event.resumed_from, time: event.time });
          // Steps logged after the checkpoint the run resumes from were lost with the process: their points go.
          this.metrics = this.metrics.filter((point) => point.step <= event.step);
          this.evals = this.evals.filter((point) => point.step <= event.step);
        }
        this.start = event;
        return 'start';
      case 'metric':
        this.metrics.push({
          step: event.step,
          epoch: event.epoch,
          time: event.time,
          loss: event.loss,
          accuracy: trainingAccuracy(event, this.task),
          lr: event.lr,
          gradNorm: event.grad_norm,
          tokensPerSecond: event.tokens_per_s,
          tokens: event.tokens,
          metrics: event.metrics,
        });
        return 'metric';
      case 'eval':
        if (event.checkpoint !== undefined) {
          this.checkpointEvals.push({ step: event.step, checkpoint: event.checkpoint, time: event.time, metrics: event.metrics });
        } else {
          this.evals.push({ step: event.step, epoch: event.epoch, time: event.time, metrics: event.metrics });
        }
        return 'eval';
      case 'checkpoint':
        this.checkpoints.push({ step: event.step, epoch: event.epoch, path: event.path, time: event.time });
        return 'checkpoint';
      case 'done':
        // The end of an evaluation is the run's end only in an evaluation's own directory (no training start).
        if (this.evaluating) {
          this.evaluating = false;
          if (this.start) return 'done';
        }
        this.done = event;
        return 'done';
      case 'error':
        this.phase = undefined;
        this.failed = { ...event, eventsLine: line };
        this.errors.push(this.failed);
        this.evaluating = false;
        return 'error';
      default:
        return undefined;
    }
  }

  /** Chart series of a metric-event field (`loss`, `accuracy`, `lr`): finite values as { x: step, y }. */
  trainSeries(field) {
    return this.metrics.flatMap((point) => (isFiniteNumber(point[field]) ? [{ x: point.step, y: point[field] }] : []));
  }

  /** Chart series of a held-out metric (`loss`, `accuracy`, …) over the evaluations during training. */
  evalSeries(field) {
    return this.evals.flatMap((point) =>
      isFiniteNumber(point.metrics[field]) ? [{ x: point.step, y: point.metrics[field] }] : [],
    );
  }

  /** Steps whose training loss was not finite (the worker writes NaN and inf as null): divergence. */
  nonFiniteLossSteps() {
    return this.metrics.filter((point) => point.loss === null).map((point) => point.step);
  }
}

function isFiniteNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}
