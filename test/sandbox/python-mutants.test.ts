import { describe, expect, it } from 'vitest';
import { pythonMutants } from '../../src/sandbox/index.js';

const changes = (source: string) =>
  pythonMutants(source).map((mutant) => `${mutant.operator}:${mutant.from}->${mutant.to}@${mutant.line}`);

describe('pythonMutants', () => {
  it('swaps comparison, arithmetic and boolean operators and constants, one site at a time', () => {
    expect(changes('    if a < b and flag == True:\n        return a + b\n')).toEqual([
      'dropped-branch: a < b and flag == True-> False@1',
      'comparison-swap:<-><=@1',
      'boolean-swap:and->or@1',
      'comparison-swap:==->!=@1',
      'constant-swap:True->False@1',
      'arithmetic-swap:+->-@2',
    ]);
  });

  it('adds off-by-one changes to integer literals and drops `not`', () => {
    expect(changes('    return range(n - 1) if not x else 0\n')).toEqual([
      'arithmetic-swap:-->+@1',
      'off-by-one:1->2@1',
      'off-by-one:1->0@1',
      'dropped-not:not ->@1',
      'off-by-one:0->1@1',
    ]);
  });

  it('swaps mirrored calls only where they are called', () => {
    expect(changes('    return max(xs), s.lower(), min\n')).toEqual(['call-swap:max->min@1', 'call-swap:lower->upper@1']);
  });

  it('never mutates strings, comments, unary minus, star arguments or `is not`/`not in`', () => {
    const source =
      '    # a < b + 1\n    s = "x < y + 2" + f\'{a}\'\n    t = -1\n    f(*args)\n    return a is not None and b not in c\n';
    const all = changes(source);
    expect(all.some((change) => change.includes('@1'))).toBe(false);
    expect(all).not.toContain('arithmetic-swap:-->+@3');
    expect(all.filter((change) => change.includes('@4'))).toEqual([]);
    expect(all.filter((change) => change.startsWith('dropped-not'))).toEqual([]);
    for (const mutant of pythonMutants(source)) expect(mutant.source).not.toBe(source);
  });
});
