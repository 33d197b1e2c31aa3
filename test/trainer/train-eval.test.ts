import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  confidentMistakes,
  lengthBaselineLine,
  lengthBaselines,
  longerAnswerBaseline,
  renderEvalReport,
  shorterAnswerBaseline,
} from '../../src/cli/commands/train-eval.js';
import { main } from '../../src/cli/main.js';
import { styleFor } from '../../src/cli/terminal.js';
import { type HeldOutMetrics, PredictionRowSchema, TrainerEventSchema } from '../../src/contracts/index.js';
import { buildEvalConfig, pickCheckpoint, readTrainingRun } from '../../src/trainer/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { requireTorch, syntheticPairs, temporaryDirectory, writeJsonl } from './trainer-fixtures.js';

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').trim().split('\n');
}

/** Trains `task` for 4 steps on 64 synthetic pairs in `dir/run` and returns the final held-out metrics it reported. */
async function train(dir: string, task: 'rm' | 'dpo'): Promise<HeldOutMetrics> {
  writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(64));
  const io = captureIo(dir);
  expect(await main(['train', task, '--pairs', 'pairs.jsonl', '--steps', '4', '--out', 'run', '--json'], io), io.err()).toBe(0);
  const done = TrainerEventSchema.parse(JSON.parse(io.out().trim().split('\n').at(-1) ?? ''));
  if (done.type !== 'done' || !done.eval) throw new Error(`no held-out metrics in ${io.out()}`);
  return done.eval;
}

