/** Summary statistics of a list of numbers; every field but `count` is null for an empty list. */
export interface Distribution {
  count: number;
  mean: number | null;
  stdev: number | null;
  min: number | null;
  q25: number | null;
  median: number | null;
  q75: number | null;
  max: number | null;
}

/** Counts of values per bin; `edges` has one more entry than `counts`. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Mean, population standard deviation and quartiles (linear interpolation between order statistics) of `values`. */
export function describeValues(values: readonly number[]): Distribution {
  const count = values.length;
  if (count === 0) return { count, mean: null, stdev: null, min: null, q25: null, median: null, q75: null, max: null };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  const mean = sum / count;
  let squares = 0;
  for (const value of sorted) squares += (value - mean) ** 2;
  return {
    count,
    mean,
    stdev: Math.sqrt(squares / count),
    min: sorted[0] ?? null,
    q25: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q75: quantile(sorted, 0.75),
    max: sorted[count - 1] ?? null,
  };
}

/** The `q` quantile of already sorted values, interpolating linearly (the common "type 7" definition). */
export function quantile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] ?? 0;
  const high = sorted[upper] ?? low;
  return low + (high - low) * (position - lower);
}

/** Bins values into `bins` equal-width bins over [min, max]; the last bin includes `max`, values outside are dropped. */
export function histogram(options: { values: Iterable<number>; min: number; max: number; bins: number }): Histogram {
  const { min, max } = options;
  const bins = Math.max(1, Math.floor(options.bins));
  const width = (max - min) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, index) => min + index * width);
  const counts = new Array<number>(bins).fill(0);
  for (const value of options.values) {
    if (!(value >= min && value <= max)) continue;
    const index = Math.min(bins - 1, Math.floor((value - min) / width));
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return { edges, counts };
}
