import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type CandidatesRow, CandidatesRowSchema } from '../../src/contracts/index.js';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { REPO_ROOT, readJsonl, tempDir, writeInput } from '../runner/fixtures.js';
import { syntheticPairs, writeJsonl } from '../trainer/trainer-fixtures.js';

/*
 * Generation through the real CLI process and the real Python worker (Debian's torch on CPU): the tiny policy's
 * samples, and kill -9 in the middle of a run, for both the worker path (tiny) and the call path (a slow fake policy).
 */

const BIN = path.join(REPO_ROOT, 'bin', 'tribunal.js');

function itemStates(out: string): Record<string, number> {
  const file = path.join(out, STORE_FILE_NAME);
  if (!existsSync(file)) return {};
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT state, count(*) AS n FROM items GROUP BY state').all() as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  } catch {
    return {};
  } finally {
    db?.close();
  }
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  atKill?: Record<string, number>;
}

/** Runs `tribunal generate`; with `killWhenDone`, SIGKILLs it once that many prompts are stored as done. */
function generate(args: string[], options: { killWhenDone?: number } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [BIN, 'generate', ...args, '--json'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '', OMP_NUM_THREADS: '1' },
    });
    let stdout = '';
    let stderr = '';
    let atKill: Record<string, number> | undefined;
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const out = args[args.indexOf('--out') + 1] ?? '';
    const watch =
      options.killWhenDone === undefined
        ? undefined
        : setInterval(() => {
            const states = itemStates(out);
            if ((states.done ?? 0) < (options.killWhenDone ?? 0)) return;
            clearInterval(watch);
            atKill = states;
            child.kill('SIGKILL');
          }, 5);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      resolve({ code, signal, stdout, stderr, ...(atKill ? { atKill } : {}) });
    });
  });
}

function prompts(dir: string, count: number): string {
  return writeInput(
    dir,
    Array.from({ length: count }, (_, index) => ({ id: `q${index}`, prompt: `Question ${index}: what is ${index} + ${index}?` })),
    'prompts.jsonl',
  );
}

describe('tribunal generate --policy tiny (the Python worker)', () => {
  it('samples K answers per prompt with token counts and log-probabilities, the same on a rerun elsewhere', async () => {
    const dir = tempDir('tribunal-generate-tiny-');
    const input = prompts(dir, 3);
    const args = (out: string) => [input, '--policy', 'tiny', '--n', '3', '--max-tokens', '12', '--device', 'cpu', '--out', out];
    const first = await generate(args(path.join(dir, 'a')));
    expect(first.code, first.stderr).toBe(0);
    const rows = readJsonl<CandidatesRow>(path.join(dir, 'a', 'candidates.jsonl')).map((row) => CandidatesRowSchema.parse(row));
    expect(rows.map((row) => row.id)).toEqual(['q0', 'q1', 'q2']);
    for (const row of rows) {
      expect(row.meta.generation.samples).toBe(3);
      for (const candidate of row.candidates) {
        expect(candidate.meta.tokens).toBeLessThanOrEqual(12);
        expect(candidate.meta.logprob).toBeLessThan(0);
        expect(candidate.model).toBe('tiny');
      }
    }
    const second = await generate(args(path.join(dir, 'b')));
    expect(second.code, second.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'b', 'candidates.jsonl'), 'utf8')).toBe(
      readFileSync(path.join(dir, 'a', 'candidates.jsonl'), 'utf8'),
    );
  });

  it('resumes after kill -9 with the same candidates.jsonl as an uninterrupted run', async () => {
    const dir = tempDir('tribunal-generate-crash-');
    const count = 40;
    const input = prompts(dir, count);
    const args = (out: string) => [input, '--policy', 'tiny', '--n', '4', '--max-tokens', '48', '--device', 'cpu', '--out', out];
    const clean = await generate(args(path.join(dir, 'clean')));
    expect(clean.code, clean.stderr).toBe(0);

    const crashed = path.join(dir, 'crashed');
    const killed = await generate(args(crashed), { killWhenDone: 3 });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(killed.atKill?.done ?? count).toBeLessThan(count);
    const resumed = await generate(args(crashed));
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout) as {
      opening: string;
      recovered: number;
      totals: { done: number; pending: number };
    };
    expect(summary.opening).toBe('resumed');
    expect(summary.recovered).toBeGreaterThan(0);
    expect(summary.totals).toMatchObject({ done: count, pending: 0 });
    expect(readFileSync(path.join(crashed, 'candidates.jsonl'), 'utf8')).toBe(
      readFileSync(path.join(dir, 'clean', 'candidates.jsonl'), 'utf8'),
    );
  }, 120_000);
});

