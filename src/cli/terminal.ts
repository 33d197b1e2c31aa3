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

/** Shortens text to one line of at most `max` characters. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
