import path from 'node:path';
import { type DatasetItem, type GenerationSample, TribunalError, type Usage } from '../contracts/index.js';

/** How a policy samples: K samples per prompt, at most `maxTokens` tokens each. */
export interface SamplingSettings {
  /** Samples per prompt (K). */
  n: number;
  /** 0 is greedy. */
  temperature: number;
  /** Nucleus sampling: 1 keeps every token. */
  topP: number;
  /** Most new tokens per sample. */
  maxTokens: number;
  /** Seeds the policy's sampling where it can be seeded (fake, tiny, checkpoint; sent as `seed` to OpenAI). */
  seed: number;
}

/** What a policy drew for one prompt. */
export interface PromptSamples {
  samples: GenerationSample[];
  usage: Usage;
}

/** A policy answered one prompt at a time (a model API or in-process model): the runner pools the calls. */
export interface CallPolicy {
  kind: 'call';
  /** The policy id as given (`fake:...`, `openai:...`). */
  id: string;
  /** What identifies the policy's weights in the run config (a changed policy regenerates everything). */
  fingerprint: string;
  /** True when the policy reports per-sample log-probabilities. */
  logprobs: boolean;
  samplePrompt(options: { item: DatasetItem; settings: SamplingSettings; signal: AbortSignal }): Promise<PromptSamples>;
  close(): Promise<void>;
}

/** A policy sampled by a worker process over many prompts (the Python worker: `tiny`, `checkpoint:DIR`). */
export interface WorkerPolicy {
  kind: 'worker';
  id: string;
  fingerprint: string;
  logprobs: boolean;
  /**
   * Samples every item in order, calling `onPrompt` once per item as its samples arrive (awaited in order). Resolves
   * when every item is sampled, or early (without error) once `signal` aborts.
   */
  run(options: {
    items: ReadonlyArray<{ itemId: string; item: DatasetItem }>;
    settings: SamplingSettings;
    signal: AbortSignal;
    onPrompt: (itemId: string, samples: PromptSamples) => Promise<void>;
    onLog?: ((line: string) => void) | undefined;
  }): Promise<void>;
  close(): Promise<void>;
}

export type Policy = CallPolicy | WorkerPolicy;

/** A parsed `--policy`: the tiny model, a training run's checkpoint, or a model id of the registry. */
export type PolicySpec =
  | { kind: 'tiny'; id: string; seed: number }
  | { kind: 'checkpoint'; id: string; runDir: string }
  | { kind: 'model'; id: string; provider: string; name: string };

const PROVIDERS = ['openai', 'anthropic', 'local', 'fake'] as const;

/**
 * Parses a policy: `tiny` (a fresh tiny decoder; `tiny?seed=N` picks its init seed), `checkpoint:DIR` (the output
 * directory of `tribunal train dpo`, relative to `cwd`), or a registry model id (`openai:NAME`, `anthropic:NAME`,
 * `local:PATH`, `fake:NAME`).
 * @example parsePolicy({ text: 'checkpoint:runs/dpo', cwd: process.cwd() });
 */
export function parsePolicy(options: { text: string; cwd: string }): PolicySpec {
  const text = options.text.trim();
  const tiny = /^tiny(?:\?seed=(\d{1,9}))?$/.exec(text);
  if (tiny) return { kind: 'tiny', id: text, seed: Number(tiny[1] ?? 0) };
  const colon = text.indexOf(':');
  const provider = colon > 0 ? text.slice(0, colon) : '';
  const rest = text.slice(colon + 1);
  if (provider === 'checkpoint') {
    if (rest === '') throw new TribunalError('CONFIG_INVALID', '--policy checkpoint:DIR names no directory');
    return { kind: 'checkpoint', id: text, runDir: path.resolve(options.cwd, rest) };
  }
  if ((PROVIDERS as readonly string[]).includes(provider) && rest !== '') {
    return { kind: 'model', id: text, provider, name: rest };
  }
  throw new TribunalError(
    'CONFIG_INVALID',
    `--policy must be tiny, checkpoint:DIR (a "tribunal train dpo" output) or a model id (${PROVIDERS.map((name) => `${name}:…`).join(', ')}), got "${options.text}"`,
  );
}

/** The messages of a prompt: a text prompt is one user message. */
export function promptMessages(item: DatasetItem): Array<{ role: 'system' | 'user' | 'assistant'; content: string }> {
  return typeof item.prompt === 'string' ? [{ role: 'user', content: item.prompt }] : item.prompt;
}
