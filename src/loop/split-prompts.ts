import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { InputFormat, Prompt } from '../contracts/index.js';
import { TribunalError } from '../contracts/index.js';
import { readItems } from '../datasets/index.js';
import { writeJsonlAtomic } from '../export/index.js';

/** A prompt of the loop: its item id and the prompt (text or chat). */
export interface LoopPrompt {
  id: string;
  prompt: Prompt;
}

/** What `splitPrompts` wrote. */
export interface PromptSplit {
  train: number;
  heldOut: number;
  /** Input lines that were not a usable prompt (counted, not fatal). */
  rejected: number;
}

/**
 * Reads the prompts of FILE (any input format `tribunal label` reads; native rows may omit candidates) and splits
 * them once, seeded, into train and held-out prompts: each prompt's place is decided by a hash of the seed and its
 * id, so the split does not depend on the file's order and a prompt never changes side. `heldOut` below 1 is a
 * fraction of the prompts, 1 or more a count; at least one prompt stays on each side. Both files are written
 * atomically as native prompt rows (`{"id","prompt"}`).
 */
export async function splitPrompts(options: {
  input: string;
  format?: InputFormat | undefined;
  limit?: number | undefined;
  heldOut: number;
  seed: number;
  trainFile: string;
  heldOutFile: string;
}): Promise<PromptSplit> {
  const plan = await planSplit(options);
  await writeJsonlAtomic({ file: options.heldOutFile, rows: plan.heldOut });
  await writeJsonlAtomic({ file: options.trainFile, rows: plan.train });
  return { train: plan.train.length, heldOut: plan.heldOut.length, rejected: plan.rejected };
}

/** The split `splitPrompts` writes, in memory: the train and held-out prompts, each in the input's order. */
export async function planSplit(options: {
  input: string;
  format?: InputFormat | undefined;
  limit?: number | undefined;
  heldOut: number;
  seed: number;
}): Promise<{ train: LoopPrompt[]; heldOut: LoopPrompt[]; rejected: number }> {
  const prompts: LoopPrompt[] = [];
  let rejected = 0;
  for await (const result of readItems({
    file: options.input,
    requireCandidates: false,
    ...(options.format === undefined ? {} : { format: options.format }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  })) {
    if (result.kind === 'item') prompts.push({ id: result.item.id, prompt: result.item.prompt });
    else rejected++;
  }
  if (prompts.length < 2) {
    throw new TribunalError(
      'INPUT_INVALID',
      `${options.input} holds ${prompts.length} usable prompt${prompts.length === 1 ? '' : 's'}${rejected > 0 ? ` (${rejected} lines rejected)` : ''}: the loop needs at least 2, one to train on and one held out`,
      { location: { file: options.input } },
    );
  }
  const ranked = prompts
    .map((prompt) => ({ prompt, key: createHash('sha256').update(`${options.seed}\u0000${prompt.id}`).digest('hex') }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const wanted = options.heldOut < 1 ? Math.round(prompts.length * options.heldOut) : Math.floor(options.heldOut);
  const heldOutCount = Math.min(prompts.length - 1, Math.max(1, wanted));
  const heldOut = new Set(ranked.slice(0, heldOutCount).map((entry) => entry.prompt.id));
  return {
    train: prompts.filter((prompt) => !heldOut.has(prompt.id)),
    heldOut: prompts.filter((prompt) => heldOut.has(prompt.id)),
    rejected,
  };
}

/** Whether a file exists. */
export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
