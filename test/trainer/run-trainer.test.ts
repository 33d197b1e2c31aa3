import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TrainerEvent, TribunalError } from '../../src/contracts/index.js';
import {
  runTrainer,
  SYSTEM_PYTHON,
  type TrainerProtocolProblem,
  TrainerWorkerError,
  workerCommand,
} from '../../src/trainer/index.js';
import {
  checkEventsFile,
  fakePython,
  requireTorch,
  syntheticPairs,
  temporaryDirectory,
  tinyConfig,
  writeJsonl,
} from './trainer-fixtures.js';

beforeAll(requireTorch);

async function failure(promise: Promise<unknown>): Promise<TribunalError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TribunalError);
  return error as TribunalError;
}

describe('runTrainer with the real worker', () => {
  it('turns a config the worker refuses into CONFIG_INVALID naming the field (exit code 2)', async () => {
    const dir = temporaryDirectory();
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(16));
    const config = tinyConfig({ train });
    const runDir = path.join(dir, 'run');
    const events: TrainerEvent[] = [];
    const error = await failure(
      runTrainer({
        task: 'dpo',
        config: { ...config, data: { ...config.data, max_prompt_length: 64 } },
        runDir,
        python: SYSTEM_PYTHON,
        onEvent: (event) => events.push(event),
      }),
    );
    expect(error).toBeInstanceOf(TrainerWorkerError);
    expect(error.code).toBe('CONFIG_INVALID');
    expect((error as TrainerWorkerError).exitCode).toBe(2);
    expect(error.location?.field).toBe('data.max_prompt_length');
    expect(error.message).toContain("config field 'data.max_prompt_length': must be smaller than data.max_length");
    expect(error.message).toContain(path.join(runDir, 'worker.log'));
    // a config error comes before the worker knows its run directory: on stdout only, not in events.jsonl
    expect(events).toEqual([expect.objectContaining({ type: 'error', code: 'CONFIG_INVALID', field: 'data.max_prompt_length' })]);
    expect((error as TrainerWorkerError).errorEvent).toEqual(events[0]);
  });

  it('checks the config it writes before starting the worker', async () => {
    const dir = temporaryDirectory();
    const config = tinyConfig({ train: path.join(dir, 'pairs.jsonl') });
    const error = await failure(
      runTrainer({ task: 'dpo', config: { ...config, dpo: { beta: 0 } }, runDir: path.join(dir, 'run'), python: SYSTEM_PYTHON }),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.location?.field).toBe('dpo.beta');
    expect(existsSync(path.join(dir, 'run', 'worker.log'))).toBe(false);
  });

  it('turns a malformed pairs line into INPUT_INVALID naming the file and line (exit code 3)', async () => {
    const dir = temporaryDirectory();
    const rows: unknown[] = syntheticPairs(8);
    rows.splice(2, 0, '{"prompt": "Q?", "chosen": " yes",');
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), rows);
    const error = await failure(
      runTrainer({ task: 'rm', config: tinyConfig({ train }), runDir: path.join(dir, 'run'), python: SYSTEM_PYTHON }),
    );
    expect(error.code).toBe('INPUT_INVALID');
    expect((error as TrainerWorkerError).exitCode).toBe(3);
    expect(error.location).toEqual({ file: train, line: 3 });
    expect(error.message).toContain(`${train}:3: invalid JSON`);
    checkEventsFile(path.join(dir, 'run'));
  });

  it('stops gracefully on abort (SIGTERM: the step finishes, a checkpoint is written) and resumes from it', async () => {
    const dir = temporaryDirectory();
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const runDir = path.join(dir, 'run');
    const config = tinyConfig({ train, steps: 100_000 });
    const stopAtFirstMetric = () => {
      const controller = new AbortController();
      return {
        signal: controller.signal,
        onEvent: (event: { type: string }) => {
          if (event.type === 'metric') controller.abort();
        },
      };
    };

    const first = await runTrainer({ task: 'dpo', config, runDir, python: SYSTEM_PYTHON, ...stopAtFirstMetric() });
    expect(first.status).toBe('stopped');
    expect(first.done.reason).toBe('SIGTERM');
    const checkpoint = first.done.checkpoint ?? '';
    expect(checkpoint).toBe(path.join(runDir, 'checkpoints', `step-${String(first.done.step).padStart(8, '0')}`));
    expect(existsSync(path.join(checkpoint, 'trainer_state.json'))).toBe(true);
    expect(
      checkEventsFile(runDir)
        .map((event) => event.type)
        .slice(-2),
    ).toEqual(['checkpoint', 'done']);

    const second = await runTrainer({ task: 'dpo', config, runDir, python: SYSTEM_PYTHON, ...stopAtFirstMetric() });
    expect(second.start?.command !== 'eval' && second.start).toMatchObject({
      step: first.done.step,
      resumed_from: checkpoint,
    });
    expect(second.status).toBe('stopped');
    expect(second.done.step).toBeGreaterThan(first.done.step);
  });

  it('kills the worker on the kill signal (ABORTED)', async () => {
    const dir = temporaryDirectory();
    const train = writeJsonl(path.join(dir, 'pairs.jsonl'), syntheticPairs(32));
    const kill = new AbortController();
    const error = await failure(
      runTrainer({
        task: 'rm',
        config: tinyConfig({ train, steps: 100_000 }),
        runDir: path.join(dir, 'run'),
        python: SYSTEM_PYTHON,
        killSignal: kill.signal,
        onEvent: (event) => {
          if (event.type === 'metric') kill.abort();
        },
      }),
    );
    expect(error.code).toBe('ABORTED');
    expect((error as TrainerWorkerError).signal).toBe('SIGKILL');
    expect(error.message).toMatch(/^training was killed at step \d+/);
  });
});

