import { readFile } from 'node:fs/promises';
import { CandidatesRowSchema, TribunalError } from '../contracts/index.js';
import { writeJsonlAtomic } from '../export/index.js';

/** What `markEndedCompletions` wrote. */
export interface EndedCompletions {
  pairs: number;
  /** Completions the policy did not end (sampling stopped at the token limit): trained without EOS. */
  cutOff: number;
}

/**
 * The pairs one loop iteration trains on: the label run's pairs.jsonl with `chosen_ended` / `rejected_ended` set from
 * each sample's finish reason in the generation run's candidates.jsonl — false for a sample cut off at the token
 * limit, so the trainer appends no EOS to it (training EOS after a cut-off sample would teach the policy to stop
 * exactly where sampling was cut, and a pair whose lengths differ only by truncation would say nothing about ending).
 * A sample whose finish reason is unknown keeps the default (ended). Written atomically to `out`.
 */
export async function markEndedCompletions(options: {
  pairsFile: string;
  candidatesFile: string;
  out: string;
}): Promise<EndedCompletions> {
  const finish = new Map<string, string | null>();
  for (const [index, line] of (await readFile(options.candidatesFile, 'utf8')).split('\n').entries()) {
    if (line.trim() === '') continue;
    const parsed = CandidatesRowSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      throw new TribunalError(
        'INTERNAL',
        `${options.candidatesFile} line ${index + 1} is not a candidates row: rerun the loop to rewrite it`,
        {
          location: { file: options.candidatesFile, line: index + 1 },
        },
      );
    }
    for (const candidate of parsed.data.candidates) finish.set(key(parsed.data.id, candidate.id), candidate.meta.finish);
  }
  let pairs = 0;
  let cutOff = 0;
  const rows: Record<string, unknown>[] = [];
  for (const [index, line] of (await readFile(options.pairsFile, 'utf8')).split('\n').entries()) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as Record<string, unknown>;
    if (typeof row.id !== 'string' || typeof row.chosen_id !== 'string' || typeof row.rejected_id !== 'string') {
      throw new TribunalError(
        'INTERNAL',
        `${options.pairsFile} line ${index + 1} has no id, chosen_id and rejected_id: the loop needs TRL pairs written by its label stage`,
        { location: { file: options.pairsFile, line: index + 1 } },
      );
    }
    for (const side of ['chosen', 'rejected'] as const) {
      const reason = finish.get(key(row.id, row[`${side}_id`] as string));
      if (reason === 'length') {
        row[`${side}_ended`] = false;
        cutOff++;
      }
    }
    rows.push(row);
    pairs++;
  }
  await writeJsonlAtomic({ file: options.out, rows });
  return { pairs, cutOff };
}

const key = (itemId: string, candidateId: string): string => JSON.stringify([itemId, candidateId]);
