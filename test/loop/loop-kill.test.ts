import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { STORE_FILE_NAME } from '../../src/store/index.js';
import { REPO_ROOT, tempDir } from '../runner/fixtures.js';
import { MARKER, writePrompts } from './planted.js';

/*
 * kill -9 of the whole `tribunal loop` process (the real CLI, the real Python worker) inside generation, between two
 * stages and inside training; each time the same command runs again. The resumed loop must end with exactly the
 * report of an uninterrupted loop (paths aside): nothing lost, nothing counted twice, every number the same.
 */

const BIN = path.join(REPO_ROOT, 'bin', 'tribunal.js');

function loopArgs(prompts: string, out: string): string[] {
  return [
    BIN,
    'loop',
    '--prompts',
    prompts,
    '--policy',
    'tiny?seed=3',
    '--iterations',
    '2',
    '--out',
    out,
    '--model',
    `fake:judge?prefer=${MARKER}`,
    '--n',
    '3',
    '--held-out',
    '4',
    '--eval-samples',
    '2',
    '--max-tokens',
    '16',
    '--epochs',
    '3',
    '--save-steps',
    '1',
    '--batch-size',
    '2',
    '--device',
    'cpu',
    '--gpus',
    '0',
    '--seed',
    '3',
    '--pair-smoothing',
    'consensus-probability',
  ];
}

/** Runs the loop; SIGKILLs it as soon as `killWhen` holds (polled every 5 ms). */
function runLoop(
  args: string[],
  killWhen?: () => boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', TRIBUNAL_MODEL: '', OMP_NUM_THREADS: '1' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const watch = killWhen
      ? setInterval(() => {
          if (!killWhen()) return;
          clearInterval(watch);
          child.kill('SIGKILL');
        }, 5)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      resolve({ code, signal, stderr });
    });
  });
}

function doneItems(dir: string): number {
  const file = path.join(dir, STORE_FILE_NAME);
  if (!existsSync(file)) return 0;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return (db.prepare("SELECT count(*) AS n FROM items WHERE state = 'done'").get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}

function completedStages(out: string): string[] {
  try {
    return (JSON.parse(readFileSync(path.join(out, 'loop.json'), 'utf8')) as { completed: string[] }).completed;
  } catch {
    return [];
  }
}

/** The highest step with a complete checkpoint in a training run directory (0 for none). */
function checkpointStep(dir: string): number {
  try {
    const root = path.join(dir, 'checkpoints');
    const steps = readdirSync(root)
      .filter((name) => /^step-\d+$/.test(name) && existsSync(path.join(root, name, 'trainer_state.json')))
      .map((name) => Number(name.slice('step-'.length)));
    return Math.max(0, ...steps);
  } catch {
    return 0;
  }
}

/** report.json without what differs between two loop directories. */
function normalizedReport(out: string): unknown {
  const text = readFileSync(path.join(out, 'report.json'), 'utf8').split(out).join('<OUT>');
  const report = JSON.parse(text) as { prompts: { file?: string } };
  delete report.prompts.file;
  return report;
}

describe('tribunal loop under kill -9', () => {
  it('resumes after kills inside generation, between stages and inside training, and ends with the uninterrupted report', async () => {
    const dir = tempDir('tribunal-loop-kill-');
    const prompts = await writePrompts(path.join(dir, 'prompts.jsonl'), 16);
    const straight = path.join(dir, 'straight');
    const first = await runLoop(loopArgs(prompts, straight));
    expect(first.stderr).not.toMatch(/Error|Traceback/);
    expect(first.code).toBe(0);

    const killed = path.join(dir, 'killed');
    const args = loopArgs(prompts, killed);
    const kills: Array<{ where: string; when: () => boolean }> = [
      // inside iteration 0's generation: some prompts sampled, the stage not finished
      {
        where: 'generate',
        when: () => doneItems(path.join(killed, 'iter-0')) >= 2 && !completedStages(killed).includes('iter-0/generate'),
      },
      // between stages: labeling finished and recorded, training not started
      { where: 'after label', when: () => completedStages(killed).includes('iter-0/label') },
      // inside iteration 1's training: a checkpoint written, training not finished
      {
        where: 'train',
        when: () =>
          checkpointStep(path.join(killed, 'iter-1', 'train')) >= 2 && !completedStages(killed).includes('iter-1/train'),
      },
    ];
    for (const kill of kills) {
      const outcome = await runLoop(args, kill.when);
      expect(outcome.signal, `the kill ${kill.where} happened (stderr: ${outcome.stderr.slice(-500)})`).toBe('SIGKILL');
    }
    const last = await runLoop(args);
    expect(last.stderr).not.toMatch(/Traceback/);
    expect(last.code, last.stderr.slice(-2000)).toBe(0);
    expect(last.stderr).toMatch(/setup: split already done/);
    expect(last.stderr).toMatch(/iteration 1: label already done/);

    expect(normalizedReport(killed)).toEqual(normalizedReport(straight));
    const report = JSON.parse(readFileSync(path.join(killed, 'report.json'), 'utf8')) as {
      status: string;
      iterations: { pairs: number; samples: number }[];
    };
    expect(report.status).toBe('done');
    expect(report.iterations).toHaveLength(2);
    // 12 train prompts × 3 samples each: every prompt sampled exactly once after the kill inside generation.
    expect(report.iterations[0]?.samples).toBe(36);
    // --pair-smoothing turned on the uncertainty columns and reached the trainer
    const config = JSON.parse(readFileSync(path.join(killed, 'iter-0', 'train', 'config.json'), 'utf8')) as {
      data: { pair_label_smoothing?: string };
    };
    expect(config.data.pair_label_smoothing).toBe('consensus_probability');
    const firstPair = JSON.parse(readFileSync(path.join(killed, 'iter-0', 'train-pairs.jsonl'), 'utf8').split('\n')[0] as string);
    expect(firstPair).toHaveProperty('consensus_probability');
  }, 300_000);
});
