import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The planted preference of the loop's learning test: the fake judge prefers answers that contain this byte. */
export const MARKER = 'e';

/** `count` native prompt rows (no candidates), written to `file`. */
export async function writePrompts(file: string, count: number): Promise<string> {
  const rows: string[] = [];
  for (let index = 0; index < count; index++) {
    rows.push(JSON.stringify({ id: `p${index}`, prompt: `Prompt ${index}: answer briefly.` }));
  }
  await writeFile(file, `${rows.join('\n')}\n`);
  return file;
}

/** Share of a candidates.jsonl's samples (folded copies counted) that contain the marker. */
export async function markerRate(file: string, marker = MARKER): Promise<{ rate: number; samples: number }> {
  let samples = 0;
  let marked = 0;
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { candidates: { text: string; meta: { copies: number } }[] };
    for (const candidate of row.candidates) {
      samples += candidate.meta.copies;
      if (candidate.text.includes(marker)) marked += candidate.meta.copies;
    }
  }
  return { rate: samples === 0 ? 0 : marked / samples, samples };
}

/** The held-out samples of policy_0 and of policy_{i+1} in a loop directory. */
export const heldOutFiles = (outDir: string, iterations: number): string[] => [
  path.join(outDir, 'held-out-0', 'candidates.jsonl'),
  ...Array.from({ length: iterations }, (_, index) => path.join(outDir, `iter-${index}`, 'held-out', 'candidates.jsonl')),
];

/** The loop settings the learning test and its measurement script share (small: CPU, seconds per iteration). */
export const PLANTED_SETTINGS = {
  prompts: 40,
  heldOut: 10,
  n: 8,
  evalSamples: 8,
  maxTokens: 32,
  epochs: 3,
  iterations: 2,
  /** Every marked sample against every unmarked one of its prompt; pairs of two unmarked samples (noise) dropped. */
  strategy: 'all-pairs',
  minMargin: 3,
} as const;
