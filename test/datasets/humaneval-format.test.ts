import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DatasetItemSchema } from '../../src/contracts/index.js';
import { detectFormat, detectRowFormat, humanEvalFormat, readItems } from '../../src/datasets/index.js';

// CI keeps shared/ beside the clone; never copy these files into the repo.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HUMANEVAL = path.resolve(repoRoot, '../shared/datasets/humaneval.jsonl.gz');

const row = {
  task_id: 'HumanEval/x',
  prompt: 'def add(a, b):\n    """Adds."""\n',
  canonical_solution: '    return a + b\n',
  test: 'def check(candidate):\n    assert candidate(1, 2) == 3\n',
  entry_point: 'add',
};

describe('--format humaneval', () => {
  it('makes an item whose one candidate is the complete program and whose meta carries tests and entry_point', () => {
    const result = humanEvalFormat.parse(row);
    if (!result.success) throw new Error(result.reason);
    expect(DatasetItemSchema.parse(result.item)).toEqual(result.item);
    expect(result.item.id).toBe('HumanEval/x');
    expect(result.item.candidates).toEqual([{ id: 'canonical', text: 'def add(a, b):\n    """Adds."""\n    return a + b\n' }]);
    expect(result.item.meta).toMatchObject({ source: 'humaneval', tests: row.test, entry_point: 'add', taskId: 'HumanEval/x' });
    expect(result.item.prompt).toContain('```python\ndef add(a, b):');
  });

  it.each([
    [{ ...row, entry_point: 'add(a)' }, 'entry_point'],
    [{ ...row, test: undefined }, 'test'],
    [{ ...row, canonical_solution: 3 }, 'canonical_solution'],
    [{ ...row, test: 'x'.repeat(100_001) }, 'test'],
  ])('rejects a bad row naming the field (%#)', (bad, field) => {
    const result = humanEvalFormat.parse(bad);
    expect(result).toMatchObject({ success: false, field });
  });

  it('is detected from the columns, and reads all 164 problems of the shared dataset', async () => {
    expect(detectRowFormat(row)).toBe('humaneval');
    expect((await detectFormat({ file: HUMANEVAL })).format).toBe('humaneval');
    const ids: string[] = [];
    for await (const result of readItems({ file: HUMANEVAL })) {
      if (result.kind !== 'item') throw new Error(`line ${result.line}: ${result.reason}`);
      expect(typeof result.item.meta.tests).toBe('string');
      ids.push(result.item.id);
    }
    expect(ids).toHaveLength(164);
    expect(ids[0]).toBe('HumanEval/0');
  });
});
