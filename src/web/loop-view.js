// Draws one `tribunal loop` from its report.json (GET /v1/loop-report, polled while the Loop tab is open): status,
// current stage, iterations done of those requested, the stop rule that ended it, four curves by policy index (win
// rate vs policy_i and vs policy_0 with their intervals and the length-controlled one; KL; mean tokens; distinct-2)
// and the table report.md shows. Everything from the report is untrusted text: it only ever becomes text nodes.

import { clear, h, untrusted, visibleControls } from './dom.js';
import { lineChart } from './line-chart.js';
import { loopSeries } from './loop-model.js';

const STATUS_TEXT = { running: 'running', done: 'done', stopped: 'stopped by a stop rule' };

export class LoopView {
  /** @param {{ openTraining: (runDir: string) => void }} options */
  constructor(options) {
    const $ = (id) => document.getElementById(id);
    this.openTraining = options.openTraining;
    this.root = $('loop');
    this.emptyEl = $('loop-empty');
    this.title = $('loop-title');
    this.statusEl = $('loop-status');
    this.resolvedEl = $('loop-dir-resolved');
    this.noticeEl = $('loop-notice');
    this.progressEl = $('loop-progress');
    this.progressText = $('loop-progress-text');
    this.statsEl = $('loop-stats');
    this.stopEl = $('loop-stop');
    this.charts = {
      winRate: $('loop-win-rate-chart'),
      kl: $('loop-kl-chart'),
      tokens: $('loop-tokens-chart'),
      diversity: $('loop-diversity-chart'),
    };
    this.tableEl = $('loop-table');
    this.loopDir = undefined;
    /** The last answer drawn, as JSON: an unchanged report is not redrawn. */
    this.drawn = undefined;
  }

  /** Starts showing a loop directory (empty until its report arrives). */
  show(loopDir) {
    this.loopDir = loopDir;
    this.drawn = undefined;
    this.root.hidden = false;
    this.emptyEl.hidden = true;
    this.root.dataset.state = 'waiting';
    this.title.textContent = visibleControls(`Loop ${loopDir}`);
    this.resolvedEl.textContent = '';
    this.statusEl.textContent = 'loading…';
    this.statusEl.dataset.state = 'waiting';
    this.setNotice(undefined);
    clear(this.statsEl);
    clear(this.tableEl);
    for (const chart of Object.values(this.charts)) clear(chart);
    this.stopEl.hidden = true;
  }

  /** Hides the view (no loop picked). */
  hide() {
    this.loopDir = undefined;
    this.drawn = undefined;
    this.root.hidden = true;
    this.emptyEl.hidden = false;
  }

  /** A poll failed (the report is being rewritten, was removed, or is not valid): what is shown stays. */
  failed(error) {
    this.setNotice(`Cannot read the report${error.code ? ` [${error.code}]` : ''}: ${error.message}`);
  }

  setNotice(text) {
    this.noticeEl.hidden = text === undefined;
    this.noticeEl.textContent = text === undefined ? '' : visibleControls(text);
  }

  /** Draws `GET /v1/loop-report`'s answer `{ loopDir, resolvedDir, updatedAt, report }`. */
  update(answer) {
    this.setNotice(undefined);
    const json = JSON.stringify(answer);
    if (json === this.drawn) return;
    this.drawn = json;
    const report = answer.report;
    const rows = report.iterations;
    this.resolvedEl.textContent = visibleControls(answer.resolvedDir !== this.loopDir ? answer.resolvedDir : '');
    this.root.dataset.state = report.status;
    this.root.dataset.iterations = String(rows.length);
    this.statusEl.dataset.state = report.status === 'done' ? 'completed' : report.status;
    this.statusEl.textContent = visibleControls(
      report.status === 'running' && report.stage ? `running · ${report.stage}` : STATUS_TEXT[report.status],
    );
    const requested = Math.max(1, report.iterationsRequested);
    this.progressEl.value = Math.min(1, rows.length / requested);
    this.progressEl.setAttribute('aria-valuetext', `${rows.length} of ${report.iterationsRequested} iterations`);
    this.progressText.textContent = `${rows.length} / ${report.iterationsRequested} iterations`;
    fillList(this.statsEl, [
      ['status', 'Status', STATUS_TEXT[report.status]],
      ['stage', 'Stage', report.stage ?? (report.status === 'running' ? 'starting' : '–')],
      ['iterations', 'Iterations', `${rows.length} / ${report.iterationsRequested}`],
      ['policy', 'Policy', report.policy],
      ['prompts', 'Prompts', `${report.prompts.train} train · ${report.prompts.heldOut} held out`],
      ['reference', 'DPO reference', report.reference === 'initial' ? 'policy_0 (fixed)' : 'the previous policy'],
      ['stop-rule', 'Stop rule', report.stoppedBy ? report.stoppedBy.rule : 'none fired'],
      ['updated', 'Report written', new Date(answer.updatedAt).toLocaleString()],
    ]);
    this.stopEl.hidden = report.stoppedBy === null;
    this.stopEl.textContent = report.stoppedBy
      ? visibleControls(`Stopped after iteration ${rows.length - 1} by ${report.stoppedBy.rule}: ${report.stoppedBy.message}`)
      : '';
    this.drawCharts(report);
    this.drawTable(report);
  }

