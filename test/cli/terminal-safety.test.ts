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
