/** Where the code of a candidate came from: fenced blocks, or the whole text of a code-only candidate. */
export interface ExtractedCode {
  code: string;
  source: 'fenced' | 'whole-text';
  /** Fenced blocks joined (0 for whole text). */
  blocks: number;
}

const PYTHON_TAGS = new Set(['python', 'py', 'python3', 'py3']);
const FENCE = /^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*$/;

/**
 * The Python code of a candidate answer: its fenced blocks tagged `python`/`py` joined in order; failing those, its
 * untagged fenced blocks; failing those (no fence at all), the whole text, as for a code-only candidate. Blocks in
 * other languages (```bash, ```text, ```output) are never run. An unclosed fence runs to the end of the text.
 * @example extractPythonCode('Here:\n```python\nx = 1\n```').code // 'x = 1'
 */
export function extractPythonCode(text: string): ExtractedCode {
  const blocks: Array<{ tag: string; lines: string[] }> = [];
  let open: { fence: string; tag: string; lines: string[] } | undefined;
  for (const line of text.split(/\r?\n/)) {
    const fence = FENCE.exec(line);
    if (open === undefined) {
      if (fence !== null) open = { fence: fence[1] as string, tag: (fence[2] as string).toLowerCase(), lines: [] };
      continue;
    }
    const closing =
      fence !== null &&
      fence[2] === '' &&
      (fence[1] as string).startsWith(open.fence[0] as string) &&
      (fence[1] as string).length >= open.fence.length;
    if (closing) {
      blocks.push(open);
      open = undefined;
    } else {
      open.lines.push(line);
    }
  }
  if (open !== undefined) blocks.push(open);
  const python = blocks.filter((block) => PYTHON_TAGS.has(block.tag));
  const chosen = python.length > 0 ? python : blocks.filter((block) => block.tag === '');
  if (chosen.length > 0) {
    return { code: chosen.map((block) => block.lines.join('\n')).join('\n\n'), source: 'fenced', blocks: chosen.length };
  }
  if (blocks.length > 0) return { code: '', source: 'fenced', blocks: 0 };
  return { code: text, source: 'whole-text', blocks: 0 };
}
