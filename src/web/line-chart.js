// A small SVG line chart of values by training step (the training view's twin of score-chart.js): one polyline per
// series, markers where points are few (always for held-out evaluations), end labels, and min/mid/max ticks. Points
// may carry an interval (`low`, `high`: drawn as a vertical bar), and the x axis may be named (the Loop tab's is the
// policy index).

import { s } from './dom.js';

/** Series with more points than this are drawn as a line only. */
const MAX_MARKERS = 120;

/**
 * @param {{
 *   series: { id: string, label: string, color: string, points: { x: number, y: number, low?: number, high?: number }[], markers?: boolean, dashed?: boolean }[],
 *   xMax: number,
 *   xLabel?: string,
 *   yDomain?: { min: number, max: number },
 *   format: (value: number) => string,
 *   title: string,
 * }} options
 */
export function lineChart({ series, xMax, xLabel = 'step', yDomain, format, title }) {
  const width = 380;
  const height = 190;
  const pad = { left: 46, right: 44, top: 10, bottom: 26 };
  const domain = yDomain ?? dataDomain(series);
  let maxX = Math.max(1, xMax);
  for (const entry of series) for (const point of entry.points) maxX = Math.max(maxX, point.x);
  const x = (value) => pad.left + (value / maxX) * (width - pad.left - pad.right);
  const y = (value) => pad.top + (1 - (value - domain.min) / (domain.max - domain.min)) * (height - pad.top - pad.bottom);
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': describe(series, title, format, xLabel),
  });
  for (const tick of [domain.min, (domain.min + domain.max) / 2, domain.max]) {
    svg.append(
      s('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }),
      s('text', { x: pad.left - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'axis' }, format(tick)),
    );
  }
  // Few whole x values (a loop's iterations): label each; else the first, middle and last.
  const xTicks =
    Number.isInteger(maxX) && maxX <= 8
      ? Array.from({ length: maxX + 1 }, (_, index) => index)
      : [...new Set([0, Math.round(maxX / 2), maxX])];
  for (const tick of xTicks) {
    svg.append(s('text', { x: x(tick), y: height - 8, 'text-anchor': 'middle', class: 'axis' }, String(tick)));
  }
  svg.append(s('text', { x: pad.left - 6, y: height - 8, 'text-anchor': 'end', class: 'axis' }, xLabel));

  // End labels, nudged apart where lines end close together.
  const labels = series
    .map((entry) => ({ entry, last: entry.points[entry.points.length - 1] }))
    .filter((label) => label.last !== undefined)
    .map((label) => ({ ...label, y: y(label.last.y) + 4 }))
    .sort((a, b) => a.y - b.y);
  for (let index = 1; index < labels.length; index++) labels[index].y = Math.max(labels[index].y, labels[index - 1].y + 11);
  for (const label of labels) {
    svg.append(s('text', { x: x(label.last.x) + 6, y: label.y, fill: label.entry.color, class: 'label' }, label.entry.label));
  }

  for (const entry of series) {
    if (entry.points.length === 0) continue;
    svg.append(
      s('polyline', {
        points: entry.points.map((point) => `${round(x(point.x))},${round(y(point.y))}`).join(' '),
        fill: 'none',
        stroke: entry.color,
        'stroke-width': 2,
        ...(entry.dashed ? { 'stroke-dasharray': '5 3' } : {}),
        class: 'series',
        'data-series': entry.id,
        'data-points': entry.points.length,
      }),
    );
    for (const point of entry.points) {
      if (!hasInterval(point)) continue;
      svg.append(
        s('line', {
          x1: round(x(point.x)),
          x2: round(x(point.x)),
          y1: round(y(point.low)),
          y2: round(y(point.high)),
          stroke: entry.color,
          'stroke-width': 1.5,
          'stroke-opacity': 0.6,
          class: 'interval',
          'data-series': entry.id,
        }),
      );
    }
    if (!entry.markers && entry.points.length > MAX_MARKERS) continue;
    for (const point of entry.points) {
      svg.append(
        s(
          'circle',
          {
            cx: round(x(point.x)),
            cy: round(y(point.y)),
            r: entry.markers ? 3.5 : 2,
            fill: entry.color,
            'data-series': entry.id,
          },
          s(
            'title',
            {},
            `${entry.label} · ${xLabel} ${point.x}: ${format(point.y)}${hasInterval(point) ? ` [${format(point.low)}, ${format(point.high)}]` : ''}`,
          ),
        ),
      );
    }
  }
  return svg;
}

/** The y range of the data, padded a little; a flat or empty series still gets a visible range. */
function dataDomain(series) {
  // Loops, not Math.min(...values): a long run has more points than a call takes arguments.
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const entry of series) {
    for (const point of entry.points) {
      min = Math.min(min, point.y, ...(hasInterval(point) ? [point.low] : []));
      max = Math.max(max, point.y, ...(hasInterval(point) ? [point.high] : []));
    }
  }
  if (min > max) return { min: 0, max: 1 };
  if (max - min < 1e-12) {
    const spread = Math.abs(max) * 0.1 || 1;
    min = min >= 0 ? Math.max(0, min - spread) : min - spread;
    max += spread;
  }
  const margin = (max - min) * 0.05;
  // A series that never goes below zero (learning rates, losses) keeps its axis at zero or above.
  return { min: min >= 0 ? Math.max(0, min - margin) : min - margin, max: max + margin };
}

/** Whether a point carries a finite interval to draw. */
function hasInterval(point) {
  return Number.isFinite(point.low) && Number.isFinite(point.high);
}

/** The chart's text alternative: its title and each series' last value. */
function describe(series, title, format, xLabel) {
  const parts = series
    .filter((entry) => entry.points.length > 0)
    .map((entry) => {
      const last = entry.points[entry.points.length - 1];
      return `${entry.label} ${format(last.y)} at ${xLabel} ${last.x} (${entry.points.length} points)`;
    });
  return parts.length === 0 ? `${title}: no data yet` : `${title}: ${parts.join('; ')}`;
}

function round(value) {
  return Math.round(value * 10) / 10;
}
