import { describe, expect, it } from 'vitest';
import { extractPythonCode } from '../../src/sandbox/index.js';

describe('extractPythonCode', () => {
  it('joins python-tagged fenced blocks in order, ignoring prose and other languages', () => {
    const text =
      'First:\n```python\ndef f():\n    return 1\n```\nRun it:\n```bash\nrm -rf /\n```\nThen:\n```py\nprint(f())\n```\n';
    expect(extractPythonCode(text)).toEqual({ code: 'def f():\n    return 1\n\nprint(f())', source: 'fenced', blocks: 2 });
  });

  it('falls back to untagged blocks, then to the whole text of a code-only candidate', () => {
    expect(extractPythonCode('Answer:\n```\nx = 1\n```')).toEqual({ code: 'x = 1', source: 'fenced', blocks: 1 });
    expect(extractPythonCode('def f():\n    return 1\n')).toEqual({
      code: 'def f():\n    return 1\n',
      source: 'whole-text',
      blocks: 0,
    });
  });

  it('runs nothing when the only blocks are in another language', () => {
    expect(extractPythonCode('```text\nhello\n```\n```javascript\nx()\n```').code).toBe('');
  });

  it('handles tildes, longer fences containing shorter ones, CRLF and an unclosed fence', () => {
    expect(extractPythonCode('~~~python\na = 1\n~~~').code).toBe('a = 1');
    expect(extractPythonCode('````python\ns = """\n```\n"""\n````').code).toBe('s = """\n```\n"""');
    expect(extractPythonCode('```python\r\nb = 2\r\n```\r\n').code).toBe('b = 2');
    expect(extractPythonCode('Partial:\n```python\nc = 3\nd = 4').code).toBe('c = 3\nd = 4');
  });
});
