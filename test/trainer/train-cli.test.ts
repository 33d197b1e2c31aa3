import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type TrainerEvent, TrainerEventSchema } from '../../src/contracts/index.js';
import { readTrainingRun } from '../../src/trainer/index.js';
import { captureIo } from '../fakes/cli-io.js';
import { requireTorch, syntheticPairs, TRIBUNAL_BIN, temporaryDirectory, writeJsonl } from './trainer-fixtures.js';

beforeAll(requireTorch);

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/tribunal.js ...args` in `cwd`; `onStdout` sees the output so far and may signal the process. */
function tribunal(args: string[], cwd: string, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void) {
  return new Promise<Finished>((resolve, reject) => {
    const child = spawn(process.execPath, [TRIBUNAL_BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('tribunal train', () => {
  it('trains DPO on CPU with the tiny model, then reports held-out accuracy, calibration and length split', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(64));
    const run = await tribunal(
      ['train', 'dpo', '--pairs', 'pairs.jsonl', '--model', 'tiny', '--steps', '4', '--out', 'run'],
      dir,
    );
    expect(run.stderr).not.toContain('error');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('DPO completed at step 4/4 · 58 training pairs, 6 held out');
    expect(run.stdout).toContain('Held-out evaluation (6 pairs)');
    for (const row of [
      'accuracy ',
      'loss ',
      'ECE ',
      'Brier ',
      'mean margin ',
      'accuracy, chosen longer ',
      'accuracy, chosen shorter ',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^${row.replace(/[()]/g, '\\$&')} +(\\d+\\.\\d+%?|--)`, 'm'));
    }
    expect(run.stderr).toMatch(/^train dpo: step 4\/4 \(100%\) · loss \d\.\d{4} · accuracy \d+\.\d% · lr /m);

    const runDir = path.join(dir, 'run');
    expect(run.stdout).toContain(`Next: tribunal train eval --run ${runDir} --pairs HUMAN_PAIRS`);
    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      run_dir: runDir,
      task: 'dpo',
      data: { train: path.join(dir, 'pairs.jsonl'), eval_fraction: 0.1 },
      model: 'tiny',
      training: { max_steps: 4, logging_steps: 1 },
    });
    for (const file of ['worker.log', 'events.jsonl', 'checkpoints/step-00000004/trainer_state.json']) {
      expect(existsSync(path.join(runDir, file))).toBe(true);
    }

    // the same directory with other settings would resume the wrong run
    const io = captureIo(dir);
    expect(await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--steps', '4', '--lr', '0.01', '--out', 'run'], io)).toBe(2);
    expect(io.err()).toContain(`${runDir} holds checkpoints of a run with other settings (--lr)`);

    // more steps is a continuation: the worker rebuilds its learning-rate schedule for the new total
    const longer = await tribunal(['train', 'dpo', '--pairs', 'pairs.jsonl', '--steps', '6', '--out', 'run', '--json'], dir);
    expect(longer.code, longer.stderr).toBe(0);
    const start = TrainerEventSchema.parse(JSON.parse(longer.stdout.split('\n')[0] ?? ''));
    expect(start).toMatchObject({ type: 'start', step: 4, total_steps: 6 });
    if (start.type !== 'start' || start.command === 'eval') throw new Error('expected a training start event');
    expect(start.schedule?.changed_on_resume).toMatchObject({ from: { total_steps: 4 }, to: { total_steps: 6 } });
    expect(start.data.split).toMatchObject({ source: 'fraction', by: 'prompt', shared_prompts: 0 });
  });

  it('prints the validated worker events as JSON lines with --json', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const run = await tribunal(['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '2', '--out', 'run', '--json'], dir);
    expect(run.code).toBe(0);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((line) => TrainerEventSchema.parse(JSON.parse(line)));
    expect(events.map((event) => event.type)).toEqual(['start', 'metric', 'metric', 'checkpoint', 'eval', 'done']);
  });

  it('trains LoRA adapters with --lora: only they and no second model train, and the config records them', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const run = await tribunal(
      ['train', 'dpo', '--pairs', 'pairs.jsonl', '--steps', '2', '--lora', '4', '--out', 'run', '--json'],
      dir,
    );
    expect(run.code, run.stderr).toBe(0);
    // DPO reports its reference log-prob precompute first (progress events), then starts
    const start = run.stdout
      .trim()
      .split('\n')
      .map((line) => TrainerEventSchema.parse(JSON.parse(line)))
      .find((event) => event.type === 'start');
    if (start?.type !== 'start' || start.command === 'eval') throw new Error('expected a training start event');
    expect(start.model.lora).not.toBeNull();
    expect(start.model.trainable).toBeGreaterThan(0);
    expect(start.model.trainable).toBeLessThan(start.model.parameters / 10);
    expect(JSON.parse(readFileSync(path.join(dir, 'run', 'config.json'), 'utf8')).lora).toEqual({ r: 4, alpha: 8 });

    const io = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--lora-alpha', '16'], io)).toBe(2);
    expect(io.err()).toContain("--lora-alpha needs --lora R (the adapters' rank)");
  });

  it('a worker whose tribunal process was killed with SIGKILL checkpoints and exits by itself', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const run = await tribunal(
      ['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '100000', '--out', 'run', '--json'],
      dir,
      (stdout, child) => {
        if (stdout.includes('"type":"start"')) child.kill('SIGKILL');
      },
    );
    expect(run.signal).toBe('SIGKILL');
    // the worker keeps writing its events file; it sees its parent gone at the next step
    const eventsFile = path.join(dir, 'run', 'events.jsonl');
    let done: TrainerEvent | undefined;
    for (let attempt = 0; attempt < 600 && done === undefined; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const events = readFileSync(eventsFile, 'utf8')
        .trim()
        .split('\n')
        .map((line) => TrainerEventSchema.parse(JSON.parse(line)));
      done = events.find((event) => event.type === 'done');
    }
    expect(done).toMatchObject({ type: 'done', status: 'stopped', reason: 'parent exited' });
    if (done?.type !== 'done' || !done.checkpoint) throw new Error('expected a checkpoint');
    expect(existsSync(path.join(done.checkpoint, 'trainer_state.json'))).toBe(true);
  });

  it('refuses a second training run on a directory a live run holds, and names the holder', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    let second: Promise<{ code: number; err: string }> | undefined;
    const first = await tribunal(
      ['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '100000', '--out', 'run', '--json'],
      dir,
      (stdout, child) => {
        if (second === undefined && stdout.includes('"type":"start"')) {
          const io = captureIo(dir);
          second = main(['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '3', '--out', 'run'], io).then((code) => {
            child.kill('SIGINT');
            return { code, err: io.err() };
          });
        }
      },
    );
    expect(first.code).toBe(130);
    const refused = await second;
    expect(refused?.code).toBe(70);
    expect(refused?.err).toMatch(
      /run directory .*run is locked by a training run \(pid \d+ on .*: tribunal train rm --pairs pairs\.jsonl/,
    );
    expect(refused?.err).toContain('then run the same command to resume; or give another --out directory');
    // the first run's files were left alone: its config still asks for 100000 steps
    expect(JSON.parse(readFileSync(path.join(dir, 'run', 'config.json'), 'utf8')).training.max_steps).toBe(100000);

    // once it has stopped, the directory is free again: the same command resumes
    const resumed = await tribunal(
      ['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '100000', '--out', 'run', '--json'],
      dir,
      (stdout, child) => {
        if (stdout.includes('"type":"start"')) child.kill('SIGINT');
      },
    );
    expect(resumed.code).toBe(130);
    expect(resumed.stdout).toMatch(/"resumed_from":"[^"]*step-\d{8}"/);
  });

  it('takes a "tribunal label" run directory as --pairs and names the run after it', async () => {
    const dir = temporaryDirectory();
    mkdirSync(path.join(dir, 'arena'));
    writeJsonl(path.join(dir, 'arena', 'pairs.jsonl'), syntheticPairs(16));
    const io = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'arena', '--steps', '1', '--json'], io), io.err()).toBe(0);
    const config = JSON.parse(readFileSync(path.join(dir, 'runs', 'rm-arena', 'config.json'), 'utf8'));
    expect(config.data.train).toBe(path.join(dir, 'arena', 'pairs.jsonl'));

    const empty = captureIo(dir);
    mkdirSync(path.join(dir, 'empty'));
    expect(await main(['train', 'rm', '--pairs', 'empty'], empty)).toBe(1);
    expect(empty.err()).toContain(
      'is a directory without pairs.jsonl: give a pairs file, or the --out directory of a "tribunal label" run',
    );
  });

  it('evaluates and checkpoints every N steps with --eval-steps and --save-steps', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const run = await tribunal(
      [
        'train',
        'rm',
        '--pairs',
        'pairs.jsonl',
        '--steps',
        '4',
        '--eval-steps',
        '2',
        '--save-steps',
        '2',
        '--out',
        'run',
        '--json',
      ],
      dir,
    );
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((line) => TrainerEventSchema.parse(JSON.parse(line)));
    const at = (type: string) =>
      events.filter((event) => event.type === type).map((event) => ('step' in event ? event.step : -1));
    expect(at('eval')).toEqual([2, 4]);
    expect(at('checkpoint')).toEqual([2, 4]);
  });

  it('stops on Ctrl-C after checkpointing, exits 130 and says how to resume', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    let interrupted = false;
    const run = await tribunal(
      ['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '100000', '--out', 'run', '--json'],
      dir,
      (stdout, child) => {
        if (!interrupted && stdout.includes('"type":"start"')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    );
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/stopped at step \d+; checkpoint .*step-\d{8}\. Run the same command again to resume\./);
    const last = TrainerEventSchema.parse(JSON.parse(run.stdout.trim().split('\n').at(-1) ?? ''));
    expect(last).toMatchObject({ type: 'done', status: 'stopped', reason: 'SIGTERM' });
  });

  it('refuses a bad value before starting the worker (exit code 2)', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(4));
    const io = captureIo(dir);
    expect(await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--lr', '0', '--out', 'run'], io)).toBe(2);
    expect(io.err()).toContain('--lr must be a number greater than 0, got "0"');
    expect(existsSync(path.join(dir, 'run'))).toBe(false);

    const loss = captureIo(dir);
    expect(await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--loss', 'kto'], loss)).toBe(2);
    expect(loss.err()).toContain('--loss must be one of sigmoid, ipo, hinge, robust, got "kto"');

    const merge = captureIo(dir);
    expect(await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--merge-lora'], merge)).toBe(2);
    expect(merge.err()).toContain('--merge-lora needs --lora R');

    const truncation = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--truncation', 'middle'], truncation)).toBe(2);
    expect(truncation.err()).toContain('--truncation must be one of keep-answers, drop, keep-end, keep-start, got "middle"');

    const task = captureIo(dir);
    expect(await main(['train', 'ppo', '--pairs', 'pairs.jsonl'], task)).toBe(2);
    expect(task.err()).toContain('tribunal train rm|dpo --pairs FILE');
  });

  it('names the file and line of a malformed pair (exit code 1)', async () => {
    const dir = temporaryDirectory();
    const rows: unknown[] = syntheticPairs(8);
    rows[4] = { prompt: 'Q?', chosen: ' yes' };
    const file = writeJsonl(path.join(dir, 'pairs.jsonl'), rows);
    const io = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--out', 'run'], io)).toBe(1);
    expect(io.err()).toContain(`${file}:5: missing 'rejected'. Each line must be a preference pair in TRL format`);
  });

  it('passes label smoothing, per-pair smoothing, the centring coefficient and margin settings to the worker', async () => {
    const dir = temporaryDirectory();
    const rows = syntheticPairs(24).map((row, index) => ({ ...row, margin: 1 + (index % 3), consensus_probability: 0.75 }));
    writeJsonl(path.join(dir, 'pairs.jsonl'), rows);
    const args = ['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '2', '--out', 'run', '--json'];
    const flags = ['--label-smoothing', '0.1', '--pair-smoothing', 'consensus-probability', '--center-rewards', '0.01'];
    const io = captureIo(dir);
    expect(await main([...args, ...flags, '--margin-scale', '0.5'], io), io.err()).toBe(0);
    const config = JSON.parse(readFileSync(path.join(dir, 'run', 'config.json'), 'utf8'));
    expect(config.data.pair_label_smoothing).toBe('consensus_probability');
    expect(config.rm).toEqual({ center_rewards_coefficient: 0.01, margin_scale: 0.5, label_smoothing: 0.1 });
    const start = TrainerEventSchema.parse(JSON.parse(io.out().split('\n')[0] ?? ''));
    expect(start.type === 'start' && start.config).toMatchObject({
      rm: { center_rewards_coefficient: 0.01, use_margin: true, margin_scale: 0.5, label_smoothing: 0.1 },
    });

    const off = captureIo(dir);
    expect(
      await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--steps', '1', '--no-margin', '--out', 'off', '--json'], off),
    ).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'off', 'config.json'), 'utf8')).rm).toEqual({ use_margin: false });

    const dpo = captureIo(dir);
    expect(await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--margin-scale', '2'], dpo)).toBe(2);
    expect(dpo.err()).toContain('--center-rewards, --no-margin and --margin-scale apply to rm only');
    const bad = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--label-smoothing', '0.5'], bad)).toBe(2);
    expect(bad.err()).toContain('--label-smoothing must be a number at least 0 and less than 0.5');
    const column = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--pair-smoothing', 'votes'], column)).toBe(2);
    expect(column.err()).toContain('--pair-smoothing must be one of off, label-smoothing, consensus-probability');
  });

  it('starts from a run with --init-from and takes the reference from one with --reference-from', async () => {
    const dir = temporaryDirectory();
    writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(48));
    const train = async (args: string[]) => {
      const io = captureIo(dir);
      const code = await main(['train', 'dpo', '--pairs', 'pairs.jsonl', '--steps', '2', '--lr', '0.05', '--json', ...args], io);
      const events = io
        .out()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => TrainerEventSchema.parse(JSON.parse(line)));
      return { code, events, err: io.err() };
    };
    const first = (events: TrainerEvent[]) => events.find((event) => event.type === 'metric');
    const a = await train(['--out', 'a']);
    expect(a.code, a.err).toBe(0);
    const checkpoint = path.join(dir, 'a', 'checkpoints', 'step-00000002');

    // a run directory means its latest checkpoint; policy and reference are both A's: DPO's ln 2 at the first step
    const same = await train(['--out', 'same', '--init-from', 'a', '--reference-from', checkpoint]);
    expect(same.code, same.err).toBe(0);
    const config = JSON.parse(readFileSync(path.join(dir, 'same', 'config.json'), 'utf8'));
    expect(config).toMatchObject({ init_checkpoint: checkpoint, ref_checkpoint: checkpoint });
    const start = same.events.find((event) => event.type === 'start');
    expect(start?.type === 'start' && start.command === 'dpo' && [start.init_checkpoint, start.ref_checkpoint]).toEqual([
      { path: checkpoint, step: 2 },
      { path: checkpoint, step: 2 },
    ]);
    const sameLoss = first(same.events);
    expect(sameLoss?.type === 'metric' && sameLoss.loss).toBeCloseTo(Math.log(2), 5);
    // the run reads back as a training run (checkpoint:DIR of tribunal generate, train eval)
    expect((await readTrainingRun(path.join(dir, 'same'))).config).toMatchObject({ init_checkpoint: checkpoint });

    // without --reference-from the reference is the fresh model (policy_0): A's policy is already ahead of it
    const fixed = await train(['--out', 'fixed', '--init-from', 'a']);
    expect(fixed.code, fixed.err).toBe(0);
    const fixedLoss = first(fixed.events);
    expect(fixedLoss?.type === 'metric' && Math.abs(fixedLoss.metrics['rewards/margins'] ?? 0)).toBeGreaterThan(1e-3);

    // the worker's refusal names the flag; so does a run directory resumed from another start
    const lora = await train(['--out', 'lora', '--init-from', 'a', '--lora', '4']);
    expect(lora.code).toBe(2);
    expect(lora.err).toContain('other LoRA settings');
    expect(lora.err).toContain('(set with --init-from)');
    const other = await train(['--out', 'fixed', '--init-from', path.join(dir, 'same')]);
    expect(other.code).toBe(2);
    expect(other.err).toContain('holds checkpoints of a run with other settings (--init-from)');

    const missing = await train(['--out', 'x', '--init-from', 'nowhere']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`--init-from ${path.join(dir, 'nowhere')}: neither a checkpoint folder`);
    const rm = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'pairs.jsonl', '--reference-from', 'a'], rm)).toBe(2);
    expect(rm.err()).toContain('--reference-from applies to dpo only');
  }, 120_000);

  it('gives each kind of data error its own hint, with the line where there is one', async () => {
    const dir = temporaryDirectory();
    const [first] = syntheticPairs(1);
    writeJsonl(path.join(dir, 'one.jsonl'), [first]);
    const split = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'one.jsonl', '--out', 'one'], split)).toBe(1);
    expect(split.err()).toContain('needs at least two distinct prompts');
    expect(split.err()).toContain('give a separate held-out file with --eval FILE, or hold nothing out with --eval-fraction 0');
    expect(split.err()).not.toContain('TRL format');

    const latin1 = path.join(dir, 'latin1.jsonl');
    writeFileSync(
      latin1,
      Buffer.concat([
        Buffer.from(`${JSON.stringify(first)}\n`),
        Buffer.from('{"prompt": "caf', 'utf8'),
        Buffer.from([0xe9]),
        Buffer.from('", "chosen": "a", "rejected": "b"}\n'),
      ]),
    );
    const encoding = captureIo(dir);
    expect(await main(['train', 'rm', '--pairs', 'latin1.jsonl', '--out', 'latin1'], encoding)).toBe(1);
    expect(encoding.err()).toContain(`${latin1}:2: is not UTF-8 text (byte 0xe9 at column 16). The file must be UTF-8`);
    expect(encoding.err()).not.toContain('TRL format');
  });

  it('is listed in the help', async () => {
    const io = captureIo(temporaryDirectory());
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out()).toMatch(/^ {2}train {6}train a reward model or DPO policy/m);
    const help = captureIo(temporaryDirectory());
    expect(await main(['train', '--help'], help)).toBe(0);
    expect(help.out()).toContain('Usage: tribunal train rm|dpo --pairs FILE [options]');
  });
});
