/** Minimal ANSI styling that switches off when the stream has no colours (NO_COLOR, pipes). */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  magenta(text: string): string;
}

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

/** Styles for a writable stream: colours only on a colour-capable TTY. */
export function styleFor(stream: NodeJS.WritableStream & { isTTY?: boolean; hasColors?: () => boolean }): Style {
  const enabled = Boolean(stream.isTTY && stream.hasColors?.());
  const plain = (text: string) => text;
  return enabled
    ? {
        bold: wrap(1, 22),
        dim: wrap(2, 22),
        red: wrap(31, 39),
        green: wrap(32, 39),
        yellow: wrap(33, 39),
        cyan: wrap(36, 39),
        magenta: wrap(35, 39),
      }
    : { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain, magenta: plain };
}

/** Renders rows as a left-aligned text table with a header rule. */
export function table(rows: string[][], style?: Style): string {
  const esc = String.fromCharCode(27);
  const visible = (text: string) => text.replaceAll(new RegExp(`${esc}\\[\\d+m`, 'g'), '').length;
  const widths: number[] = [];
  for (const row of rows) {
    for (const [index, cell] of row.entries()) widths[index] = Math.max(widths[index] ?? 0, visible(cell));
  }
  const line = (row: string[]) =>
    row
      .map((cell, index) => cell + ' '.repeat((widths[index] ?? 0) - visible(cell)))
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  const rule = widths.map((width) => '─'.repeat(width)).join('  ');
  return [style ? style.bold(line(header)) : line(header), rule, ...body.map(line)].join('\n');
}

// C0 controls but tab and newline, DEL, and C1 controls: what a terminal may act on.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** Bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069): they reorder the text around them. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/**
 * Untrusted text (prompts, candidates, model output, provider errors) made inert for a terminal: control characters
 * that could move the cursor, rewrite the line, set the title or start an escape sequence are shown as visible
 * symbols (ESC as ␛, CR as ␍, others from the Control Pictures block, C1 as �), and bidi controls as [U+202E] (they
 * would reorder what is shown, e.g. "gnp.exe" read as "exe.png"). Newlines and tabs stay.
 */
export function terminalSafe(text: string): string {
  return text
    .replace(CONTROL, (char) => {
      const code = char.charCodeAt(0);
      if (code < 0x20) return String.fromCharCode(0x2400 + code);
      return code === 0x7f ? '\u2421' : '\ufffd';
    })
    .replace(BIDI_CONTROLS, (char) => `[U+${char.charCodeAt(0).toString(16).toUpperCase()}]`);
}

/** Shortens untrusted text to one terminal-safe line of at most `max` characters. */
export function oneLine(text: string, max: number): string {
  const flat = terminalSafe(text.replace(/\s+/g, ' ').trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
