import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { oneLine, terminalSafe } from '../../src/cli/terminal.js';
import { captureIo } from '../fakes/cli-io.js';

describe('untrusted text on the terminal', () => {
  it('shows control characters as visible symbols and keeps newlines and tabs', () => {
    expect(terminalSafe('a\u001b]0;title\u0007b\r\nc\td\u007f\u009b')).toBe('a␛]0;title␇b␍\nc\td\u2421\ufffd');
    expect(terminalSafe('plain — text é')).toBe('plain — text é');
    expect(oneLine('x\u001b[2J\n y', 20)).toBe('x␛[2J y');
  });

  it('shows bidi overrides and isolates as [U+XXXX], so a reversed file name reads as it is (as the viewer does)', () => {
    // U+202E would show "invoice\u202Egnp.exe" as "invoiceexe.png"
    expect(terminalSafe('invoice\u202egnp.exe')).toBe('invoice[U+202E]gnp.exe');
    expect(terminalSafe('a\u202ab\u202bc\u202cd\u202de\u2066f\u2067g\u2068h\u2069')).toBe(
      'a[U+202A]b[U+202B]c[U+202C]d[U+202D]e[U+2066]f[U+2067]g[U+2068]h[U+2069]',
    );
    expect(oneLine('x\u202ey', 20)).toBe('x[U+202E]y');
  });

  it('a debate transcript never passes an escape sequence from a prompt or candidate to the terminal', async () => {
    const io = captureIo(process.cwd());
    const code = await main(
      [
        'debate',
        '--prompt',
        'Set the title\u001b]0;pwned\u0007 please',
        '--candidate',
        'clear\u001b[2J\u001b[H screen',
        '--candidate',
        'fine',
        '--model',
        'fake:judge',
        '--max-rounds',
        '0',
      ],
      io,
    );
    expect(code, io.err()).toBe(0);
    // captureIo is not a terminal: no styling, so any ESC on stdout would have come from the input
    expect(io.out()).not.toContain('\u001b');
    expect(io.out()).toContain('Set the title␛]0;pwned␇ please');
    expect(io.out()).toContain('clear␛[2J␛[H screen');
  });
});