describe('tribunal train eval', () => {
  beforeAll(requireTorch);

  it.each(['rm', 'dpo'] as const)(
    '%s: re-evaluating the latest checkpoint on the run’s own held-out split reproduces its final metrics, and leaves the run untouched',
    async (task) => {
      const dir = temporaryDirectory();
      const trained = await train(dir, task);
      const runDir = path.join(dir, 'run');
      const configBefore = readFileSync(path.join(runDir, 'config.json'), 'utf8');
      const eventsBefore = lines(path.join(runDir, 'events.jsonl')).length;

      const io = captureIo(dir);
      expect(await main(['train', 'eval', '--run', 'run'], io), io.err()).toBe(0);
      const evalDir = path.join(runDir, 'evals', 'held-out-step-4');
      const summary = readJson(path.join(evalDir, 'metrics.json'));
      expect(summary).toMatchObject({ task, step: 4, checkpoint: path.join(runDir, 'checkpoints', 'step-00000004') });
      const metrics = summary.metrics as HeldOutMetrics;
      expect(metrics.pairs).toBe(trained.pairs);
      for (const key of ['accuracy', 'ece', 'brier', 'loss', 'count/chosen_longer'] as const) {
        expect(metrics[key]).toBeCloseTo(trained[key] as number, 6);
      }
      expect(io.out()).toContain(`${task === 'rm' ? 'Reward model' : 'DPO policy'}, step 4, on held-out split of`);
      expect(io.out()).toMatch(
        /Always picking the longer answer scores \d+\.\d% on these pairs, the shorter \d+\.\d%; the model is \d+\.\d points (above|below) the better of the two \((longer|shorter)\)\./,
      );

      // every held-out pair with its scores, and the report's most confident mistakes drawn from them
      const predictions = lines(path.join(evalDir, 'predictions.jsonl')).map((line) =>
        PredictionRowSchema.parse(JSON.parse(line)),
      );
      expect(summary.predictions).toBe(path.join(evalDir, 'predictions.jsonl'));
      expect(predictions).toHaveLength(metrics.pairs);
      expect(predictions.filter((row) => row.correct).length / metrics.pairs).toBeCloseTo(metrics.accuracy as number, 12);
      const wrong = predictions.filter((row) => !row.correct && !row.tie);
      if (wrong.length > 0) {
        const worst = wrong.reduce((a, b) => ((a.margin ?? 0) <= (b.margin ?? 0) ? a : b));
        expect(io.out()).toContain(`Most confident mistakes (${Math.min(3, wrong.length)} of ${wrong.length} wrong)`);
        expect(io.out()).toContain(`margin ${(worst.margin ?? 0).toFixed(3)} · pairs.jsonl:${worst.line}`);
      } else {
        expect(io.out()).not.toContain('Most confident mistakes');
      }

      expect(readFileSync(path.join(runDir, 'config.json'), 'utf8')).toBe(configBefore);
      expect(lines(path.join(runDir, 'events.jsonl'))).toHaveLength(eventsBefore);
      const evalEvents = lines(path.join(evalDir, 'events.jsonl')).map((line) => TrainerEventSchema.parse(JSON.parse(line)));
      // DPO first computes its reference log-probs, with progress events
      const progress = evalEvents.filter((event) => event.type === 'progress').length;
      expect(progress > 0).toBe(task === 'dpo');
      expect(evalEvents.slice(progress).map((event) => event.type)).toEqual(['start', 'eval', 'done']);

      // a rerun replaces the evaluation instead of appending a second one to its events
      expect(await main(['train', 'eval', '--run', 'run'], captureIo(dir))).toBe(0);
      expect(lines(path.join(evalDir, 'events.jsonl'))).toHaveLength(evalEvents.length);
    },
  );

  it('evaluates the untrained model on other pairs as a baseline: every pair a tie', async () => {
    const dir = temporaryDirectory();
    await train(dir, 'dpo');
    writeJsonl(path.join(dir, 'human.jsonl'), syntheticPairs(40, 7));
    const io = captureIo(dir);
    const code = await main(
      ['train', 'eval', '--run', 'run', '--pairs', 'human.jsonl', '--checkpoint', 'initial', '--max-pairs', '30'],
      io,
    );
    expect(code, io.err()).toBe(0);
    const summary = readJson(path.join(dir, 'run', 'evals', 'human-initial', 'metrics.json'));
    const metrics = summary.metrics as HeldOutMetrics;
    // the initial policy is DPO's reference: every implicit reward margin is exactly 0
    expect(metrics).toMatchObject({ pairs: 30, ties: 30, accuracy: 0, mean_margin: 0 });
    expect(summary).toMatchObject({ checkpoint: null, step: 0, pairs: path.join(dir, 'human.jsonl') });
    expect(summary.longerAnswerBaseline).toBeCloseTo(longerAnswerBaseline(metrics) ?? Number.NaN, 12);
    expect(io.out()).toContain('DPO policy, untrained (initial weights), on');
    expect(io.out()).toMatch(/^ties +30 of 30 +both answers scored the same; wrong in accuracy, p = 0.5 in ECE/m);
  });

  it("names the run's own --eval file, not a held-out split, when the run was trained with one", async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    // 3 of the 15 held-out pairs have an answer longer than --max-length: the default policy drops them, and says so
    const long = { prompt: 'Q: long?\nA:', chosen: ` ${'x'.repeat(120)}##`, rejected: ' no' };
    const evalFile = writeJsonl(path.join(dir, 'human.jsonl'), [...syntheticPairs(12, 9), long, long, long]);
    const trained = captureIo(dir);
    const args = ['train', 'rm', '--pairs', 'pairs.jsonl', '--eval', 'human.jsonl', '--max-length', '96', '--steps', '2'];
    expect(await main([...args, '--out', 'run'], trained), trained.err()).toBe(0);
    expect(trained.out()).toContain('Of the held-out pairs read: 3 of 15 pairs dropped as longer than --max-length');
    const io = captureIo(dir);
    expect(await main(['train', 'eval', '--run', 'run'], io), io.err()).toBe(0);
    expect(io.out()).toContain(`Reward model, step 2, on ${evalFile} (the run's --eval file)`);
    expect(io.out()).toContain('Of the pairs read: 3 of 15 pairs dropped as longer than --max-length (truncation keep_answers).');
    expect(io.out()).not.toContain('held-out split of');
    const summary = readJson(path.join(dir, 'run', 'evals', 'held-out-step-2', 'metrics.json'));
    expect(summary.pairs).toBe(`${evalFile} (the run's --eval file)`);
    expect((summary.metrics as HeldOutMetrics).pairs).toBe(12);
    expect(summary.data).toMatchObject({ policy: 'keep_answers', pairs: 12, dropped: 3, answer_cut: 0 });

    // keep-end keeps them, cutting the answers' beginnings
    const kept = captureIo(dir);
    expect(await main([...args, '--truncation', 'keep-end', '--out', 'kept'], kept), kept.err()).toBe(0);
    expect(kept.out()).toContain('Held-out evaluation (15 pairs)');
    expect(kept.out()).toContain('Of the held-out pairs read: 3 with an answer cut');
  });

  it('says what is wrong with the run, the checkpoint or the flags', async () => {
    const dir = temporaryDirectory();
    const missing = captureIo(dir);
    expect(await main(['train', 'eval', '--run', 'nope'], missing)).toBe(1);
    expect(missing.err()).toContain(
      `${path.join(dir, 'nope')} is not a directory: give the --out folder of a "tribunal train rm|dpo" run`,
    );

    const notARun = captureIo(dir);
    expect(await main(['train', 'eval', '--run', '.'], notARun)).toBe(1);
    expect(notARun.err()).toContain('is not a training run (no config.json)');

    expect(await main(['train', 'eval'], captureIo(dir))).toBe(2);
  });

  it('picks checkpoints by step, latest or initial, and refuses what is not one', async () => {
    const dir = temporaryDirectory();
    await train(dir, 'rm');
    const run = await readTrainingRun(path.join(dir, 'run'));
    expect(run.checkpoints.map((checkpoint) => checkpoint.step)).toEqual([4]);
    expect(await pickCheckpoint(run)).toEqual(run.checkpoints[0]);
    expect(await pickCheckpoint(run, '4')).toEqual(run.checkpoints[0]);
    expect(await pickCheckpoint(run, 'initial')).toBeNull();
    await expect(pickCheckpoint(run, '3')).rejects.toThrow('has no checkpoint at step 3; it has steps 4');
    await expect(pickCheckpoint(run, dir)).rejects.toThrow('is not a complete checkpoint (no trainer_state.json)');

    expect(() => buildEvalConfig({ run, maxPairs: 5 })).toThrow('--max-pairs applies to --pairs only');
    const config = buildEvalConfig({ run, pairs: path.join(dir, 'other.jsonl'), maxPairs: 5, gpus: 0 });
    expect(config).toMatchObject({ task: 'rm', device: 'cpu', data: { eval: path.join(dir, 'other.jsonl'), max_rows: 5 } });
    expect(config.data.eval_fraction).toBeUndefined();
    expect(config).not.toHaveProperty('run_dir');
    expect(config).not.toHaveProperty('resume');
  });
});

