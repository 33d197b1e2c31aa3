import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import {
  type PairSmoothingColumn,
  type TrainerConfig,
  type TrainerTask,
  TribunalError,
  type TruncationPolicy,
} from '../contracts/index.js';

/** What `tribunal train` lets a user choose; everything else keeps the worker's defaults (trainers/README.md). */
export interface TrainSettings {
  task: TrainerTask;
  /** The pairs file to train on (pairs.jsonl or .jsonl.gz, TRL preference rows). */
  pairs: string;
  /** A separate held-out pairs file; without it `evalFraction` of `pairs` is held out (seeded). */
  evalPairs?: string | undefined;
  /** Fraction of `pairs` held out for the final evaluation. Default 0.1. */
  evalFraction?: number | undefined;
  /** `tiny` (the built-in decoder) or a local Hugging Face model folder. Default `tiny`. */
  model?: string | undefined;
  /** 0: CPU; 1: one GPU; more: torchrun with one process per GPU. Default: CUDA when present. */
  gpus?: number | undefined;
  steps?: number | undefined;
  epochs?: number | undefined;
  batchSize?: number | undefined;
  gradientAccumulation?: number | undefined;
  learningRate?: number | undefined;
  beta?: number | undefined;
  loss?: NonNullable<NonNullable<TrainerConfig['dpo']>['loss_type']> | undefined;
  seed?: number | undefined;
  maxLength?: number | undefined;
  /** A pair longer than `maxLength`: the worker's `data.truncation` policy. Default `keep_answers`. */
  truncation?: TruncationPolicy | undefined;
  /** Label smoothing ε (cDPO for dpo; the same form on the reward difference for rm). Default 0. */
  labelSmoothing?: number | undefined;
  /** Per-pair ε from a column of the pairs file (`tribunal label --uncertainty` writes both). Default off. */
  pairSmoothing?: PairSmoothingColumn | undefined;
  /** rm: TRL's centring coefficient c of `c · mean((r⁺ + r⁻)²)`. Default none. */
  centerRewards?: number | undefined;
  /** rm: use the rows' margin column in the loss. Default true. */
  useMargin?: boolean | undefined;
  /** rm: multiply the margins (panel score points) by this. Default 1. */
  marginScale?: number | undefined;
  gradientCheckpointing?: boolean | undefined;
  /** Evaluate the held-out split every N optimizer steps (besides the end). Default: only at the end. */
  evalSteps?: number | undefined;
  /** Write a checkpoint every N optimizer steps (besides the end and a stop). Default 500. */
  saveSteps?: number | undefined;
  /** LoRA rank: train low-rank adapters (and the reward head) instead of every weight. */
  loraRank?: number | undefined;
  /** LoRA scaling numerator (`alpha / r`). Default twice the rank. */
  loraAlpha?: number | undefined;
  /** Hugging Face models with LoRA: export the merged model to RUN_DIR/final instead of peft adapters. */
  mergeLora?: boolean | undefined;
  /**
   * A checkpoint folder to start the policy from (an earlier run of the same task, model and LoRA: iterative DPO's
   * policy_i). Only a fresh run loads it; DPO's reference stays the fresh model (policy_0) unless `refCheckpoint`.
   */
  initCheckpoint?: string | undefined;
  /** dpo: a checkpoint folder whose weights (LoRA adapters included) are the reference, instead of the fresh model. */
  refCheckpoint?: string | undefined;
  /** Non-blank lines of `pairs`, to space the metric events (about 100 per run); from `countPairLines`. */
  pairCount?: number | undefined;
}

/** Default learning rates: the tiny decoder learns from scratch; pretrained models take TRL's defaults. */
export const DEFAULT_LEARNING_RATE = { tiny: 3e-3, rm: 1e-5, dpo: 1e-6 } as const;

/** Metric events per run the logging interval aims at. */
const METRIC_EVENTS = 100;

/**
 * The worker config for a `tribunal train` run (without `run_dir`): the worker's own seeded held-out split, the
 * chosen model and hyperparameters, and a logging interval that gives about 100 metric events.
 * @example const config = buildTrainConfig({ task: 'dpo', pairs: '/data/pairs.jsonl', steps: 200 });
 */
