import type { InputFormat } from '../contracts/index.js';
import { readLines } from './read-lines.js';
import { isPlainObject } from './row-parser.js';

/** Which format a file looks like, and on how much evidence. */
export interface FormatDetection {
  format: InputFormat;
  /** Rows whose shape pointed at a format. */
  sampled: number;
  /** False when no sampled row was recognisable and `native` is a default, not a finding. */
  detected: boolean;
}

/** Guesses the format of one parsed row from its keys; `undefined` when nothing points anywhere. */
export function detectRowFormat(value: unknown): InputFormat | undefined {
  if (!isPlainObject(value)) return undefined;
  if ('candidates' in value) return 'native';
  if ('canonical_solution' in value && 'entry_point' in value) return 'humaneval';
  if ('chosen' in value && 'rejected' in value) {
    const { chosen, rejected } = value;
    const dialogue =
      typeof chosen === 'string' &&
      typeof rejected === 'string' &&
      chosen.includes('\n\nHuman:') &&
      chosen.includes('\n\nAssistant:');
    return dialogue && !('prompt' in value) ? 'hh-rlhf' : 'trl';
  }
  if ('prompt' in value || 'messages' in value) return 'native';
  return undefined;
}

/**
 * Reads the first rows of a file (gzipped or not) and picks the format most of the recognisable ones point at;
 * invalid JSON and unrecognisable rows are skipped. Defaults to `native` when none is recognisable.
 * @example const { format } = await detectFormat({ file: 'input.jsonl.gz' });
 */
export async function detectFormat(options: { file: string; sampleRows?: number }): Promise<FormatDetection> {
  const sampleRows = options.sampleRows ?? 20;
  const votes = new Map<InputFormat, number>();
  let sampled = 0;
  for await (const { text } of readLines({ file: options.file })) {
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      continue;
    }
    const format = detectRowFormat(value);
    if (format === undefined) continue;
    votes.set(format, (votes.get(format) ?? 0) + 1);
    sampled += 1;
    if (sampled >= sampleRows) break;
  }
  let best: InputFormat = 'native';
  let bestVotes = 0;
  for (const [format, count] of votes) {
    if (count > bestVotes) {
      best = format;
      bestVotes = count;
    }
  }
  return { format: best, sampled, detected: sampled > 0 };
}
