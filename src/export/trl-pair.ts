import type { ChatMessage, LabelRow, PairProvenance, PreferencePair } from '../contracts/index.js';
import type { CandidatePair } from './binarize.js';
import { candidateText } from './candidate-text.js';
import { pairUncertainty } from './pair-uncertainty.js';

/**
 * Writes a pair as a TRL preference row with an explicit prompt
 * (https://huggingface.co/docs/trl/dataset_formats, "Preference"): standard (strings) when the prompt is text,
 * conversational (prompt as messages, chosen/rejected as one assistant message each) when it is a chat or when
 * `conversational` is set. Provenance and confidence ride along as extra columns, which TRL ignores; with
 * `uncertainty`, so do the critics' vote distribution, the consensus probability, the disagreement and a suggested
 * label smoothing (see `pairUncertainty`).
 */
export function toTrlPair(options: {
  row: LabelRow;
  pair: CandidatePair;
  conversational?: boolean;
  uncertainty?: boolean;
}): PreferencePair {
  const { row, pair } = options;
  const chosen = candidateText(row, pair.chosen);
  const rejected = candidateText(row, pair.rejected);
  const provenance: PairProvenance = {
    id: row.id,
    chosen_id: pair.chosen.id,
    rejected_id: pair.rejected.id,
    score_chosen: pair.chosen.score,
    score_rejected: pair.rejected.score,
    margin: pair.margin,
    confidence: pair.confidence,
    panel_hash: row.panel.hash,
  };
  if (options.uncertainty === true) {
    const uncertainty = pairUncertainty({ row, chosen: pair.chosen, rejected: pair.rejected });
    if (uncertainty) {
      provenance.votes = uncertainty.votes;
      provenance.consensus_probability = uncertainty.consensusProbability;
      provenance.disagreement = uncertainty.disagreement;
      provenance.label_smoothing = uncertainty.labelSmoothing;
    }
  }
  if (typeof row.prompt === 'string' && options.conversational !== true) {
    return { prompt: row.prompt, chosen, rejected, ...provenance };
  }
  const prompt: ChatMessage[] = typeof row.prompt === 'string' ? [{ role: 'user', content: row.prompt }] : row.prompt;
  return {
    prompt,
    chosen: [{ role: 'assistant', content: chosen }],
    rejected: [{ role: 'assistant', content: rejected }],
    ...provenance,
  };
}
