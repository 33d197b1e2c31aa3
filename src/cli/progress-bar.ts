import type { LabelingProgress } from '../runner/index.js';
import { type ProgressBarOptions, StatusLine } from './status-line.js';
import type { Style } from './terminal.js';

export type { ProgressBarOptions, ProgressStream } from './status-line.js';

/**
 * The progress display of `tribunal label`. On a terminal, one line redrawn in place: a bar, items done/total,
 * items per second, ETA, model calls, tokens and cost; messages (`log`) print above it. Elsewhere, a plain line
 * every `lineMs` with the same numbers, so logs of long runs stay readable.
 */
export class ProgressBar {
  private readonly line: StatusLine<LabelingProgress>;

  constructor(options: ProgressBarOptions) {
    const { style } = options;
    this.line = new StatusLine(options, {
      terminal: (progress, columns) => {
        const width = Math.max(20, (columns !== undefined && columns > 0 ? columns : 120) - 1);
        let line = renderBarLine(progress, style);
        const excess = visibleLength(line) - width;
        // A narrow terminal gets a shorter bar first, then loses the end of the line.
        if (excess > 0) line = renderBarLine(progress, style, Math.max(6, 24 - excess));
        return clipVisible(line, width);
      },
      plain: renderPlainLine,
    });
  }

  /** Takes a new snapshot; draws it when enough time passed since the last drawing. */
  update(progress: LabelingProgress): void {
    this.line.show(progress);
  }

  /** Prints a message line, above the bar on a terminal. */
  log(line: string): void {
    this.line.log(line);
  }

  /** Draws the last snapshot one final time and ends the line. */
  finish(): void {
    this.line.finish();
  }
}

/** The terminal line: `[██████░░░░] 12/20 60% · 3.2 items/s · ETA 0:03 · 144 calls · 52.1k tok · $0.0120`. */
export function renderBarLine(progress: LabelingProgress, style: Style, barWidth = 24): string {
  const settled = progress.done + progress.failed + progress.rejected;
  const fraction = progress.total > 0 ? Math.min(1, settled / progress.total) : 1;
  const filled = Math.round(fraction * barWidth);
  const bar = `${style.green('█'.repeat(filled))}${style.dim('░'.repeat(barWidth - filled))}`;
  const parts = [
    `[${bar}] ${settled}/${progress.total} ${Math.floor(fraction * 100)}%`,
    ...counts(progress, style),
    formatItemRate(progress.itemsPerSecond),
    `ETA ${progress.etaSeconds === undefined ? '--:--' : formatDuration(progress.etaSeconds)}`,
    `${formatCount(progress.usage.calls)} calls`,
    `${formatCount(progress.usage.inputTokens + progress.usage.outputTokens)} tok`,
    formatCost(progress.usage.costUsd),
  ];
  if (progress.stopping) parts.push(style.yellow(`stopping (${progress.stopping})`));
  return parts.join(' · ');
}

/** The line written off a terminal: `label: 12/20 items (1 failed) · 3.2 items/s · ETA 3s · ...`. */
export function renderPlainLine(progress: LabelingProgress): string {
  const settled = progress.done + progress.failed + progress.rejected;
  const plain = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id, magenta: id };
  const parts = [
    `label: ${settled}/${progress.total} items`,
    ...counts(progress, plain),
    formatItemRate(progress.itemsPerSecond),
    `ETA ${progress.etaSeconds === undefined ? 'unknown' : formatDuration(progress.etaSeconds)}`,
    `${progress.usage.calls} calls`,
    `${progress.usage.inputTokens + progress.usage.outputTokens} tokens`,
    formatCost(progress.usage.costUsd),
  ];
  if (progress.stopping) parts.push(`stopping (${progress.stopping})`);
  return parts.join(' · ');
}

function counts(progress: LabelingProgress, style: Style): string[] {
  const parts: string[] = [];
  if (progress.failed > 0) parts.push(style.red(`${progress.failed} failed`));
  if (progress.rejected > 0) parts.push(style.yellow(`${progress.rejected} refused`));
  return parts;
}

function id(text: string): string {
  return text;
}

/** `0:07`, `12:03`, `1:02:03`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (value: number) => String(value).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** `950`, `12.3k`, `4.5M`. */
export function formatCount(value: number): string {
  if (value < 1000) return String(Math.round(value));
  if (value < 1e6) return `${(value / 1e3).toFixed(1)}k`;
  return `${(value / 1e6).toFixed(1)}M`;
}

/** `$0.0123` below a dollar, `$12.34` above. */
export function formatCost(usd: number): string {
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** Items per second, or per minute when slower than one every ten seconds (slow local models). */
export function formatItemRate(rate: number): string {
  if (rate > 0 && rate < 0.1) return `${(rate * 60).toFixed(1)} items/min`;
  return `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)} items/s`;
}

const ANSI_STYLE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The characters of a line a terminal shows (ANSI styles left out). */
function visibleLength(line: string): number {
  return line.replaceAll(ANSI_STYLE, '').length;
}

/** Cuts a line with ANSI styles to `width` visible characters. */
function clipVisible(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let index = 0; index < line.length; index++) {
    const char = line[index] ?? '';
    if (char === '\u001b') {
      const end = line.indexOf('m', index);
      if (end !== -1) {
        out += line.slice(index, end + 1);
        index = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += char;
    visible += 1;
  }
  return out;
}
