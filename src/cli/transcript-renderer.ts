import type { CriticInfo, DebateEvent, DebateEventOf } from '../contracts/index.js';
import { JsonField } from '../web/json-field.js';
import { oneLine, type Style, table, terminalSafe } from './terminal.js';

interface TurnBuffer {
  event: DebateEventOf<'turn-start'>;
  rationale: JsonField;
  raw: string;
  text: string;
  end?: DebateEventOf<'turn-end'>;
}

/**
 * Renders a DebateEvent stream as a readable live transcript: one critic's turn streams at a time
 * (parallel turns are buffered and shown in order), a score table after each round, then the verdict.
 */
export class TranscriptRenderer {
  private critics = new Map<string, CriticInfo>();
  private candidates: string[] = [];
  private queue: TurnBuffer[] = [];
  private turns = new Map<string, TurnBuffer>();
  private focusPrinted = 0;
  private scale = { min: 1, max: 10 };

  constructor(
    private readonly write: (text: string) => void,
    private readonly style: Style,
  ) {}

  /** Consumes one event. */
  render(event: DebateEvent): void {
    switch (event.type) {
      case 'debate-start':
        this.onStart(event);
        return;
      case 'turn-start': {
        const buffer: TurnBuffer = { event, rationale: new JsonField('rationale'), raw: '', text: '' };
        this.turns.set(event.turnId, buffer);
        this.queue.push(buffer);
        if (this.queue.length === 1) this.printHeader(buffer);
        return;
      }
      case 'turn-delta': {
        const buffer = this.turns.get(event.turnId);
        if (!buffer) return;
        buffer.raw += event.text;
        const decoded = terminalSafe(buffer.rationale.push(event.text));
        buffer.text += decoded;
        if (this.queue[0] === buffer && decoded) {
          this.write(decoded);
          this.focusPrinted += decoded.length;
        }
        return;
      }
      case 'turn-end': {
        const buffer = this.turns.get(event.turnId);
        if (!buffer) return;
        buffer.end = event;
        this.drain();
        return;
      }
      case 'tool-result':
        this.onToolResult(event);
        return;
      case 'round-end':
        this.drain();
        this.onRoundEnd(event);
        return;
      case 'verdict':
        this.onVerdict(event);
        return;
      case 'debate-end':
        this.write(
          this.style.dim(
            `\n${event.turns} turns (${event.failedTurns} failed), ${event.usage.calls} model calls, ` +
              `${event.usage.inputTokens} input + ${event.usage.outputTokens} output tokens, $${event.usage.costUsd.toFixed(4)}\n`,
          ),
        );
        return;
      case 'debate-error':
        this.write(this.style.red(`\ndebate failed [${event.code}]: ${terminalSafe(event.message)}\n`));
        return;
      default: {
        const unreachable: never = event;
        throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
      }
    }
  }

  private onStart(event: DebateEventOf<'debate-start'>): void {
    this.scale = event.panel.scale;
    for (const critic of event.critics) this.critics.set(critic.id, critic);
    this.candidates = event.candidates.map((candidate) => candidate.id);
    const prompt = typeof event.prompt === 'string' ? event.prompt : (event.prompt.at(-1)?.content ?? '');
    const { bold, dim, cyan } = this.style;
    this.write(`${bold('Prompt:')} ${oneLine(prompt, 300)}\n`);
    for (const candidate of event.candidates) {
      this.write(
        `${bold(`Candidate ${candidate.id}`)}${candidate.model ? dim(` (${candidate.model})`) : ''}: ${oneLine(candidate.text, 200)}\n`,
      );
    }
    this.write(
      dim(
        `Panel ${event.panel.id} · ${event.panel.protocol}${event.panel.mode === 'pairwise' ? ' · pairwise' : ''} · scale ${event.panel.scale.min}–${event.panel.scale.max} · ` +
          `up to ${event.panel.maxRounds} debate round(s) · tolerance ${event.panel.tolerance} · ${event.panel.aggregation} · constitution ${event.panel.constitution.id} v${event.panel.constitution.version}\n`,
      ),
    );
    for (const critic of event.critics)
      this.write(`  ${cyan(critic.name)} ${dim(`[${critic.id}, weight ${critic.weight}, ${critic.model}]`)} — ${critic.focus}\n`);
  }

  /** The sandbox's run of a candidate: it comes before the turns that read it, so it is written at once. */
  private onToolResult(event: DebateEventOf<'tool-result'>): void {
    const { result } = event;
    const { green, red, dim, bold } = this.style;
    const passed = result.tests.filter((test) => test.passed).length;
    const status = result.status === 'passed' ? green(result.status) : red(result.status);
    const tests = event.withTests ? `, ${passed}/${result.tests.length} tests passed` : ' (no tests)';
    this.write(`${bold(`⚙ ${event.tool}`)} ${dim(`on ${terminalSafe(event.candidateId)}`)}: ${status}${tests}\n`);
    if (result.error) {
      this.write(dim(`  first error: ${oneLine(terminalSafe(`${result.error.type}: ${result.error.message}`), 200)}\n`));
    }
  }

  private criticName(id: string): string {
    return this.critics.get(id)?.name ?? id;
  }

  private printHeader(buffer: TurnBuffer): void {
    const { round, criticId, candidateId } = buffer.event;
    const label = round === 0 ? 'Round 0 (independent)' : `Round ${round}`;
    this.write(
      `\n${this.style.cyan(this.style.bold(`▸ ${this.criticName(criticId)}`))} ${this.style.dim(`on ${candidateId} · ${label}`)}\n  `,
    );
    this.focusPrinted = 0;
    if (buffer.text) {
      this.write(buffer.text);
      this.focusPrinted = buffer.text.length;
    }
  }

