import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPanel, withoutTools } from '../../src/config/index.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('withoutTools (tribunal eval --without-tools)', () => {
  it('leaves verifiers out, takes tools from model critics and changes the hash', async () => {
    const code = await loadPanel({ file: path.join(REPO, 'panels/code.yaml') });
    const ablation = withoutTools(code);
    expect(ablation.dropped).toEqual(['code-tests']);
    expect(ablation.panel.critics.map((critic) => critic.id)).toEqual(['efficiency']);
    expect(ablation.panel.hash).not.toBe(code.hash);
    // the original is untouched
    expect(code.critics.map((critic) => critic.id)).toEqual(['code-tests', 'efficiency']);

    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-without-tools-'));
    writeFileSync(
      path.join(dir, 'runner.md'),
      [
        '---',
        'id: runner',
        'name: Runner',
        'description: reads its own runs',
        'focus: correctness',
        'principles: [helpful]',
        'tools: [run-python]',
        'rubric:',
        '  "1": broken',
        '  "10": works',
        '---',
        'Judge the code by its run.',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'p.yaml'), 'id: p\nname: P\npersonas:\n  - ./runner.md\n  - efficiency\n');
    const withTool = await loadPanel({ file: path.join(dir, 'p.yaml') });
    expect(withTool.critics[0]?.tools).toEqual(['run-python']);
    const stripped = withoutTools(withTool);
    expect(stripped.stripped).toEqual(['runner']);
    expect(stripped.dropped).toEqual([]);
    expect(stripped.panel.critics.every((critic) => critic.tools === undefined)).toBe(true);
  });

  it('refuses a panel of verifiers alone', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tribunal-without-tools-'));
    writeFileSync(path.join(dir, 'p.yaml'), 'id: tests-only\nname: T\npersonas:\n  - code-tests\n');
    const panel = await loadPanel({ file: path.join(dir, 'p.yaml') });
    expect(() => withoutTools(panel)).toThrow(/every critic of panel "tests-only" is a verifier \(code-tests\)/);
  });
});
