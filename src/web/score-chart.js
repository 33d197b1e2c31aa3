// A small SVG line chart: each candidate's mean critic score across rounds, on the panel's scale.

import { s } from './dom.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/** The color of the candidate at `index` (shared with the verdict and chips). */
export function candidateColor(index) {
  return COLORS[index % COLORS.length];
}

/**
 * @param {{ series: { candidateId: string, points: { round: number, score: number }[] }[], scale: { min: number, max: number }, rounds: number }} options
 */
export function scoreChart({ series, scale, rounds }) {
  const width = 380;
  const height = 190;
  const pad = { left: 30, right: 50, top: 10, bottom: 26 };
  const maxRound = Math.max(1, rounds);
  const x = (round) => pad.left + (round / maxRound) * (width - pad.left - pad.right);
  const y = (score) => pad.top + (1 - (score - scale.min) / (scale.max - scale.min)) * (height - pad.top - pad.bottom);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': 'score by round' });
  for (const tick of [scale.min, (scale.min + scale.max) / 2, scale.max]) {
    svg.append(
      s('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }),
      s('text', { x: pad.left - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'axis' }, String(tick)),
    );
  }
  for (let round = 0; round <= maxRound; round++) {
    svg.append(s('text', { x: x(round), y: height - 8, 'text-anchor': 'middle', class: 'axis' }, `R${round}`));
  }
  // End labels, nudged apart where lines end close together.
  const labels = series
    .map(({ candidateId, points }, index) => ({ candidateId, index, last: points[points.length - 1] }))
    .filter((label) => label.last !== undefined)
    .map((label) => ({ ...label, y: y(label.last.score) + 4 }))
    .sort((a, b) => a.y - b.y);
  for (let index = 1; index < labels.length; index++) {
    labels[index].y = Math.max(labels[index].y, labels[index - 1].y + 11);
  }
  for (const label of labels) {
    svg.append(
      s('text', { x: x(label.last.round) + 6, y: label.y, fill: candidateColor(label.index), class: 'label' }, label.candidateId),
    );
  }
  series.forEach(({ candidateId, points }, index) => {
    if (points.length === 0) return;
    const color = candidateColor(index);
    svg.append(
      s('polyline', {
        points: points.map((point) => `${x(point.round)},${y(point.score)}`).join(' '),
        fill: 'none',
        stroke: color,
        'stroke-width': 2,
        class: 'series',
        'data-candidate': candidateId,
      }),
    );
    for (const point of points) svg.append(s('circle', { cx: x(point.round), cy: y(point.score), r: 3, fill: color }));
  });
  return svg;
}