  drawCharts(report) {
    const series = loopSeries(report);
    const xMax = Math.max(1, report.iterationsRequested, report.iterations.length);
    const percent = (value) => `${Math.round(value * 100)}%`;
    const chart = (name, options) =>
      replace(this.charts[name], lineChart({ series: series[name], xMax, xLabel: 'policy', ...options }));
    chart('winRate', { yDomain: { min: 0, max: 1 }, format: percent, title: 'panel win rate by policy' });
    chart('kl', { format: (value) => value.toFixed(2), title: 'KL(policy ‖ policy_0) by policy' });
    chart('tokens', { format: (value) => value.toFixed(1), title: 'mean tokens by policy' });
    chart('diversity', { format: (value) => value.toFixed(2), title: 'distinct-2 by policy' });
  }

  /** The table of report.md: one row for policy_0, one per iteration, each linked to its training run. */
  drawTable(report) {
    clear(this.tableEl);
    const headings = [
      'iteration',
      'win rate vs policy_i',
      'vs policy_0',
      'length-controlled',
      'KL (nats)',
      'mean tokens',
      'length ×',
      'distinct-2',
      'overlap',
      'mean consensus',
      'pairs',
      'stop rule',
      'training run',
    ];
    const initial = report.initial;
    const body = [];
    if (initial) {
      body.push(
        h(
          'tr',
          { data: { policy: '0' } },
          h('th', { attrs: { scope: 'row' } }, 'policy_0'),
          ...['–', '–', '–', '0', formatNumber(initial.meanTokens, 1), '1'].map((text) => h('td', {}, text)),
          h('td', {}, formatNumber(initial.distinct2, 3)),
          h('td', {}, formatNumber(initial.pairwiseOverlap, 3)),
          h('td', {}, formatNumber(initial.meanConsensus, 2)),
          h('td', {}, '–'),
          h('td', {}, ''),
          h('td', {}, ''),
        ),
      );
    }
    for (const row of report.iterations) {
      const runDir = `${this.loopDir}/iter-${row.iteration}/train`;
      body.push(
        h(
          'tr',
          { data: { iteration: String(row.iteration) } },
          h('th', { attrs: { scope: 'row' } }, `${row.iteration} → policy_${row.iteration + 1}`),
          h('td', { data: { field: 'win-rate' } }, withInterval(formatPercent, row.winRate, row.winRateInterval)),
          h(
            'td',
            { data: { field: 'win-rate-vs-initial' } },
            withInterval(formatPercent, row.winRateVsInitial, row.winRateVsInitialInterval),
          ),
          h('td', {}, formatPercent(row.lengthControlledWinRate)),
          h(
            'td',
            { data: { field: 'kl' } },
            withInterval((value) => formatNumber(value, 3), row.kl, row.klInterval),
          ),
          h('td', {}, formatNumber(row.meanTokens, 1)),
          h('td', {}, formatNumber(row.lengthDrift, 2)),
          h('td', {}, formatNumber(row.distinct2, 3)),
          h('td', {}, formatNumber(row.pairwiseOverlap, 3)),
          h('td', {}, formatNumber(row.meanConsensus, 2)),
          h('td', {}, String(row.pairs)),
          untrusted('td', { title: row.stopRule?.message ?? '' }, row.stopRule ? row.stopRule.rule : ''),
          h(
            'td',
            {},
            h(
              'button',
              {
                class: 'link',
                attrs: { type: 'button' },
                data: { runDir },
                title: `Follow ${runDir} in the Training tab`,
                on: { click: () => this.openTraining(runDir) },
              },
              'training',
            ),
          ),
        ),
      );
    }
    if (body.length === 0) {
      this.tableEl.append(h('p', { class: 'muted' }, 'No iteration has finished yet.'));
      return;
    }
    this.tableEl.append(
      h(
        'table',
        { class: 'metrics-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            headings.map((name) => h('th', { attrs: { scope: 'col' } }, name)),
          ),
        ),
        h('tbody', {}, body),
      ),
    );
  }
}

/** Fills a <dl> with [key, term, description] rows; each <dd> carries data-field=key. Descriptions become text. */
function fillList(list, rows) {
  clear(list);
  for (const [key, term, description] of rows) {
    list.append(h('div', { class: 'field' }, h('dt', {}, term), untrusted('dd', { data: { field: key } }, description)));
  }
}

function replace(container, child) {
  clear(container);
  container.append(child);
}

function withInterval(format, value, interval) {
  const range = Array.isArray(interval) ? ` [${format(interval[0])}, ${format(interval[1])}]` : '';
  return `${format(value)}${Number.isFinite(value) ? range : ''}`;
}

function formatPercent(value) {
  return Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : '–';
}

function formatNumber(value, digits) {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}
