import path from 'node:path';
import {
  type CandidatesRow,
  type DatasetItem,
  type GeneratedPrompt,
  GeneratedPromptSchema,
  TribunalError,
} from '../contracts/index.js';
import { openAtomicWriter } from '../export/index.js';
import type { Store } from '../store/index.js';

/** The file a generation run writes: the native input format `tribunal label` reads. */
export const CANDIDATES_FILE = 'candidates.jsonl';

/** Importer-added item meta that does not carry over to the candidates file (`humanPreferred` named old candidates). */
const DROPPED_META = new Set(['source', 'conversational', 'humanPreferred']);

/**
 * One candidates.jsonl row from a prompt and its samples: identical texts are folded into the first of them (its
 * `meta.copies` counts them), candidates are named `s<index>` after their sample index (stable across reruns and
 * resumes), and the item's `meta.generation` says how many samples were drawn and how many were duplicates.
 */
export function candidatesRow(options: { item: DatasetItem; generation: GeneratedPrompt }): CandidatesRow {
  const { item, generation } = options;
  const byText = new Map<string, CandidatesRow['candidates'][number]>();
  for (const sample of generation.samples) {
    const seen = byText.get(sample.text);
    if (seen) {
      seen.meta.copies += 1;
      continue;
    }
    byText.set(sample.text, {
      id: `s${sample.index}`,
      text: sample.text,
      model: generation.policy,
      meta: {
        policy: generation.policy,
        sample: sample.index,
        tokens: sample.tokens,
        ...(sample.logprob === null ? {} : { logprob: sample.logprob }),
        ...(sample.ref_logprob === undefined ? {} : { refLogprob: sample.ref_logprob }),
        finish: sample.finish,
        copies: 1,
      },
    });
  }
  const candidates = [...byText.values()];
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item.meta)) if (!DROPPED_META.has(key)) meta[key] = value;
  return {
    id: item.id,
    prompt: item.prompt,
    candidates,
    meta: {
      ...meta,
      generation: {
        policy: generation.policy,
        samples: generation.samples.length,
        unique: candidates.length,
        duplicates: generation.samples.length - candidates.length,
      },
    },
  };
}

/** What `writeCandidatesFile` wrote. */
export interface CandidatesExport {
  file: string;
  /** Rows (prompts with samples). */
  items: number;
  /** Samples drawn, duplicates included. */
  samples: number;
  /** Candidates written (distinct samples). */
  candidates: number;
  /** Samples folded into an identical earlier one. */
  duplicates: number;
  /** Completion tokens over every sample (where the policy reports them). */
  tokens: number;
}

/**
 * Writes DIR/candidates.jsonl from the store, atomically (a temporary file renamed into place), one row per prompt
 * whose samples are stored, in input order. Readers see the previous file or the whole new one.
 */
export async function writeCandidatesFile(options: {
  store: Store;
  runId: string;
  directory: string;
}): Promise<CandidatesExport> {
  const file = path.join(path.resolve(options.directory), CANDIDATES_FILE);
  const writer = await openAtomicWriter({ file });
  const summary: CandidatesExport = { file, items: 0, samples: 0, candidates: 0, duplicates: 0, tokens: 0 };
  try {
    for await (const stored of options.store.iterateGenerated({ runId: options.runId })) {
      const parsed = GeneratedPromptSchema.safeParse(stored.generation);
      if (!parsed.success) {
        throw new TribunalError(
          'STORE_FAILED',
          `item ${stored.itemId} of run ${options.runId} holds no generated samples: is ${options.store.location} a label run's store?`,
        );
      }
      const row = candidatesRow({ item: stored.item, generation: parsed.data });
      summary.items += 1;
      summary.samples += row.meta.generation.samples;
      summary.candidates += row.candidates.length;
      summary.duplicates += row.meta.generation.duplicates;
      summary.tokens += parsed.data.samples.reduce((sum, sample) => sum + (sample.tokens ?? 0), 0);
      await writer.write(`${JSON.stringify(row)}\n`);
    }
    await writer.commit();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return summary;
}
