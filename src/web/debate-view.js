// Draws one debate: a column per critic streaming its text, score chips per round, a chart of each candidate's
// score across rounds, the consensus verdict, and the override controls.

import { DebateModel, toolResultView, turnFailure } from './debate-model.js';
import { clear, formatScore, h, untrusted, visibleControls } from './dom.js';
import { candidateColor, scoreChart } from './score-chart.js';

export class DebateView {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.root = $('debate');
    this.title = $('debate-title');
    this.statusEl = $('debate-status');
    this.promptEl = $('debate-prompt');
    this.candidatesEl = $('debate-candidates');
    this.criticsEl = $('critics');
    this.roundsEl = $('rounds');
    this.chartEl = $('chart');
    this.verdictEl = $('verdict');
    this.rankingEl = $('ranking');
    this.rationaleEl = $('rationale');
    this.errorEl = $('debate-error');
    this.overrideEl = $('override');
    this.overrideButtons = $('override-buttons');
    this.overrideStatus = $('override-status');
    this.replayButton = $('replay');
    this.cancelButton = $('cancel');
    this.model = new DebateModel();
    /** turnId -> { card, text, chip } */
    this.turnEls = new Map();
    this.columns = new Map();
    this.target = undefined;
    this.replayTimer = undefined;
  }

  /** Starts showing a debate (empty until its events arrive). */
  show(target) {
    this.stopReplay();
    this.target = target;
    this.model = new DebateModel();
    this.root.hidden = false;
    this.title.textContent = `Debate ${target.debateId.slice(0, 8)}`;
    this.title.title = `${target.run} / ${target.debateId}`;
    this.resetDom();
    this.setStatus('loading');
  }

  resetDom() {
    for (const element of [
      this.promptEl,
      this.candidatesEl,
      this.criticsEl,
      this.roundsEl,
      this.chartEl,
      this.rankingEl,
      this.overrideButtons,
    ]) {
      clear(element);
    }
    this.rationaleEl.textContent = '';
    this.errorEl.hidden = true;
    this.verdictEl.hidden = true;
    this.overrideEl.hidden = true;
    this.overrideStatus.textContent = '';
    this.turnEls.clear();
    this.columns.clear();
  }

  setStatus(text) {
    this.statusEl.textContent = text;
    this.statusEl.dataset.state = text;
    this.cancelButton.disabled = !(this.target?.live && text === 'running');
    this.replayButton.disabled = !(text === 'done' || text === 'failed');
  }

  /** Applies one event of the debate shown. */
  apply(event) {
    if (!this.target || event.debateId !== this.target.debateId) return;
    if (this.replayTimer !== undefined) return;
    this.draw(this.model.apply(event));
  }

  draw(change) {
    if (!change) return;
    switch (change.kind) {
      case 'start':
        this.drawStart();
        break;
      case 'turn':
        this.drawTurn(change.turn);
        break;
      case 'delta':
        if (change.text) this.turnEl(change.turn).text.append(visibleControls(change.text));
        break;
      case 'tool':
        this.drawTool(change.candidateId);
        break;
      case 'round':
        this.drawRounds();
        break;
      case 'verdict':
        this.drawRounds();
        this.drawVerdict();
        break;
      case 'end':
      case 'error':
        if (this.model.error) {
          this.verdictEl.hidden = false;
          this.errorEl.hidden = false;
          this.errorEl.textContent = visibleControls(`Debate failed [${this.model.error.code}]: ${this.model.error.message}`);
        }
        break;
      default:
        break;
    }
    this.setStatus(this.model.status);
  }

  drawStart() {
    const start = this.model.start;
    const prompt =
      typeof start.prompt === 'string'
        ? start.prompt
        : start.prompt.map((message) => `${message.role}: ${message.content}`).join('\n');
    clear(this.promptEl);
    this.promptEl.append(h('strong', {}, 'Prompt '), untrusted('span', { class: 'prompt-text' }, prompt));
    clear(this.candidatesEl);
    start.candidates.forEach((candidate, index) => {
      this.candidatesEl.append(
        h(
          'div',
          { class: 'candidate', data: { candidate: candidate.id } },
          h('span', { class: 'swatch', style: { background: candidateColor(index) } }),
          untrusted('strong', {}, candidate.id),
          untrusted('span', { class: 'candidate-text' }, candidate.text),
        ),
      );
      this.drawTool(candidate.id);
    });
    clear(this.criticsEl);
    this.columns.clear();
    for (const critic of start.critics) {
      const body = h('div', { class: 'turns' });
      const column = h(
        'section',
        { class: 'critic-column', data: { critic: critic.id } },
        h('header', {}, h('strong', {}, critic.name), h('span', { class: 'muted' }, ` · ${critic.focus}`)),
        h('div', { class: 'muted small' }, `${critic.model} · weight ${critic.weight}`),
        body,
      );
      this.columns.set(critic.id, body);
      this.criticsEl.append(column);
    }
    this.drawRounds();
  }

  /** The sandbox's run of a candidate's code, under its card: every string is a text node, bidi controls made visible. */
  drawTool(candidateId) {
    const event = this.model.tools.get(candidateId);
    const card = [...this.candidatesEl.children].find((element) => element.dataset.candidate === candidateId);
    if (!event || !card) return;
    card.querySelector('.execution')?.remove();
    const view = toolResultView(event);
    const block = (label, text) =>
      text ? h('details', {}, h('summary', {}, label), untrusted('pre', { class: 'execution-text' }, text)) : null;
    card.append(
      h(
        'div',
        { class: `execution ${event.result.status}`, data: { status: event.result.status } },
        untrusted('div', { class: 'execution-summary' }, view.summary),
        block('first error', view.error),
        block('stdout', view.stdout),
        block('stderr', view.stderr),
      ),
    );
  }

  turnEl(turn) {
    let entry = this.turnEls.get(turn.turnId);
    if (entry) return entry;
    const text = untrusted('div', { class: 'turn-text' });
    const chip = h('span', { class: 'chip pending' }, '…');
    const card = h(
      'div',
      { class: 'turn', data: { turn: turn.turnId, round: turn.round, candidate: turn.candidateId } },
      h('div', { class: 'turn-head' }, h('span', {}, `Round ${turn.round} · `, untrusted('span', {}, turn.candidateId)), chip),
      text,
    );
    entry = { card, text, chip };
    this.turnEls.set(turn.turnId, entry);
    const column = this.columns.get(turn.criticId);
    column?.append(card);
    if (turn.text) text.append(visibleControls(turn.text));
    return entry;
  }

  drawTurn(turn) {
    const entry = this.turnEl(turn);
    if (turn.status === 'streaming') return;
    entry.card.dataset.status = turn.status;
    if (entry.text.textContent.length === 0 && turn.text) entry.text.append(visibleControls(turn.text));
    if (turn.status === 'failed') {
      const failure = turnFailure(turn);
      entry.chip.className = `chip failed ${failure.label}`;
      entry.chip.textContent = failure.label;
      entry.chip.title = failure.title;
      // A refusal's own words stand in for the rationale it did not write (as text: it is untrusted model output).
      if (failure.said && entry.text.textContent.length === 0) {
        entry.text.append(untrusted('em', { class: 'refusal' }, visibleControls(failure.said)));
      }
    } else {
      entry.chip.className = 'chip score';
      entry.chip.textContent = turn.preferred ? `prefers ${turn.preferred}` : formatScore(turn.score);
    }
  }

  drawRounds() {
    clear(this.roundsEl);
    const model = this.model;
    const rounds = [...model.rounds.values()].sort((a, b) => a.round - b.round);
    if (rounds.length === 0) {
      this.roundsEl.append(h('p', { class: 'muted' }, 'No round has finished yet.'));
    }
    for (const round of rounds) {
      const row = h(
        'div',
        { class: 'round-row', data: { round: round.round } },
        h('span', { class: 'round-label' }, `R${round.round}`),
      );
      for (const candidate of round.candidates) {
        const index = model.candidateIds.indexOf(candidate.candidateId);
        const chips = Object.entries(candidate.scores).map(([criticId, score]) =>
          h('span', { class: 'chip score', title: criticId, style: { borderColor: candidateColor(index) } }, formatScore(score)),
        );
        row.append(
          h(
            'span',
            {
              class: `round-candidate${candidate.converged ? ' converged' : ''}`,
              title: `spread ${formatScore(candidate.spread)}`,
            },
            untrusted('strong', { style: { color: candidateColor(index) } }, candidate.candidateId),
            ...chips,
          ),
        );
      }
      this.roundsEl.append(row);
    }
    clear(this.chartEl);
    if (model.start) {
      const maxRound = Math.max(model.start.panel.maxRounds, ...rounds.map((round) => round.round));
      this.chartEl.append(scoreChart({ series: model.scoreSeries(), scale: model.start.panel.scale, rounds: maxRound }));
    }
  }

  drawVerdict() {
    const verdict = this.model.verdict;
    this.verdictEl.hidden = false;
    clear(this.rankingEl);
    for (const candidateId of verdict.ranking) {
      const candidate = verdict.candidates.find((entry) => entry.candidateId === candidateId);
      const index = this.model.candidateIds.indexOf(candidateId);
      this.rankingEl.append(
        h(
          'li',
          { data: { candidate: candidateId } },
          untrusted('strong', { style: { color: candidateColor(index) } }, candidateId),
          ` ${formatScore(candidate?.score)}`,
          h(
            'span',
            { class: 'muted' },
            candidate?.agreement === null || candidate?.agreement === undefined
              ? ''
              : ` · agreement ${Math.round(candidate.agreement * 100)}%`,
            candidate?.wins === undefined ? '' : ` · ${candidate.wins} wins`,
          ),
        ),
      );
    }
    this.rationaleEl.textContent = visibleControls(verdict.rationale ?? '');
    this.drawOverride();
  }

  drawOverride() {
    this.overrideEl.hidden = false;
    clear(this.overrideButtons);
    for (const candidateId of this.model.candidateIds) {
      this.overrideButtons.append(
        h(
          'button',
          { attrs: { type: 'button' }, data: { prefer: candidateId }, class: 'override-button' },
          `Prefer ${candidateId}`,
        ),
      );
    }
    this.overrideButtons.append(
      h('button', { attrs: { type: 'button' }, data: { wrong: 'true' }, class: 'override-button danger' }, 'Label is wrong'),
    );
  }

  /** Shows the latest stored override. */
  showOverride(override) {
    if (!override) return;
    const what = override.kind === 'prefer' ? `prefers ${override.candidateId}` : 'marked the label wrong';
    this.overrideStatus.textContent = visibleControls(
      `Saved: a human ${what} (override #${override.id}${override.note ? `, “${override.note}”` : ''}).`,
    );
    this.overrideStatus.dataset.saved = 'true';
  }

  /** Plays the debate's events again at a readable pace. */
  replay() {
    const events = this.model.events.slice();
    if (events.length === 0) return;
    this.stopReplay();
    const target = this.target;
    this.model = new DebateModel();
    this.resetDom();
    let index = 0;
    const step = () => {
      if (this.target !== target) return;
      let budget = 6;
      while (index < events.length && budget > 0) {
        const event = events[index++];
        this.draw(this.model.apply(event));
        budget -= event.type === 'turn-delta' ? 1 : 3;
      }
      if (index < events.length) this.replayTimer = setTimeout(step, 30);
      else this.replayTimer = undefined;
    };
    this.replayTimer = setTimeout(step, 0);
  }

  stopReplay() {
    if (this.replayTimer !== undefined) clearTimeout(this.replayTimer);
    this.replayTimer = undefined;
  }
}