describe('length baselines', () => {
  it('are the shares of pairs whose chosen answer is the longer (or the shorter) one, same length counted half', () => {
    const metrics = { pairs: 10, loss: 0.7, 'count/chosen_longer': 6, 'count/chosen_shorter': 2, 'count/same_length': 2 };
    expect(longerAnswerBaseline(metrics)).toBeCloseTo(0.7, 12);
    expect(shorterAnswerBaseline(metrics)).toBeCloseTo(0.3, 12);
    expect(longerAnswerBaseline({ pairs: 0, loss: null })).toBeNull();
  });

  it('measure the model against the better of the two: where people prefer shorter answers, that is the shorter', () => {
    // HH-like: the chosen answer is the shorter one in 56% of pairs; a model at 63% is 7 points above that bar, not
    // 20 points above "always pick the longer answer"
    const metrics = {
      pairs: 100,
      loss: 0.6,
      accuracy: 0.63,
      'count/chosen_longer': 42,
      'count/chosen_shorter': 56,
      'count/same_length': 2,
    };
    const baselines = lengthBaselines(metrics);
    expect(baselines.longerAnswerBaseline).toBeCloseTo(0.43, 12);
    expect(baselines.shorterAnswerBaseline).toBeCloseTo(0.57, 12);
    expect(baselines.marginOverLengthBaseline).toBeCloseTo(0.06, 12);
    expect(lengthBaselineLine(baselines)).toBe(
      'Always picking the longer answer scores 43.0% on these pairs, the shorter 57.0%; the model is 6.0 points above ' +
        'the better of the two (shorter).',
    );
  });
});

describe('the most confident mistakes', () => {
  it('are the wrong, untied pairs with the lowest margin, shown with their source line and terminal-safe text', async () => {
    const dir = temporaryDirectory();
    const row = (index: number, margin: number, extra: Record<string, unknown> = {}) => ({
      index,
      file: '/data/human.jsonl',
      line: index + 1,
      prompt: `question ${index}`,
      chosen: `good ${index}`,
      rejected: `bad ${index}`,
      reward_chosen: margin,
      reward_rejected: 0,
      margin,
      correct: margin > 0,
      tie: margin === 0,
      chosen_tokens: 3,
      rejected_tokens: 3,
      ...extra,
    });
    const file = writeJsonl(path.join(dir, 'predictions.jsonl'), [
      row(0, 1.5),
      row(1, -0.2),
      row(2, 0),
      row(3, -2.5, {
        prompt: [
          { role: 'user', content: 'first' },
          { role: 'user', content: 'last turn\u001b[2J' },
        ],
      }),
      row(4, -0.9),
      row(5, -0.1),
    ]);
    const mistakes = await confidentMistakes(file, 3);
    expect(mistakes.wrong).toBe(4);
    expect(mistakes.shown.map((mistake) => mistake.line)).toEqual([4, 5, 2]);

    const summary = {
      task: 'rm',
      run: '/runs/rm',
      checkpoint: '/runs/rm/checkpoints/step-00000010',
      step: 10,
      pairs: '/data/human.jsonl',
      metrics: { pairs: 6, loss: 0.7, accuracy: 1 / 6, ties: 1 },
      longerAnswerBaseline: null,
      shorterAnswerBaseline: null,
      marginOverLengthBaseline: null,
      predictions: file,
    };
    const report = renderEvalReport(summary, dir, styleFor(process.stdout as never), mistakes);
    expect(report).toContain('Most confident mistakes (3 of 4 wrong)');
    expect(report).toContain('  margin -2.500 · human.jsonl:4\n    prompt:   user: last turn␛[2J\n    chosen:   good 3');
    expect(report).not.toContain('\u001b[2J');

    writeJsonl(file, [{ index: 0 }]);
    await expect(confidentMistakes(file, 3)).rejects.toThrow(`${file}:1: not a prediction row`);
  });
});
