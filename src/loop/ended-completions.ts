import { TribunalError } from '../contracts/index.js';
import { writeJsonlAtomic } from '../export/index.js';
import { readCandidatesRows, readJsonl } from './held-out.js';

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
  for (const row of await readCandidatesRows(options.candidatesFile)) {
    for (const candidate of row.candidates) finish.set(key(row.id, candidate.id), candidate.meta.finish);
  }
  let cutOff = 0;
  const rows = await readJsonl(options.pairsFile, (value, line) => {
    const row = value as Record<string, unknown>;
    if (typeof row?.id !== 'string' || typeof row.chosen_id !== 'string' || typeof row.rejected_id !== 'string') {
      throw new TribunalError(
        'INTERNAL',
        `${options.pairsFile} line ${line} has no id, chosen_id and rejected_id: the loop needs TRL pairs written by its label stage`,
        { location: { file: options.pairsFile, line } },
      );
    }
    for (const side of ['chosen', 'rejected'] as const) {
      if (finish.get(key(row.id, row[`${side}_id`] as string)) === 'length') {
        row[`${side}_ended`] = false;
        cutOff++;
      }
    }
    return row;
  });
  await writeJsonlAtomic({ file: options.out, rows });
  return { pairs: rows.length, cutOff };
}

const key = (itemId: string, candidateId: string): string => JSON.stringify([itemId, candidateId]);
