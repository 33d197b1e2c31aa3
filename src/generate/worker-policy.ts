import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  type ErrorCode,
  type GenerateEvent,
  GenerateEventSchema,
  type GenerateWorkerConfig,
  GenerateWorkerConfigSchema,
  type GenerateWorkerPolicy,
  TribunalError,
  ZERO_USAGE,
} from '../contracts/index.js';
import { openAtomicWriter } from '../export/index.js';
import { pickCheckpoint, readTrainingRun, resolvePython, TRAINERS_ROOT, writeJsonAtomic } from '../trainer/index.js';
import type { PolicySpec, PromptSamples, WorkerPolicy } from './policy.js';

/** Where a generation run keeps the worker's files, inside its run directory. */
export const WORKER_FILES = { dir: 'worker', config: 'config.json', prompts: 'prompts.jsonl', log: 'worker.log' } as const;

/** How many stderr lines a failure message quotes. */
const LOG_TAIL_LINES = 12;

/** Options of `createWorkerPolicy`. */
export interface WorkerPolicyOptions {
  spec: WorkerPolicySpec;
  /** The generation run directory: the worker's config, prompts and log go to `DIR/worker/`. */
  runDir: string;
  /** Python interpreter (the `TRIBUNAL_PYTHON` setting); default /usr/bin/python3 when it exists, else python3. */
  python?: string | undefined;
  /** `cpu`, `cuda`, or `auto` (CUDA when present). Default auto. */
  device?: 'auto' | 'cpu' | 'cuda' | undefined;
  /** Sequences per forward pass. Default the worker's (16). */
  batchSize?: number | undefined;
  /** The tiny model's shape (a fresh `tiny` policy only); default the worker's (as `tribunal train` builds it). */
  tiny?: { dim?: number; n_layers?: number; n_heads?: number; max_seq_len?: number } | undefined;
  /** Also score every sample under this policy (`tiny` or `checkpoint:DIR`, the same tokenizer): `ref_logprob`. */
  reference?: WorkerPolicySpec | undefined;
}

/** The policies the Python worker samples. */
export type WorkerPolicySpec = Extract<PolicySpec, { kind: 'tiny' } | { kind: 'checkpoint' }>;

/**
 * The worker's description of a policy: a fresh tiny decoder from its seed, or a dpo run's model, LoRA, seed and
 * latest checkpoint (its config.json validated by the trainer contract); and a fingerprint naming the weights.
 */
export async function workerPolicyOf(options: {
  spec: WorkerPolicySpec;
  tiny?: WorkerPolicyOptions['tiny'];
}): Promise<{ config: GenerateWorkerPolicy; fingerprint: string }> {
  const { spec } = options;
  if (spec.kind === 'tiny') {
    return {
      config: { model: options.tiny ? { kind: 'tiny', tiny: options.tiny } : 'tiny', seed: spec.seed, checkpoint: null },
      fingerprint: `tiny@seed=${spec.seed}${options.tiny ? `:${JSON.stringify(options.tiny)}` : ''}`,
    };
  }
  const run = await readTrainingRun(spec.runDir);
  if (run.config.task !== 'dpo') {
    throw new TribunalError(
      'CONFIG_INVALID',
      `${spec.runDir} trained a ${run.config.task ?? 'unknown'} model, not a policy: give the output of "tribunal train dpo"`,
      { location: { file: run.configFile, field: 'task' } },
    );
  }
  const checkpoint = await pickCheckpoint(run, 'latest');
  if (!checkpoint) throw new TribunalError('INTERNAL', 'pickCheckpoint returned no checkpoint for latest');
  return {
    config: {
      ...(run.config.model === undefined ? {} : { model: run.config.model }),
      ...(run.config.lora ? { lora: run.config.lora } : {}),
      seed: run.config.seed ?? 0,
      checkpoint: checkpoint.path,
    },
    fingerprint: `checkpoint:${spec.runDir}@step=${checkpoint.step}`,
  };
}

/**
 * A policy sampled by the Python worker (`python3 -m trainers generate`): `tiny` (a fresh tiny decoder from a seed,
 * the shape `tribunal train` builds) or `checkpoint:DIR`, the latest checkpoint of a `tribunal train dpo` run rebuilt
 * from its config.json (tiny or Hugging Face, full or LoRA, the same init seed). Its fingerprint names the checkpoint,
 * so a run resumed after more training regenerates with the new weights.
 * @example const policy = await createWorkerPolicy({ spec: parsePolicy({ text: 'tiny', cwd }), runDir: 'out' });
 */
