import type { Style } from './terminal.js';

/** Where a status line draws: a terminal (one line redrawn in place) or a pipe or file (a plain line now and then). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of the progress displays (`ProgressBar`, `TrainProgress`). */
export interface ProgressBarOptions {
  stream: ProgressStream;
  style: Style;
  /** Draw as a terminal (default: `stream.isTTY`). */
  tty?: boolean;
  /** Least time between two redraws on a terminal. Default 100 ms. */
  redrawMs?: number;
  /** Time between two plain lines off a terminal. Default 10 s. */
  lineMs?: number;
  /** Clock, replaceable in tests. */
  now?: () => number;
}

/** How a status line renders its state: on a terminal for `columns` columns, or as a plain line (none: skip it). */
export interface StatusLineRender<T> {
  terminal(state: T, columns: number | undefined): string;
  plain(state: T): string | undefined;
}

/**
 * The terminal mechanics both progress displays share: a state shown as one line redrawn in place on a terminal
 * (at most every `redrawMs`), or as a plain line every `lineMs` elsewhere; messages print above it; `finish` draws
 * the last state once more (off a terminal: unless already printed) and ends the line.
 */
export class StatusLine<T> {
  readonly tty: boolean;
  private readonly stream: ProgressStream;
  private readonly redrawMs: number;
  private readonly lineMs: number;
  private readonly now: () => number;
  private state: T | undefined;
  private printed: T | undefined;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(
    options: ProgressBarOptions,
    private readonly render: StatusLineRender<T>,
  ) {
    this.stream = options.stream;
    this.tty = options.tty ?? Boolean(options.stream.isTTY);
    this.redrawMs = options.redrawMs ?? 100;
    this.lineMs = options.lineMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** The last state given to `show`. */
  get current(): T | undefined {
    return this.state;
  }

  /** Takes a new state; draws it when `force` or enough time passed since the last drawing. */
  show(state: T, force = false): void {
    this.state = state;
    const now = this.now();
    if (!force && now - this.lastDraw < (this.tty ? this.redrawMs : this.lineMs)) return;
    if (this.draw(state)) this.lastDraw = now;
  }

  /** Prints a message line, above the status line on a terminal (which is then drawn again). */
  log(line: string): void {
    if (this.tty && this.drawn) {
      this.stream.write(`\r\u001b[2K${line}\n`);
      if (this.state !== undefined && this.draw(this.state)) this.lastDraw = this.now();
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Draws the last state once more (off a terminal: unless already printed), ends the line and forgets the state. */
  finish(): void {
    if (this.state !== undefined && (this.tty || this.printed !== this.state)) this.draw(this.state);
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
    this.state = undefined;
  }

  /** Draws `state`; false when its plain rendering is empty (nothing drawn). */
  private draw(state: T): boolean {
    if (this.tty) {
      this.stream.write(`\r\u001b[2K${this.render.terminal(state, this.stream.columns)}`);
      this.drawn = true;
      return true;
    }
    const line = this.render.plain(state);
    if (line === undefined) return false;
    this.stream.write(`${line}\n`);
    this.printed = state;
    return true;
  }
}
