// Draws one training run (rm or dpo) from its worker events: the run's shape from `start`, progress and ETA, live
// loss / accuracy / learning-rate curves with held-out evaluations as a second series, checkpoints, the final
// held-out metrics of `done` (accuracy, calibration, length split) and `error`s with their code. Events are folded into
// a TrainingModel at once and drawn at most once per animation frame, so replaying a long events.jsonl stays cheap.

import { clear, h, visibleControls } from './dom.js';
import { lineChart } from './line-chart.js';
import { TrainingModel } from './training-model.js';

const TRAIN_COLOR = '#2563eb';
const EVAL_COLOR = '#ea580c';

const TASK_NAMES = { rm: 'reward model (Bradley–Terry)', dpo: 'DPO policy' };
const STATUS_TEXT = {
  waiting: 'waiting for the first event',
  running: 'running',
  evaluating: 'evaluating a checkpoint',
  completed: 'completed',
  stopped: 'stopped',
  failed: 'failed',
};

export class TrainingView {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.root = $('training');
    this.emptyEl = $('train-empty');
    this.title = $('train-title');
    this.statusEl = $('train-status');
    this.resolvedEl = $('train-dir-resolved');
    this.progressEl = $('train-progress');
    this.progressText = $('train-progress-text');
    this.statsEl = $('train-stats');
    this.warningEl = $('train-warning');
    this.errorsEl = $('train-errors');
    this.doneEl = $('train-done');
    this.doneSummary = $('train-done-summary');
    this.finalEl = $('train-final');
    this.lengthEl = $('train-length');
    this.lossChart = $('train-loss-chart');
    this.accuracyChart = $('train-accuracy-chart');
    this.lrChart = $('train-lr-chart');
    this.infoEl = $('train-info');
    this.evalsEl = $('train-evals');
    this.checkpointsEl = $('train-checkpoints');
    this.model = new TrainingModel();
    this.runDir = undefined;
    this.dirty = new Set();
    this.frame = undefined;
    this.notice = undefined;
  }

  /** Starts showing a run directory (empty until its events arrive). */
  show(runDir) {
    this.runDir = runDir;
    this.model = new TrainingModel();
    this.notice = undefined;
    this.root.hidden = false;
    this.emptyEl.hidden = true;
    this.title.textContent = visibleControls(`Training run ${runDir}`);
    this.resolvedEl.textContent = '';
    this.dirty = new Set(['all']);
    this.flush();
  }

  /** The server resolved the directory (shown as the absolute path that is followed). */
  acknowledged(ack) {
    // The absolute path followed, where it says more than what was typed.
    this.resolvedEl.textContent = visibleControls(ack.runDir && ack.runDir !== this.runDir ? ack.runDir : '');
    this.notice = undefined;
    this.schedule('status');
  }

  /** Applies one `train.event` (its event and line). */
  apply(event, line) {
    const change = this.model.apply(event, line);
    if (change === undefined) return;
    if (change === 'start') this.schedule('all');
    else this.schedule(change);
  }

  /** A subscription problem (the server could not follow the file, or refused a resubscription). */
  subscriptionError(frame) {
    this.notice = { text: `[${frame.code}] ${frame.message}`, failed: true };
    this.schedule('status');
  }

  /** The run is no longer followed (what is shown stays). */
  detached() {
    this.notice = { text: 'not following the run any more', failed: false };
    this.schedule('status');
  }

  schedule(part) {
    this.dirty.add(part);
    if (this.frame === undefined) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    const dirty = this.dirty;
    this.dirty = new Set();
    const all = dirty.has('all');
    if (all || dirty.has('start')) this.drawInfo();
    if (all || dirty.has('metric') || dirty.has('eval') || dirty.has('done')) this.drawCharts();
    if (all || dirty.has('eval')) this.drawEvals();
    if (all || dirty.has('checkpoint')) this.drawCheckpoints();
    if (all || dirty.has('done')) this.drawDone();
    if (all || dirty.has('error')) this.drawErrors();
    this.drawProgress();
    this.drawStatus();
  }

  drawStatus() {
    const status = this.model.status;
    const text = this.notice ? `${STATUS_TEXT[status]} · ${this.notice.text}` : STATUS_TEXT[status];
    if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
    this.statusEl.dataset.state = this.notice?.failed ? 'unreadable' : status;
    this.root.dataset.state = status;
  }

  drawProgress() {
    const model = this.model;
    const phase = model.phase;
    if (phase && model.status !== 'failed') {
      // Before its start event the worker may spend minutes on one phase (DPO's reference log-probs): show that one.
      const fraction = phase.total > 0 ? Math.min(1, phase.done / phase.total) : 0;
      const what = phase.phase === 'reference' ? 'reference log-probs' : phase.phase;
      this.progressEl.value = fraction;
      this.progressEl.setAttribute('aria-valuetext', `${what}: ${phase.done} of ${phase.total} ${phase.unit}`);
      this.progressText.textContent = visibleControls(
        [
          `${what}${phase.split ? ` (${phase.split})` : ''}: ${phase.done} / ${phase.total} ${phase.unit}`,
          `${Math.floor(fraction * 100)}%`,
        ].join(' · '),
      );
      return;
    }
    const total = model.totalSteps;
    const step = model.step;
    const fraction = total > 0 ? Math.min(1, step / total) : 0;
    this.progressEl.value = fraction;
    this.progressEl.setAttribute('aria-valuetext', `step ${step} of ${total}`);
    const pace = model.pace;
    const parts = [`step ${step} / ${total || '?'}`, `${Math.floor(fraction * 100)}%`];
    if (model.status === 'running' && pace) parts.push(`ETA ${formatDuration(pace.etaSeconds)}`);
    if (pace) parts.push(`${formatSeconds(pace.secondsPerStep)}/step`);
    this.progressText.textContent = parts.join(' · ');

    const latest = model.latest;
    const start = model.firstStart;
    const elapsed = start && model.lastTime !== undefined ? model.lastTime - start.time : undefined;
    fillList(this.statsEl, [
      ['step', 'Step', `${step} / ${total || '?'}`],
      ['epoch', 'Epoch', latest ? latest.epoch.toFixed(2) : '–'],
      ['loss', 'Loss', formatNumber(latest?.loss, 4)],
      ['accuracy', 'Accuracy', formatPercent(latest?.accuracy)],
      ['lr', 'Learning rate', formatRate(latest?.lr)],
      ['tokens-per-s', 'Tokens/s', latest ? formatCount(latest.tokensPerSecond) : '–'],
      ['grad-norm', 'Grad norm', formatNumber(latest?.gradNorm, 3)],
      ['tokens', 'Tokens seen', latest ? formatCount(latest.tokens) : '–'],
      ['elapsed', 'Elapsed', elapsed === undefined ? '–' : formatDuration(elapsed)],
      ['eta', 'ETA', model.status === 'running' && pace ? formatDuration(pace.etaSeconds) : '–'],
    ]);

    const nonFinite = model.nonFiniteLossSteps();
    this.warningEl.hidden = nonFinite.length === 0;
    this.warningEl.textContent =
      nonFinite.length === 0
        ? ''
        : `The loss was NaN or infinite at ${nonFinite.length} logged step(s) (first at step ${nonFinite[0]}): the run may be diverging; try a lower learning rate.`;
  }

  drawInfo() {
    const start = this.model.start ?? this.model.evalStart;
    if (!start) {
      fillList(this.infoEl, [['waiting', 'Run', 'no start event yet: the worker may still be loading the data and model']]);
      return;
    }
    const config = start.config ?? {};
    const training = config.training ?? {};
    const modelConfig = config.model;
    const modelName =
      modelConfig && typeof modelConfig === 'object' && modelConfig.kind === 'hf'
        ? String(modelConfig.path)
        : start.model?.family;
    const rows = [
      [
        'task',
        'Task',
        `${start.task} · ${TASK_NAMES[start.task] ?? start.task}${start.command === 'eval' ? ' (eval command)' : ''}`,
      ],
    ];
    if (start.model) {
      rows.push([
        'model',
        'Model',
        `${start.model.family}${modelName && modelName !== start.model.family ? ` · ${modelName}` : ''}`,
      ]);
      rows.push([
        'params',
        'Parameters',
        `${formatCount(start.model.parameters)} (${formatCount(start.model.trainable)} trainable${start.model.lora ? `, LoRA ${start.model.lora}` : ''})`,
      ]);
    }
    rows.push(['world-size', 'World size', String(start.world_size)]);
    rows.push([
      'device',
      'Device',
      [
        start.device,
        start.efficiency?.strategy,
        start.efficiency ? (start.efficiency.bf16 ? 'bf16' : 'fp32') : undefined,
        start.efficiency?.compile ? 'compiled' : undefined,
        start.torch ? `torch ${start.torch}` : undefined,
      ]
        .filter(Boolean)
        .join(' · '),
    ]);
    if (start.data?.train_pairs !== undefined) {
      rows.push([
        'pairs',
        'Pairs',
        `${start.data.train_pairs} train · ${start.data.eval_pairs} held out${start.data.truncated ? ` · ${start.data.truncated} truncated` : ''}`,
      ]);
    } else if (start.data) {
      rows.push(['pairs', 'Pairs', `${start.data.eval_pairs} held out`]);
    }
    if (start.data?.tokenizer) rows.push(['tokenizer', 'Tokenizer', start.data.tokenizer]);
    if (start.total_steps !== undefined) {
      rows.push(['steps', 'Steps', `${start.total_steps} total · ${formatNumber(start.steps_per_epoch, 1)} per epoch`]);
    }
    const batch = training.batch_size;
    const accumulation = training.gradient_accumulation_steps ?? 1;
    const hyper = [
      training.learning_rate !== undefined ? `lr ${formatRate(training.learning_rate)}` : undefined,
      training.lr_scheduler_type,
      batch !== undefined
        ? `batch ${batch}${accumulation > 1 ? ` × ${accumulation} accum` : ''} (effective ${batch * accumulation * (start.world_size ?? 1)})`
        : undefined,
      start.efficiency?.warmup_steps ? `${start.efficiency.warmup_steps} warmup steps` : undefined,
      start.task === 'dpo' && config.dpo?.beta !== undefined ? `β ${config.dpo.beta}` : undefined,
      start.task === 'dpo' ? config.dpo?.loss_type : undefined,
    ].filter(Boolean);
    if (hyper.length > 0) rows.push(['hyperparameters', 'Hyperparameters', hyper.join(' · ')]);
    const evalStart = this.model.evalStart;
    if (evalStart) rows.push(['checkpoint', 'Evaluated checkpoint', evalStart.checkpoint ?? 'the initial model']);
    for (const resume of this.model.resumes) {
      rows.push(['resumed', 'Resumed', `at step ${resume.step} from ${resume.from} (${formatTime(resume.time)})`]);
    }
    rows.push(['started', 'Started', formatTime(this.model.firstStart?.time ?? start.time)]);
    fillList(this.infoEl, rows);
  }

  drawCharts() {
    const model = this.model;
    const xMax = model.totalSteps;
    const evaluated = (field) => ({
      id: 'eval',
      label: 'held-out',
      color: EVAL_COLOR,
      points: model.evalSeries(field),
      markers: true,
      dashed: true,
    });
    const trained = (field) => ({ id: 'train', label: 'train', color: TRAIN_COLOR, points: model.trainSeries(field) });
    replace(
      this.lossChart,
      lineChart({
        series: [trained('loss'), evaluated('loss')],
        xMax,
        format: (value) => value.toFixed(3),
        title: 'loss by step',
      }),
    );
    replace(
      this.accuracyChart,
      lineChart({
        series: [trained('accuracy'), evaluated('accuracy')],
        xMax,
        yDomain: { min: 0, max: 1 },
        format: (value) => `${Math.round(value * 100)}%`,
        title: 'accuracy by step',
      }),
    );
    replace(
      this.lrChart,
      lineChart({
        series: [{ ...trained('lr'), label: 'lr' }],
        xMax,
        format: (value) => formatRate(value),
        title: 'learning rate by step',
      }),
    );
  }

  drawEvals() {
    clear(this.evalsEl);
    const rows = [
      ...this.model.evals.map((entry) => ({ label: `step ${entry.step}`, metrics: entry.metrics })),
      ...this.model.checkpointEvals.map((entry) => ({
        label: `${entry.checkpoint ?? 'initial model'} (eval command)`,
        metrics: entry.metrics,
      })),
    ];
    if (rows.length === 0) {
      this.evalsEl.append(h('p', { class: 'muted' }, 'No held-out evaluation yet.'));
      return;
    }
    const table = h(
      'table',
      { class: 'metrics-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['', 'pairs', 'loss', 'accuracy', 'ECE', 'Brier', 'margin'].map((name) => h('th', { attrs: { scope: 'col' } }, name)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map(({ label, metrics }) =>
          h(
            'tr',
            {},
            h('th', { attrs: { scope: 'row' } }, label),
            h('td', {}, String(metrics.pairs)),
            h('td', {}, formatNumber(metrics.loss, 4)),
            h('td', {}, formatPercent(metrics.accuracy)),
            h('td', {}, formatNumber(metrics.ece, 3)),
            h('td', {}, formatNumber(metrics.brier, 3)),
            h('td', {}, formatNumber(metrics.mean_margin, 3)),
          ),
        ),
      ),
    );
    this.evalsEl.append(table);
  }

  drawCheckpoints() {
    clear(this.checkpointsEl);
    if (this.model.checkpoints.length === 0) {
      this.checkpointsEl.append(h('li', { class: 'muted' }, 'No checkpoint yet.'));
      return;
    }
    for (const checkpoint of this.model.checkpoints) {
      this.checkpointsEl.append(
        h(
          'li',
          { data: { step: checkpoint.step } },
          h('strong', {}, `step ${checkpoint.step}`),
          h('span', { class: 'muted' }, ` · epoch ${formatNumber(checkpoint.epoch, 2)} · `),
          h('code', { class: 'path' }, checkpoint.path),
        ),
      );
    }
  }

  drawDone() {
    const done = this.model.done;
    this.doneEl.hidden = !done;
    clear(this.finalEl);
    clear(this.lengthEl);
    if (!done) {
      this.doneSummary.textContent = '';
      return;
    }
    const summary = [
      `${done.status === 'completed' ? 'Completed' : 'Stopped'} at step ${done.step}${done.epoch === undefined ? '' : ` (epoch ${formatNumber(done.epoch, 2)})`}`,
    ];
    if (done.reason) summary.push(`reason: ${done.reason}`);
    if (done.checkpoint) summary.push(`checkpoint ${done.checkpoint}`);
    if (done.final_model) summary.push(`final model ${done.final_model}`);
    if (done.status === 'stopped') summary.push('run tribunal train again with the same --out to resume');
    this.doneSummary.textContent = summary.join(' · ');

    const metrics = done.eval;
    if (!metrics) {
      this.finalEl.append(
        h(
          'p',
          { class: 'muted' },
          'No final held-out metrics (no held-out split, or the run was stopped before its final evaluation).',
        ),
      );
      return;
    }
    const rows = [
      ['pairs', 'Held-out pairs', String(metrics.pairs)],
      ['accuracy', 'Accuracy', formatPercent(metrics.accuracy)],
      ['ece', 'ECE', formatNumber(metrics.ece, 3)],
      ['brier', 'Brier', formatNumber(metrics.brier, 3)],
      ['loss', 'Loss', formatNumber(metrics.loss, 4)],
      ['margin', 'Mean margin', formatNumber(metrics.mean_margin, 3)],
    ];
    if (metrics.ties !== undefined) rows.push(['ties', 'Ties (counted wrong)', String(metrics.ties)]);
    fillList(this.finalEl, rows);

    const split = [
      ['chosen_longer', 'chosen longer'],
      ['chosen_shorter', 'chosen shorter'],
      ['same_length', 'same length'],
    ].filter(([key]) => metrics[`accuracy/${key}`] !== undefined || metrics[`count/${key}`] !== undefined);
    if (split.length === 0) return;
    this.lengthEl.append(
      h(
        'table',
        { class: 'metrics-table' },
        h('caption', {}, 'Accuracy by length (does the model just prefer the longer answer?)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['', 'pairs', 'accuracy'].map((name) => h('th', { attrs: { scope: 'col' } }, name)),
          ),
        ),
        h(
          'tbody',
          {},
          split.map(([key, label]) =>
            h(
              'tr',
              { data: { split: key } },
              h('th', { attrs: { scope: 'row' } }, label),
              h('td', {}, metrics[`count/${key}`] === undefined ? '–' : String(metrics[`count/${key}`])),
              h('td', {}, formatPercent(metrics[`accuracy/${key}`])),
            ),
          ),
        ),
      ),
    );
    const longer = metrics['accuracy/chosen_longer'];
    const shorter = metrics['accuracy/chosen_shorter'];
    if (typeof longer === 'number' && typeof shorter === 'number') {
      const gap = (longer - shorter) * 100;
      this.lengthEl.append(
        h(
          'p',
          { class: Math.abs(gap) >= 10 ? 'error' : 'muted', data: { field: 'length-gap' } },
          `Accuracy gap, chosen longer − chosen shorter: ${gap >= 0 ? '+' : ''}${gap.toFixed(1)} points${Math.abs(gap) >= 10 ? ' (a length bias)' : ''}.`,
        ),
      );
    }
  }

  drawErrors() {
    clear(this.errorsEl);
    const errors = this.model.errors;
    this.errorsEl.hidden = errors.length === 0;
    for (const error of errors) {
      const where = [
        error.field ? `field ${error.field}` : undefined,
        error.file ? `${error.file}${error.line === undefined ? '' : `:${error.line}`}` : undefined,
        `events.jsonl line ${error.eventsLine}`,
      ];
      this.errorsEl.append(
        h(
          'div',
          { class: 'train-error', data: { code: error.code } },
          h('strong', {}, `Training failed [${error.code}]`),
          h('p', { class: 'train-error-message' }, error.message),
          h('p', { class: 'muted small' }, where.filter(Boolean).join(' · '), ` · ${formatTime(error.time)}`),
        ),
      );
    }
  }
}

/** Fills a <dl> with [key, term, description] rows; each <dd> carries data-field=key. */
function fillList(list, rows) {
  clear(list);
  for (const [key, term, description] of rows) {
    list.append(h('div', { class: 'field' }, h('dt', {}, term), h('dd', { data: { field: key } }, description)));
  }
}

function replace(container, child) {
  clear(container);
  container.append(child);
}

/** 1234567 -> "1.2M"; 5120.3 -> "5.1k"; null -> "–". */
export function formatCount(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return String(Math.round(value));
}

function formatPercent(value) {
  return typeof value === 'number' && Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : '–';
}

function formatNumber(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function formatRate(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toExponential(1).replace('e+0', '') : '–';
}

function formatSeconds(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

/** Seconds as h:mm:ss or m:ss. */
function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** A worker time (unix seconds) in the browser's locale. */
function formatTime(unixSeconds) {
  return typeof unixSeconds === 'number' ? new Date(unixSeconds * 1000).toLocaleString() : '–';
}