  /** Finishes the focused turn while it is done, then moves focus to the next queued turn. */
  private drain(): void {
    while (this.queue[0]?.end) {
      const buffer = this.queue.shift() as TurnBuffer;
      const end = buffer.end as DebateEventOf<'turn-end'>;
      if (!buffer.rationale.started && end.assessment) this.write(terminalSafe(end.assessment.rationale));
      else if (!buffer.rationale.started && end.judgment) this.write(terminalSafe(end.judgment.rationale));
      this.write(`\n  ${this.endLine(end)}\n`);
      const next = this.queue[0];
      if (next) this.printHeader(next);
    }
  }

  private endLine(end: DebateEventOf<'turn-end'>): string {
    const { green, red, yellow, dim } = this.style;
    if (end.status === 'failed' && end.error?.code === 'REFUSED') {
      // A refusal is not a malfunction: say so, with the provider's stop reason and what the model said instead.
      const reason = end.error.stopReason === undefined ? '' : ` (stop reason ${terminalSafe(end.error.stopReason)})`;
      const said = end.error.refusal === undefined ? '' : `: ${dim(`“${oneLine(end.error.refusal, 300)}”`)}`;
      return `${yellow(`⊘ turn refused${reason}`)}${said}`;
    }
    if (end.status === 'failed') {
      return red(`✗ turn failed [${end.error?.code ?? 'UNKNOWN'}]: ${terminalSafe(end.error?.message ?? '')}`);
    }
    const cached = end.status === 'cached' ? dim(' (cached)') : '';
    if (end.judgment)
      return `${green(`→ prefers ${end.judgment.preferred}`)} ${dim(`confidence ${end.judgment.confidence.toFixed(2)}`)}${cached}`;
    if (!end.assessment) return dim('(no assessment)');
    const score = end.assessment.score;
    const colour = score >= (this.scale.min + this.scale.max) / 2 ? green : yellow;
    const principles = end.assessment.principles.length > 0 ? dim(` · cites ${end.assessment.principles.join(', ')}`) : '';
    return `${colour(`→ score ${score}`)} ${dim(`confidence ${end.assessment.confidence.toFixed(2)}`)}${principles}${cached}${end.attempts > 1 ? dim(` · ${end.attempts} attempts`) : ''}`;
  }

  private onRoundEnd(event: DebateEventOf<'round-end'>): void {
    const criticIds = [...this.critics.keys()];
    const rows: string[][] = [['critic', ...event.candidates.map((candidate) => candidate.candidateId)]];
    for (const criticId of criticIds) {
      rows.push([this.criticName(criticId), ...event.candidates.map((candidate) => format(candidate.scores[criticId]))]);
    }
    // A candidate without a single score has no spread and has not converged on anything: show a dash.
    const scored = (candidate: (typeof event.candidates)[number]) => Object.keys(candidate.scores).length > 0;
    rows.push(['spread', ...event.candidates.map((candidate) => (scored(candidate) ? candidate.spread.toFixed(2) : '—'))]);
    rows.push([
      'converged',
      ...event.candidates.map((candidate) => (scored(candidate) ? (candidate.converged ? 'yes' : 'no') : '—')),
    ]);
    const anyScored = event.candidates.some(scored);
    const status = !anyScored
      ? this.style.red(' — no critic turn succeeded')
      : event.converged
        ? this.style.green(' — converged')
        : '';
    this.write(`\n${this.style.bold(`Scores after round ${event.round}`)}${status}\n${table(rows)}\n`);
  }

  private onVerdict(event: DebateEventOf<'verdict'>): void {
    const { bold, green } = this.style;
    const rows: string[][] = [['rank', 'candidate', 'consensus', 'mean', 'median', 'stdev', 'agreement', 'turns', 'failed']];
    const byId = new Map(event.candidates.map((candidate) => [candidate.candidateId, candidate]));
    for (const id of event.ranking) {
      const candidate = byId.get(id);
      if (!candidate) continue;
      rows.push([
        String(candidate.rank),
        id,
        format(candidate.score ?? undefined),
        format(candidate.mean ?? undefined),
        format(candidate.median ?? undefined),
        format(candidate.stdev ?? undefined),
        candidate.agreement === null ? '—' : candidate.agreement.toFixed(2),
        String(candidate.turns),
        String(candidate.failedTurns),
      ]);
    }
    this.write(`\n${bold(`Verdict (${event.aggregation}, ${event.roundsUsed} round(s) used)`)}\n${table(rows)}\n`);
    const unscored = event.candidates.filter((candidate) => candidate.score === null).map((candidate) => candidate.candidateId);
    if (unscored.length === event.candidates.length) {
      this.write(this.style.red('No verdict: no critic turn succeeded, so no candidate has a score.\n'));
    } else {
      if (event.ranking[0]) this.write(green(`Preferred: ${event.ranking[0]}\n`));
      if (unscored.length > 0) {
        this.write(this.style.yellow(`No score (every turn on it failed): ${unscored.join(', ')}\n`));
      }
    }
    if (event.inconsistent && event.inconsistent.length > 0) {
      this.write(
        this.style.yellow(
          `Order-inconsistent verdicts (counted as ties): ${event.inconsistent.map((entry) => `${entry.criticId} on ${entry.pair.join(' vs ')}`).join('; ')}\n`,
        ),
      );
    }
    if (event.rationale) this.write(`${bold('Chair:')} ${terminalSafe(event.rationale)}\n`);
  }
}

function format(value: number | undefined): string {
  return value === undefined ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(2);
}