describe('tribunal generate --policy checkpoint:DIR', () => {
  it('samples the latest checkpoint of a tribunal train dpo run (full and LoRA), rebuilt from its config', async () => {
    const dir = tempDir('tribunal-generate-checkpoint-');
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const input = prompts(dir, 2);
    const train = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'train', 'dpo', '--pairs', 'pairs.jsonl', '--model', 'tiny', ...args], {
          cwd: dir,
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, OMP_NUM_THREADS: '1' },
        });
        let stderr = '';
        child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const sample = async (policy: string, out: string, extra: string[] = []) => {
      const run = await generate([
        input,
        '--policy',
        policy,
        '--n',
        '2',
        '--max-tokens',
        '8',
        '--temperature',
        '0',
        '--device',
        'cpu',
        '--out',
        out,
        ...extra,
      ]);
      expect(run.code, run.stderr).toBe(0);
      return readJsonl<CandidatesRow>(path.join(out, 'candidates.jsonl'));
    };
    const full = await train(['--steps', '3', '--lr', '0.05', '--gpus', '0', '--out', 'full']);
    expect(full.code, full.stderr).toBe(0);
    const lora = await train(['--steps', '3', '--lr', '0.05', '--lora', '4', '--gpus', '0', '--out', 'lora']);
    expect(lora.code, lora.stderr).toBe(0);

    const initial = await sample('tiny', path.join(dir, 'g-initial'));
    const trained = await sample(`checkpoint:${path.join(dir, 'full')}`, path.join(dir, 'g-full'));
    const adapted = await sample(`checkpoint:${path.join(dir, 'lora')}`, path.join(dir, 'g-lora'));
    const logprobs = (rows: CandidatesRow[]) => rows.map((row) => row.candidates[0]?.meta.logprob);
    // greedy samples: the trained weights score them differently from the initial model the runs started from
    expect(logprobs(trained)).not.toEqual(logprobs(initial));
    expect(logprobs(adapted)).not.toEqual(logprobs(initial));
    expect(trained[0]?.candidates[0]?.meta.policy).toBe(`checkpoint:${path.join(dir, 'full')}`);

    // --reference scores each sample under the initial policy too: what a KL estimate between the two needs
    const scored = await sample(`checkpoint:${path.join(dir, 'full')}`, path.join(dir, 'g-ref'), ['--reference', 'tiny']);
    const [candidate] = scored[0]?.candidates ?? [];
    expect(candidate?.meta.logprob).toBeCloseTo(trained[0]?.candidates[0]?.meta.logprob ?? 0, 6);
    expect(candidate?.meta.refLogprob).toEqual(expect.any(Number));
    expect(candidate?.meta.refLogprob).not.toBeCloseTo(candidate?.meta.logprob ?? 0, 3);
    const self = await sample('tiny', path.join(dir, 'g-self'), ['--reference', 'tiny']);
    for (const row of self) {
      for (const entry of row.candidates) expect(entry.meta.refLogprob).toBeCloseTo(entry.meta.logprob ?? 0, 3);
    }

    // a directory that is not a training run is refused, naming it
    const rm = await generate([input, '--policy', `checkpoint:${dir}`, '--n', '1', '--out', path.join(dir, 'g-none')]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain('not a training run');
  }, 180_000);
});

describe('tribunal generate with an API-style policy after kill -9', () => {
  it('keeps the sampled prompts, samples the rest once, and ends with the uninterrupted file', async () => {
    const dir = tempDir('tribunal-generate-crash-');
    const count = 16;
    const input = prompts(dir, count);
    // latency keeps several prompts in flight, so the kill lands while some are claimed and not yet stored
    const args = (out: string) => [input, '--policy', 'fake:policy?latencyMs=60', '--n', '3', '--concurrency', '4', '--out', out];
    const clean = await generate(args(path.join(dir, 'clean')));
    expect(clean.code, clean.stderr).toBe(0);
    const crashed = path.join(dir, 'crashed');
    const killed = await generate(args(crashed), { killWhenDone: 4 });
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.atKill?.running ?? 0).toBeGreaterThan(0);
    const resumed = await generate(args(crashed));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ opening: 'resumed', totals: { done: count } });
    expect(readFileSync(path.join(crashed, 'candidates.jsonl'), 'utf8')).toBe(
      readFileSync(path.join(dir, 'clean', 'candidates.jsonl'), 'utf8'),
    );
  }, 60_000);
});