export function buildTrainConfig(settings: TrainSettings): Omit<TrainerConfig, 'run_dir'> {
  const model = settings.model ?? 'tiny';
  const tiny = model === 'tiny';
  const batchSize = settings.batchSize ?? 8;
  const accumulation = settings.gradientAccumulation ?? 1;
  const evalFraction = settings.evalPairs ? 0 : (settings.evalFraction ?? 0.1);
  const steps = settings.steps ?? estimateSteps({ ...settings, batchSize, accumulation, evalFraction });
  const maxLength = settings.maxLength;
  return {
    task: settings.task,
    seed: settings.seed ?? 0,
    device: settings.gpus === undefined ? 'auto' : settings.gpus === 0 ? 'cpu' : 'cuda',
    ...(settings.initCheckpoint === undefined ? {} : { init_checkpoint: path.resolve(settings.initCheckpoint) }),
    ...(settings.refCheckpoint === undefined ? {} : { ref_checkpoint: path.resolve(settings.refCheckpoint) }),
    data: {
      train: path.resolve(settings.pairs),
      ...(settings.evalPairs ? { eval: path.resolve(settings.evalPairs) } : { eval_fraction: evalFraction }),
      ...(maxLength === undefined
        ? {}
        : { max_length: maxLength, max_prompt_length: Math.max(1, Math.min(256, Math.floor(maxLength / 2))) }),
      ...(settings.truncation === undefined ? {} : { truncation: settings.truncation }),
      ...(settings.pairSmoothing === undefined || settings.pairSmoothing === 'off'
        ? {}
        : { pair_label_smoothing: settings.pairSmoothing }),
    },
    model: tiny ? 'tiny' : { kind: 'hf', path: path.resolve(model) },
    training: {
      batch_size: batchSize,
      gradient_accumulation_steps: accumulation,
      learning_rate: settings.learningRate ?? (tiny ? DEFAULT_LEARNING_RATE.tiny : DEFAULT_LEARNING_RATE[settings.task]),
      ...(settings.steps === undefined ? {} : { max_steps: settings.steps }),
      ...(settings.epochs === undefined ? {} : { num_train_epochs: settings.epochs }),
      logging_steps: steps === undefined ? 10 : Math.max(1, Math.round(steps / METRIC_EVENTS)),
      ...(settings.evalSteps === undefined ? {} : { eval_steps: settings.evalSteps }),
      ...(settings.saveSteps === undefined ? {} : { save_steps: settings.saveSteps }),
    },
    ...(settings.task === 'dpo'
      ? {
          dpo: {
            ...(settings.beta === undefined ? {} : { beta: settings.beta }),
            ...(settings.loss === undefined ? {} : { loss_type: settings.loss }),
            ...(settings.labelSmoothing === undefined ? {} : { label_smoothing: settings.labelSmoothing }),
          },
        }
      : rewardSection(settings)),
    ...(settings.loraRank === undefined
      ? {}
      : {
          lora: {
            r: settings.loraRank,
            alpha: settings.loraAlpha ?? 2 * settings.loraRank,
            ...(settings.mergeLora ? { merge_on_export: true } : {}),
          },
        }),
    ...(settings.gradientCheckpointing ? { efficiency: { gradient_checkpointing: true } } : {}),
  };
}

function rewardSection(settings: TrainSettings): Pick<TrainerConfig, 'rm'> {
  const rm = {
    ...(settings.centerRewards === undefined ? {} : { center_rewards_coefficient: settings.centerRewards }),
    ...(settings.useMargin === false ? { use_margin: false } : {}),
    ...(settings.marginScale === undefined ? {} : { margin_scale: settings.marginScale }),
    ...(settings.labelSmoothing === undefined ? {} : { label_smoothing: settings.labelSmoothing }),
  };
  return Object.keys(rm).length === 0 ? {} : { rm };
}

function estimateSteps(options: {
  pairCount?: number | undefined;
  evalFraction: number;
  batchSize: number;
  accumulation: number;
  epochs?: number | undefined;
  gpus?: number | undefined;
}): number | undefined {
  if (options.pairCount === undefined) return undefined;
  const train = Math.max(1, Math.round(options.pairCount * (1 - options.evalFraction)));
  const batches = Math.ceil(train / (options.batchSize * Math.max(1, options.gpus ?? 1)));
  return Math.max(1, Math.floor(((options.epochs ?? 1) * batches) / options.accumulation));
}

/** Counts the non-blank lines of a pairs file (`.gz` read transparently); an unreadable file is INPUT_INVALID. */
export async function countPairLines(file: string): Promise<number> {
  const source = createReadStream(file);
  const stream = file.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  let count = 0;
  let inLine = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (const byte of chunk) {
        if (byte === 0x0a) {
          if (inLine) count += 1;
          inLine = false;
        } else if (byte !== 0x20 && byte !== 0x0d && byte !== 0x09) {
          inLine = true;
        }
      }
    }
  } catch (error) {
    source.destroy();
    throw new TribunalError('INPUT_INVALID', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      location: { file },
    });
  }
  return inLine ? count + 1 : count;
}
