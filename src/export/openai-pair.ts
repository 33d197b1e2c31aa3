import type { LabelRow, OpenAiPreferenceRow } from '../contracts/index.js';
import type { CandidatePair } from './binarize.js';
import { candidateText } from './candidate-text.js';

/**
 * Writes a pair as one line of an OpenAI preference (DPO) fine-tuning file: the prompt as `input.messages` (a text
 * prompt becomes one user message), and one assistant message each in `preferred_output` and
 * `non_preferred_output`. No provenance columns: the file holds exactly what the fine-tuning API accepts.
 */
export function toOpenAiPair(options: { row: LabelRow; pair: CandidatePair }): OpenAiPreferenceRow {
  const { row, pair } = options;
  return {
    input: { messages: typeof row.prompt === 'string' ? [{ role: 'user', content: row.prompt }] : row.prompt },
    preferred_output: [{ role: 'assistant', content: candidateText(row, pair.chosen) }],
    non_preferred_output: [{ role: 'assistant', content: candidateText(row, pair.rejected) }],
  };
}
