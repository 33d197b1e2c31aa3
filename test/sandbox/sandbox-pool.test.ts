import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionResultSchema, TribunalError } from '../../src/contracts/index.js';
import { createSandboxPool, passRate, type SandboxPool } from '../../src/sandbox/index.js';

/* What a run returns (per-test results, errors, output) and how the pool reuses interpreters. One pool for the file. */

let pool: SandboxPool;

beforeAll(async () => {
  // Two interpreters: while one reloads after a tainting run, the other serves the next test.
  pool = createSandboxPool({ size: 2, timeoutMs: 5000 });
  await pool.warm();
});

afterAll(async () => {
  await pool?.close();
});

const ADD = 'def add(a, b):\n    """Adds."""\n    return a + b\n';
const ADD_TESTS = [
  'METADATA = {}',
  '',
  'def check(candidate):',
  '    assert candidate(1, 2) == 3',
  '    assert candidate(2, 2) == 5, "two and two"',
  '    values = [(0, 0), (5, 5)]',
  '    for a, b in values:',
  '        assert candidate(a, b) == a + b',
  '    assert candidate("a", 1) == "a1"',
].join('\n');

describe('runPython', () => {
  it('counts each top-level assert of check(candidate) as a test, with the first error and its traceback', async () => {
    const result = await pool.runPython({ code: ADD, tests: ADD_TESTS, entryPoint: 'add' });
    expect(ExecutionResultSchema.parse(result)).toEqual(result);
    expect(result.status).toBe('failed');
    expect(result.tests.map((test) => [test.line, test.passed])).toEqual([
      [4, true],
      [5, false],
      [7, true],
      [9, false],
    ]);
    expect(result.tests[1]?.error).toMatchObject({ type: 'AssertionError', message: 'two and two', line: 5, where: 'tests' });
    expect(result.error?.traceback).toContain('File "<tests>", line 5');
    expect(result.tests[3]?.error?.type).toBe('TypeError');
    expect(result.tests[3]?.error?.traceback).toContain('File "<candidate>", line 3, in add');
    expect(passRate(result)).toBe(0.5);
  });

  it('passes when every test passes, and captures stdout and stderr', async () => {
    const result = await pool.runPython({
      code: `import sys\nprint("out")\nprint("err", file=sys.stderr)\n${ADD}`,
      tests: 'def check(f):\n    assert f(1, 1) == 2\n    assert f(0, 0) == 0',
      entryPoint: 'add',
    });
    expect(result.status).toBe('passed');
    expect(result.tests).toHaveLength(2);
    expect(result.stdout).toEqual({ text: 'out\n', bytes: 4, truncated: false });
    expect(result.stderr.text).toBe('err\n');
    expect(passRate(result)).toBe(1);
  });

  it('runs top-level asserts as tests when there is no check function (MBPP style)', async () => {
    const result = await pool.runPython({ code: ADD, tests: 'assert add(1, 1) == 2\nx = 3\nassert add(x, 1) == 5' });
    expect(result.tests.map((test) => test.passed)).toEqual([true, false]);
    expect(result.status).toBe('failed');
  });

  it('counts tests without a top-level assert as one test, and refuses check(candidate) without an entry point', async () => {
    const helper = 'def expect_equal(a, b):\n    if a != b:\n        raise AssertionError(f"{a} != {b}")\n';
    const whole = await pool.runPython({
      code: ADD,
      tests: `${helper}\ndef check(c):\n    expect_equal(c(1, 1), 2)\n    expect_equal(c(1, 2), 4)`,
      entryPoint: 'add',
    });
    expect(whole.tests).toHaveLength(1);
    expect(whole).toMatchObject({ status: 'failed', error: { type: 'AssertionError', message: '3 != 4' } });
    const noEntry = await pool.runPython({ code: ADD, tests: ADD_TESTS });
    expect(noEntry).toMatchObject({ status: 'error', error: { type: 'ValueError', where: 'tests' } });
  });

  it('reports a candidate that does not load as `error`, naming where', async () => {
    const syntax = await pool.runPython({ code: 'def add(a, b)\n    return a', tests: ADD_TESTS, entryPoint: 'add' });
    expect(syntax).toMatchObject({ status: 'error', tests: [], error: { type: 'SyntaxError', where: 'candidate' } });
    const missing = await pool.runPython({ code: 'def plus(a, b):\n    return a + b', tests: ADD_TESTS, entryPoint: 'add' });
    expect(missing).toMatchObject({ status: 'error', error: { type: 'NameError', where: 'candidate' } });
    const raises = await pool.runPython({ code: 'raise ValueError("at import")', tests: ADD_TESTS, entryPoint: 'add' });
    expect(raises.error).toMatchObject({ type: 'ValueError', message: 'at import', line: 1, file: '<candidate>' });
    const badTests = await pool.runPython({ code: ADD, tests: 'def check(c:\n', entryPoint: 'add' });
    expect(badTests).toMatchObject({ status: 'error', error: { type: 'SyntaxError', where: 'tests' } });
  });

  it('a test setup statement that fails marks the remaining tests as not run', async () => {
    const result = await pool.runPython({
      code: ADD,
      tests: 'def check(c):\n    assert c(1, 1) == 2\n    data = 1 / 0\n    assert c(data, 1) == 2',
      entryPoint: 'add',
    });
    expect(result.status).toBe('failed');
    expect(result.tests.map((test) => [test.passed, test.error?.type])).toEqual([
      [true, undefined],
      [false, 'NotRun'],
    ]);
    expect(result.error?.type).toBe('ZeroDivisionError');
  });

  it('a program without tests passes when it runs to the end', async () => {
    expect((await pool.runPython({ code: 'x = 1' })).status).toBe('passed');
    expect((await pool.runPython({ code: 'assert False' })).status).toBe('error');
  });

  it('refuses malformed requests before they reach a worker', async () => {
    await expect(pool.runPython({ code: 'x = 1', entryPoint: 'not an identifier' })).rejects.toThrow(TribunalError);
    await expect(pool.runPython({ code: 'x'.repeat(300_000) })).rejects.toThrow(/over the limit of 200000/);
  });

  it('rejects with ABORTED when the signal fires, and the pool keeps working', async () => {
    const controller = new AbortController();
    const running = pool.runPython({ code: 'while True:\n    pass', signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(running).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await pool.runPython({ code: 'print(1)' })).stdout.text).toBe('1\n');
  });
});

