import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type CandidatesRow, CandidatesRowSchema } from '../../src/contracts/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { REPO_ROOT, readJsonl, TINY_GGUF, tempDir, writeInput } from '../runner/fixtures.js';

describe('tribunal generate with a local GGUF model', () => {
  it('samples K free-text answers per prompt through node-llama-cpp, with token counts', async () => {
    const dir = tempDir('tribunal-generate-local-');
    const input = writeInput(
      dir,
      [
        { id: 'a', prompt: 'Say hello.' },
        { id: 'b', messages: [{ role: 'user', content: 'Count to three.' }] },
      ],
      'prompts.jsonl',
    );
    const out = path.join(dir, 'gen');
    const io = captureIo(REPO_ROOT);
    const code = await main(
      ['generate', input, '--policy', `local:${TINY_GGUF}`, '--n', '2', '--max-tokens', '8', '--out', out, '--json'],
      io,
    );
    expect(code, io.err()).toBe(0);
    const summary = JSON.parse(io.out()) as { totals: { done: number }; session: { usage: { calls: number } } };
    expect(summary.totals.done).toBe(2);
    expect(summary.session.usage.calls).toBe(4);
    const rows = readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl')).map((row) => CandidatesRowSchema.parse(row));
    expect(rows.map((row) => row.id)).toEqual(['a', 'b']);
    for (const row of rows) {
      expect(row.meta.generation.samples).toBe(2);
      for (const candidate of row.candidates) {
        expect(candidate.meta.tokens).toBeGreaterThan(0);
        expect(candidate.meta.tokens).toBeLessThanOrEqual(8);
        expect(candidate.meta).not.toHaveProperty('logprob');
      }
    }
  }, 120_000);
});
