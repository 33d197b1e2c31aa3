import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { z } from 'zod';
import {
  TrainerCheckpointEventSchema,
  type TrainerConfig,
  TrainerDoneEventSchema,
  TrainerErrorEventSchema,
  TrainerEvalEventSchema,
  TrainerEvalStartEventSchema,
  type TrainerEvent,
  TrainerEventSchema,
  TrainerMetricEventSchema,
  TrainerProgressEventSchema,
  TrainerTrainStartEventSchema,
} from '../../src/contracts/index.js';
import { SYSTEM_PYTHON } from '../../src/trainer/index.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const TRIBUNAL_BIN = path.join(REPO_ROOT, 'bin', 'tribunal.js');

/**
 * These suites run the real worker: they need Debian's python3-torch at /usr/bin/python3 (CI installs it). Without
 * it they fail with this message instead of skipping, so CI can never pass them silently.
 */
export function requireTorch(): void {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `test/trainer runs the Python worker and needs PyTorch at ${SYSTEM_PYTHON}: apt-get install python3-torch ` +
        `(${probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)})`,
    );
  }
}

export function temporaryDirectory(prefix = 'tribunal-train-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A seeded generator (mulberry32), so fixtures are the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz   ';

/**
 * Pairs whose chosen answer contains the marker `##` and whose rejected one does not (the Python tests' synthetic
 * preference); lengths overlap, so "chosen is longer" is no shortcut.
 */
export function syntheticPairs(count: number, seed = 1): Array<{ prompt: string; chosen: string; rejected: string }> {
  const next = random(seed);
  const integer = (low: number, high: number) => low + Math.floor(next() * (high - low + 1));
  const text = (length: number, alphabet: string) =>
    Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
  return Array.from({ length: count }, () => {
    const prompt = `Q: ${text(integer(3, 6), LETTERS.slice(0, 26))}?\nA:`;
    const body = text(integer(6, 14), LETTERS);
    const cut = integer(0, body.length);
    return {
      prompt,
      chosen: ` ${body.slice(0, cut)}##${body.slice(cut)}`,
      rejected: ` ${text(integer(5, 17), LETTERS)}`,
    };
  });
}

export function writeJsonl(file: string, rows: unknown[]): string {
  writeFileSync(file, `${rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n')}\n`);
  return file;
}

/** A small, fast worker config over `train` (the tiny decoder at its smallest, CPU, a metric every step). */
export function tinyConfig(options: {
  train: string;
  eval?: string;
  evalFraction?: number;
  steps?: number;
  training?: NonNullable<TrainerConfig['training']>;
}): Omit<TrainerConfig, 'run_dir'> {
  return {
    seed: 0,
    device: 'cpu',
    data: {
      train: options.train,
      ...(options.eval ? { eval: options.eval } : { eval_fraction: options.evalFraction ?? 0.25 }),
      max_length: 64,
      max_prompt_length: 24,
    },
    model: { kind: 'tiny', tiny: { dim: 32, n_layers: 2, n_heads: 4, max_seq_len: 64 } },
    training: {
      batch_size: 8,
      learning_rate: 3e-3,
      max_steps: options.steps ?? 4,
      logging_steps: 1,
      save_steps: null,
      ...options.training,
    },
    eval: { batch_size: 32 },
  };
}

/** An executable that stands in for python3: ignores its arguments and runs `script` (sh). */
export function fakePython(directory: string, script: string): string {
  const file = path.join(directory, 'fake-python');
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** Every line of events.jsonl parses, and carries no field the schema does not name (the contract has not drifted). */
export function checkEventsFile(runDir: string): TrainerEvent[] {
  const lines = readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
  return lines.map((line) => {
    const raw = JSON.parse(line) as Record<string, unknown>;
    const event = TrainerEventSchema.parse(raw);
    expect(Object.keys(raw).filter((key) => !(key in shapeOf(event)))).toEqual([]);
    return event;
  });
}

function shapeOf(event: TrainerEvent): Record<string, z.ZodType> {
  switch (event.type) {
    case 'start':
      return event.command === 'eval' ? TrainerEvalStartEventSchema.shape : TrainerTrainStartEventSchema.shape;
    case 'metric':
      return TrainerMetricEventSchema.shape;
    case 'progress':
      return TrainerProgressEventSchema.shape;
    case 'eval':
      return TrainerEvalEventSchema.shape;
    case 'checkpoint':
      return TrainerCheckpointEventSchema.shape;
    case 'done':
      return TrainerDoneEventSchema.shape;
    case 'error':
      return TrainerErrorEventSchema.shape;
  }
}
