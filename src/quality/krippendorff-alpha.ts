/**
 * Krippendorff's α for interval data: 1 - D_o / D_e over units rated by two or more raters. `units` holds one list of
 * ratings per unit (missing ratings left out); units with fewer than two ratings are not pairable and are skipped.
 * Null when fewer than two pairable values exist or every value is equal.
 * @example krippendorffAlpha([[1, 1], [3, 3], [5, 4]]) // ≈ 0.93
 */
export function krippendorffAlpha(units: ReadonlyArray<readonly number[]>): number | null {
  const pairable = units.filter((ratings) => ratings.length >= 2);
  const values = pairable.flat();
  const n = values.length;
  if (n < 2) return null;
  // Observed disagreement: within-unit squared differences over ordered pairs, weighted by 1 / (m_u - 1);
  // the sum over ordered pairs of (a - b)^2 is 2 m SS, with SS the sum of squares about the mean.
  let observed = 0;
  for (const ratings of pairable) observed += (2 * ratings.length * sumOfSquares(ratings)) / (ratings.length - 1);
  observed /= n;
  // Expected disagreement: squared differences over all ordered pairs of pairable values.
  const expected = (2 * n * sumOfSquares(values)) / (n * (n - 1));
  if (expected === 0) return null;
  return 1 - observed / expected;
}

function sumOfSquares(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  const average = sum / values.length;
  let squares = 0;
  for (const value of values) squares += (value - average) ** 2;
  return squares;
}