describe('interpreter reuse', () => {
  it('reuses the interpreter after a clean run: fresh globals, no recycle', async () => {
    const before = pool.stats().recycled;
    await pool.runPython({ code: 'leaked = 1\nimport json\nimport collections' });
    const next = await pool.runPython({ code: 'print("leaked" in globals())' });
    expect(next.stdout.text).toBe('False\n');
    expect(pool.stats().recycled).toBe(before);
  });

  it.each([
    ['a monkey-patched module', 'import math\nmath.sqrt = lambda x: -1', 'import math\nprint(math.sqrt(4))', '2.0\n', true],
    [
      'a patched class',
      'import json\njson.JSONDecoder.decode = lambda *a: 1',
      'import json\nprint(json.loads("2"))',
      '2\n',
      true,
    ],
    ['a modified builtin', 'import builtins\nbuiltins.len = lambda x: 42', 'print(len([1]))', '1\n', true],
    [
      'a written file',
      'open("/home/pyodide/state.txt", "w").write("x")',
      'import os\nprint(os.path.exists("/home/pyodide/state.txt"))',
      'False\n',
      true,
    ],
    ['sys state', 'import sys\nsys.setrecursionlimit(50)', 'import sys\nprint(sys.getrecursionlimit() > 50)', 'True\n', true],
    ['an environment variable', 'import os\nos.environ["LEAK"] = "1"', 'import os\nprint("LEAK" in os.environ)', 'False\n', true],
    // A module first imported by the run is dropped from sys.modules instead: the next run imports it afresh.
    [
      'a newly imported module',
      'import fractions\nfractions.Fraction.leak = 1',
      'import fractions\nprint(hasattr(fractions.Fraction, "leak"))',
      'False\n',
      false,
    ],
  ])('does not leak %s into the next run', async (_name, taint, check, expected, recycles) => {
    const before = pool.stats().recycled;
    await pool.runPython({ code: taint });
    expect(pool.stats().recycled).toBe(recycles ? before + 1 : before);
    const next = await pool.runPython({ code: check });
    expect(next.stdout.text).toBe(expected);
  });

  it('recycle: always starts a fresh interpreter after every run', async () => {
    const always = createSandboxPool({ size: 1, recycle: 'always' });
    try {
      await always.runPython({ code: 'x = 1' });
      await always.runPython({ code: 'x = 2' });
      expect(always.stats()).toMatchObject({ runs: 2, recycled: 2, lastRecycle: 'recycle: always' });
    } finally {
      await always.close();
    }
  });

  it('close() rejects queued runs with ABORTED', async () => {
    const closing = createSandboxPool({ size: 1 });
    const queued = expect(closing.runPython({ code: 'x = 1' })).rejects.toMatchObject({ code: 'ABORTED' });
    await closing.close();
    await queued;
  });

  it('refuses invalid options', () => {
    expect(() => createSandboxPool({ size: 0 })).toThrow(/size must be a positive integer/);
    expect(() => createSandboxPool({ outputLimitBytes: 2_000_000 })).toThrow(
      /outputLimitBytes must be a positive integer within/,
    );
    expect(() => createSandboxPool({ hostMemoryMb: 0 })).toThrow(/hostMemoryMb must be a positive integer/);
  });
});
