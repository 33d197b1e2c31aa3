import { type LabelCandidate, type LabelRow, TribunalError } from '../contracts/index.js';

/** A candidate's text for a preference pair; throws `INPUT_INVALID` when the label row was written without texts. */
export function candidateText(row: LabelRow, candidate: LabelCandidate): string {
  if (candidate.text !== undefined) return candidate.text;
  throw new TribunalError(
    'INPUT_INVALID',
    `label row "${row.id}": candidate "${candidate.id}" has no text, so it cannot go into a preference pair; ` +
      'export labels with candidate texts (omitText: false)',
    { location: { field: `candidates.${candidate.id}.text` } },
  );
}