describe('runTrainer with a stand-in worker', () => {
  const done = '{"v":1,"type":"done","seq":3,"time":1.5,"status":"completed","step":0,"checkpoint":null,"eval":null}';

  it('reports stdout lines that are not events, names their line, and carries on', async () => {
    const dir = temporaryDirectory();
    const python = fakePython(
      dir,
      [`echo 'loading weights...'`, `echo '{"v":1,"type":"metric","seq":1,"time":1}'`, '', `echo '${done}'`].join('\n'),
    );
    const problems: TrainerProtocolProblem[] = [];
    const result = await runTrainer({
      task: 'rm',
      config: tinyConfig({ train: path.join(dir, 'pairs.jsonl') }),
      runDir: path.join(dir, 'run'),
      python,
      onProtocolProblem: (problem) => problems.push(problem),
    });
    expect(result.status).toBe('completed');
    expect(result.protocolProblems).toBe(2);
    expect(problems.map((problem) => problem.line)).toEqual([1, 2]);
    expect(problems[0]?.message).toMatch(/^worker stdout line 1 is not JSON .*: "loading weights..."$/);
    expect(problems[1]?.message).toContain('worker stdout line 2 is not a trainer event v1 (step:');
    expect(readFileSync(path.join(dir, 'run', 'worker.log'), 'utf8')).toContain('[tribunal] worker stdout line 1 is not JSON');
  });

  it('accepts a stopped run whose launcher exits non-zero (torchrun caught the SIGTERM too)', async () => {
    const dir = temporaryDirectory();
    const stopped =
      '{"v":1,"type":"done","seq":2,"time":2,"status":"stopped","step":7,"epoch":0.5,"checkpoint":"/r/step-7","reason":"SIGTERM"}';
    const started =
      '{"v":1,"type":"metric","seq":1,"time":1,"step":7,"epoch":0.5,"loss":0.5,"lr":0.1,"grad_norm":1,"tokens_per_s":9,"tokens":9,"metrics":{}}';
    const python = fakePython(
      dir,
      [`trap 'echo '"'"'${stopped}'"'"'; exit 1' TERM`, `echo '${started}'`, 'while :; do sleep 1; done'].join('\n'),
    );
    const controller = new AbortController();
    const result = await runTrainer({
      task: 'dpo',
      config: tinyConfig({ train: path.join(dir, 'p.jsonl') }),
      runDir: path.join(dir, 'run'),
      python,
      signal: controller.signal,
      onEvent: () => controller.abort(),
    });
    expect(result.status).toBe('stopped');
    expect(result.done.checkpoint).toBe('/r/step-7');
  });

  it('maps the worker error event before the exit code (torchrun exits 1 whatever failed)', async () => {
    const dir = temporaryDirectory();
    const error =
      '{"v":1,"type":"error","seq":1,"time":1,"code":"OUT_OF_MEMORY","message":"out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"}';
    const python = fakePython(dir, `echo '${error}'\necho 'torch.OutOfMemoryError' >&2\nexit 1`);
    const thrown = await failure(
      runTrainer({
        task: 'dpo',
        config: tinyConfig({ train: path.join(dir, 'p.jsonl') }),
        runDir: path.join(dir, 'run'),
        python,
      }),
    );
    expect(thrown.code).toBe('OUT_OF_MEMORY');
    expect(thrown.message).toContain('ran out of memory (out of memory: CUDA out of memory. Tried to allocate 2.00 GiB)');
    expect(thrown.message).toContain('--batch-size');
    expect(thrown.message).toContain('--gradient-checkpointing');
  });

  it('shows the end of the worker log when it crashes without an error event', async () => {
    const dir = temporaryDirectory();
    const python = fakePython(
      dir,
      `echo 'Traceback (most recent call last):' >&2\necho 'Segmentation fault in the kernel' >&2\nexit 1`,
    );
    const thrown = await failure(
      runTrainer({ task: 'rm', config: tinyConfig({ train: path.join(dir, 'p.jsonl') }), runDir: path.join(dir, 'run'), python }),
    );
    expect(thrown.code).toBe('INTERNAL');
    expect(thrown.message).toContain('the trainer exited with code 1 without reporting an error');
    expect(thrown.message).toContain('Last lines of the worker log:\n  Traceback (most recent call last):\n  Segmentation fault');
  });

  it('says how to install PyTorch when the interpreter has none', async () => {
    const dir = temporaryDirectory();
    const python = fakePython(dir, `echo "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1`);
    const thrown = await failure(
      runTrainer({ task: 'rm', config: tinyConfig({ train: path.join(dir, 'p.jsonl') }), runDir: path.join(dir, 'run'), python }),
    );
    expect(thrown.code).toBe('CONFIG_INVALID');
    expect(thrown.message).toContain(`${python} has no PyTorch`);
    expect(thrown.message).toContain('apt-get install python3-torch');
    expect(thrown.message).toContain('TRIBUNAL_PYTHON');
  });

  it('says which interpreter is missing', async () => {
    const dir = temporaryDirectory();
    const thrown = await failure(
      runTrainer({
        task: 'rm',
        config: tinyConfig({ train: path.join(dir, 'p.jsonl') }),
        runDir: path.join(dir, 'run'),
        python: path.join(dir, 'no-such-python'),
      }),
    );
    expect(thrown.code).toBe('CONFIG_INVALID');
    expect(thrown.message).toContain('no-such-python not found');
  });

  it('fails a worker that exits 0 without a done event', async () => {
    const dir = temporaryDirectory();
    const python = fakePython(dir, 'exit 0');
    const thrown = await failure(
      runTrainer({ task: 'rm', config: tinyConfig({ train: path.join(dir, 'p.jsonl') }), runDir: path.join(dir, 'run'), python }),
    );
    expect(thrown.code).toBe('INTERNAL');
    expect(thrown.message).toContain('exited without finishing its run (no done event)');
  });
});

describe('workerCommand', () => {
  it('runs python -m trainers, or the same module under torchrun for several GPUs', () => {
    expect(workerCommand({ python: '/usr/bin/python3', task: 'dpo', configFile: '/r/config.json' })).toEqual({
      file: '/usr/bin/python3',
      args: ['-m', 'trainers', 'dpo', '--config', '/r/config.json'],
    });
    expect(workerCommand({ python: 'python3', task: 'rm', configFile: '/r/config.json', gpus: 8 })).toEqual({
      file: 'python3',
      args: [
        '-m',
        'torch.distributed.run',
        '--standalone',
        '--nnodes',
        '1',
        '--nproc_per_node',
        '8',
        '-m',
        'trainers',
        'rm',
        '--config',
        '/r/config.json',
      ],
    });
  });
});
