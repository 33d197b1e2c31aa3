import type { LabelRow } from '../contracts/index.js';

/** A linear length adjustment: score points per character, centred on a mean length. */
export interface LengthAdjustment {
  slopePerChar: number;
  meanLength: number;
}

/**
 * Fits the length adjustment of a run: the least-squares slope of consensus score on answer length (characters)
 * over every scored candidate with a text, and their mean length. Slope 0 when lengths do not vary.
 */
export function fitLengthAdjustment(rows: Iterable<LabelRow>): LengthAdjustment {
  const fitter = lengthFitter();
  for (const row of rows) fitter.add(row);
  return fitter.result();
}

/** `fitLengthAdjustment` one row at a time, for rows that arrive as a stream. */
export function lengthFitter(): { add: (row: LabelRow) => void; result: () => LengthAdjustment } {
  let n = 0;
  let sumX = 0;
  let sumY = 0;
  let sumXY = 0;
  let sumXX = 0;
  return {
    add(row) {
      for (const candidate of row.candidates) {
        if (candidate.score === null || candidate.text === undefined) continue;
        const x = candidate.text.length;
        n++;
        sumX += x;
        sumY += candidate.score;
        sumXY += x * candidate.score;
        sumXX += x * x;
      }
    },
    result() {
      if (n === 0) return { slopePerChar: 0, meanLength: 0 };
      const meanLength = sumX / n;
      const variance = sumXX - n * meanLength * meanLength;
      const slopePerChar = variance <= 1e-9 ? 0 : (sumXY - n * meanLength * (sumY / n)) / variance;
      return { slopePerChar, meanLength };
    },
  };
}

/**
 * A row with length regressed out of its consensus scores (AlpacaEval's length control, linear): each score minus
 * slope × (length − mean length), ranks and ranking recomputed. Critic turns are kept as they were.
 */
export function lengthControlledRow(row: LabelRow, adjustment: LengthAdjustment): LabelRow {
  const candidates = row.candidates.map((candidate) =>
    candidate.score === null || candidate.text === undefined
      ? { ...candidate }
      : { ...candidate, score: candidate.score - adjustment.slopePerChar * (candidate.text.length - adjustment.meanLength) },
  );
  const order = candidates
    .map((candidate, index) => ({ candidate, index }))
    .sort(
      (a, b) =>
        (b.candidate.score ?? Number.NEGATIVE_INFINITY) - (a.candidate.score ?? Number.NEGATIVE_INFINITY) || a.index - b.index,
    );
  for (const [position, entry] of order.entries()) entry.candidate.rank = position + 1;
  return { ...row, candidates, ranking: order.map((entry) => entry.candidate.id) };
}