export async function createWorkerPolicy(options: WorkerPolicyOptions): Promise<WorkerPolicy> {
  const policy = await workerPolicyOf({ spec: options.spec, tiny: options.tiny });
  const reference =
    options.reference === undefined ? undefined : await workerPolicyOf({ spec: options.reference, tiny: options.tiny });
  const base: Omit<GenerateWorkerConfig, 'prompts' | 'sampling'> = {
    ...policy.config,
    ...(reference === undefined ? {} : { reference: reference.config }),
  };
  const fingerprint = reference === undefined ? policy.fingerprint : `${policy.fingerprint}|reference=${reference.fingerprint}`;
  const { spec } = options;
  const python = resolvePython({ python: options.python });
  const workDir = path.join(path.resolve(options.runDir), WORKER_FILES.dir);

  return {
    kind: 'worker',
    id: spec.id,
    fingerprint,
    logprobs: true,
    async run({ items, settings, signal, onPrompt, onLog }) {
      if (items.length === 0 || signal.aborted) return;
      await mkdir(workDir, { recursive: true });
      const promptsFile = path.join(workDir, WORKER_FILES.prompts);
      const writer = await openAtomicWriter({ file: promptsFile });
      try {
        for (const { itemId, item } of items) await writer.write(`${JSON.stringify({ id: itemId, prompt: item.prompt })}\n`);
        await writer.commit();
      } catch (error) {
        await writer.abort();
        throw error;
      }
      const config = GenerateWorkerConfigSchema.parse({
        ...base,
        prompts: promptsFile,
        device: options.device ?? 'auto',
        sampling: {
          n: settings.n,
          temperature: settings.temperature,
          top_p: settings.topP,
          max_new_tokens: settings.maxTokens,
          seed: settings.seed,
          ...(options.batchSize === undefined ? {} : { batch_size: options.batchSize }),
        },
      });
      const configFile = path.join(workDir, WORKER_FILES.config);
      await writeJsonAtomic({ file: configFile, value: config });
      await runWorker({ python, configFile, logFile: path.join(workDir, WORKER_FILES.log), signal, onPrompt, onLog });
    },
    async close() {},
  };
}

/** Spawns the worker, settles each `sample` event in order, and turns a failed run into a TribunalError. */
async function runWorker(options: {
  python: string;
  configFile: string;
  logFile: string;
  signal: AbortSignal;
  onPrompt: (itemId: string, samples: PromptSamples) => Promise<void>;
  onLog?: ((line: string) => void) | undefined;
}): Promise<void> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  log.write(`--- tribunal ${new Date().toISOString()}: ${options.python} -m trainers generate --config ${options.configFile}\n`);
  // Not detached: the worker notices this process is gone (its parent changes) and stops after the current prompt.
  const child = spawn(options.python, ['-m', 'trainers', 'generate', '--config', options.configFile], {
    cwd: TRAINERS_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const stop = () => child.kill('SIGTERM');
  options.signal.addEventListener('abort', stop, { once: true });

  const tail: string[] = [];
  let pending = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      options.onLog?.(line);
    }
  });

  let errorEvent: Extract<GenerateEvent, { type: 'error' }> | undefined;
  let done: Extract<GenerateEvent, { type: 'done' }> | undefined;
  let consumerError: unknown;
  // Samples are settled one at a time, in the order the worker wrote them.
  let chain: Promise<void> = Promise.resolve();
  const stdout = createInterface({ input: child.stdout as NodeJS.ReadableStream, crlfDelay: Number.POSITIVE_INFINITY });
  stdout.on('line', (text) => {
    if (text.trim() === '') return;
    let event: GenerateEvent;
    try {
      event = GenerateEventSchema.parse(JSON.parse(text));
    } catch (error) {
      log.write(
        `[tribunal] worker stdout line is not a generate event: ${text.slice(0, 200)} (${(error as Error).message.slice(0, 200)})\n`,
      );
      return;
    }
    if (event.type === 'error') errorEvent = event;
    else if (event.type === 'done') done = event;
    else if (event.type === 'sample') {
      const samples = event.samples;
      const id = event.id;
      chain = chain.then(async () => {
        if (consumerError !== undefined) return;
        try {
          const outputTokens = samples.reduce((sum, sample) => sum + (sample.tokens ?? 0), 0);
          await options.onPrompt(id, { samples, usage: { ...ZERO_USAGE, outputTokens } });
        } catch (error) {
          consumerError = error;
          stop();
        }
      });
    }
  });

  const exit = await new Promise<{ code: number | null; signal: string | null; spawnError?: Error }>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => resolve({ code, signal, ...(spawnError ? { spawnError } : {}) }));
  });
  process.off('exit', killOnExit);
  options.signal.removeEventListener('abort', stop);
  stdout.close();
  await chain;
  await new Promise<void>((resolve) => log.end(resolve));

  if (exit.spawnError) {
    const missing = (exit.spawnError as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TribunalError(
      'CONFIG_INVALID',
      missing
        ? `cannot start the sampling worker: ${options.python} not found. Install Python 3 with PyTorch (Debian/Ubuntu: apt-get install python3-torch) or set TRIBUNAL_PYTHON`
        : `cannot start the sampling worker with ${options.python}: ${exit.spawnError.message}`,
      { cause: exit.spawnError },
    );
  }
  if (consumerError !== undefined) throw consumerError;
  if (options.signal.aborted) return; // stopped on request: what arrived is settled, the rest stays pending
  if (exit.code === 0 && done?.status === 'completed') return;
  if (exit.code === 0 && done?.status === 'stopped') {
    throw new TribunalError(
      'ABORTED',
      `the sampling worker was stopped from outside (SIGTERM) after ${done.prompts} prompts; run the same command again to continue`,
    );
  }
  if (errorEvent) {
    const codes: Record<string, ErrorCode> = {
      CONFIG_INVALID: 'CONFIG_INVALID',
      DATA_INVALID: 'INPUT_INVALID',
      OUT_OF_MEMORY: 'OUT_OF_MEMORY',
      INTERNAL: 'INTERNAL',
    };
    throw new TribunalError(
      codes[errorEvent.code] ?? 'INTERNAL',
      `the sampling worker failed: ${errorEvent.message} (log: ${options.logFile})`,
    );
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  throw new TribunalError(
    'INTERNAL',
    `the sampling worker ${how} without finishing; last log lines:\n${tail.join('\n')}\n(full log: ${options.logFile})`,
  );
}
