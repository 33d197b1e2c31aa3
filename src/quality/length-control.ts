import type { LabelRow } from '../contracts/index.js';
import { fitLengthAdjustment } from '../export/index.js';

/** A length-controlled consensus: the run's score-on-length slope regressed out of every candidate's score. */
export interface LengthControl {
  /** Score points per character removed (the least-squares slope of consensus score on length over the run). */
  slopePerChar: number;
  /** Mean length the adjustment is centred on (a candidate of this length keeps its score). */
  meanLength: number;
  /** itemId -> candidateId -> adjusted score (null when the candidate had none). */
  scores: Map<string, Map<string, number | null>>;
}

/**
 * Length-controlled consensus scores (the idea of AlpacaEval's length-controlled win rate, as a linear
 * adjustment): fits score = a + b * length over every scored candidate of the run and subtracts
 * b * (length - mean length), so a verbose answer no longer wins on length alone.
 * @example const control = lengthControl(rows); control.scores.get(itemId)?.get('chosen')
 */
export function lengthControl(rows: readonly LabelRow[]): LengthControl {
  const { slopePerChar, meanLength } = fitLengthAdjustment(rows);
  const adjusted = new Map<string, Map<string, number | null>>();
  for (const row of rows)
    adjusted.set(
      row.id,
      new Map(
        row.candidates.map((candidate) => [
          candidate.id,
          candidate.score === null
            ? null
            : candidate.score - slopePerChar * ((candidate.text?.length ?? meanLength) - meanLength),
        ]),
      ),
    );
  return { slopePerChar, meanLength, scores: adjusted };
}
