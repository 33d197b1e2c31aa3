// The Loop view's curves from a loop report (report.json, docs/loop.md): one point per finished iteration at the policy
// it produced (x = i + 1), the baseline policy_0 at x = 0 where it has the measure. A measure the loop could not compute
// (null) is left out, and an interval is kept only when both its ends are numbers. No DOM: tested in Node.

const COLORS = {
  previous: '#1f77b4',
  initial: '#2ca02c',
  lengthControlled: '#ff7f0e',
  kl: '#d62728',
  tokens: '#9467bd',
  distinct: '#8c564b',
};

/** x of an iteration's row: the policy it produced (policy_{i+1}). */
const policyIndex = (row) => row.iteration + 1;

/** Points `{ x, y, low?, high? }` of the rows whose value is a finite number. */
function points(rows, value, interval) {
  const result = [];
  for (const row of rows) {
    const y = value(row);
    if (!Number.isFinite(y)) continue;
    const range = interval?.(row);
    const hasRange = Array.isArray(range) && Number.isFinite(range[0]) && Number.isFinite(range[1]);
    result.push({ x: policyIndex(row), y, ...(hasRange ? { low: range[0], high: range[1] } : {}) });
  }
  return result;
}

/** A policy_0 point at x = 0, when the baseline has the value. */
function baseline(value) {
  return Number.isFinite(value) ? [{ x: 0, y: value }] : [];
}

/**
 * The four charts' series from a loop report (x: 0 = policy_0, i + 1 = policy_{i+1}).
 * @param {any} report
 */
export function loopSeries(report) {
  const rows = Array.isArray(report.iterations) ? report.iterations : [];
  const initial = report.initial ?? {};
  return {
    winRate: [
      {
        id: 'vs-previous',
        label: 'vs i',
        color: COLORS.previous,
        markers: true,
        points: points(
          rows,
          (row) => row.winRate,
          (row) => row.winRateInterval,
        ),
      },
      {
        id: 'vs-initial',
        label: 'vs 0',
        color: COLORS.initial,
        markers: true,
        points: points(
          rows,
          (row) => row.winRateVsInitial,
          (row) => row.winRateVsInitialInterval,
        ),
      },
      {
        id: 'length-controlled',
        label: 'LC',
        color: COLORS.lengthControlled,
        markers: true,
        dashed: true,
        points: points(rows, (row) => row.lengthControlledWinRate),
      },
    ],
    kl: [
      {
        id: 'kl',
        label: 'KL',
        color: COLORS.kl,
        markers: true,
        points: [
          { x: 0, y: 0 },
          ...points(
            rows,
            (row) => row.kl,
            (row) => row.klInterval,
          ),
        ],
      },
    ],
    tokens: [
      {
        id: 'tokens',
        label: 'tokens',
        color: COLORS.tokens,
        markers: true,
        points: [...baseline(initial.meanTokens), ...points(rows, (row) => row.meanTokens)],
      },
    ],
    diversity: [
      {
        id: 'distinct2',
        label: 'dist-2',
        color: COLORS.distinct,
        markers: true,
        points: [...baseline(initial.distinct2), ...points(rows, (row) => row.distinct2)],
      },
    ],
  };
}
