import { type Histogram, histogram } from './distribution.js';

/** One histogram panel of an SVG figure. */
export interface HistogramPanel {
  title: string;
  xLabel: string;
  histogram: Histogram;
  /** Where to put x tick labels, in data units; default: every bin edge. */
  ticks?: Array<{ at: number; label: string }>;
  color?: string;
}

const WIDTH = 720;
const PANEL_HEIGHT = 280;
const MARGIN = { left: 64, right: 24, top: 40, bottom: 56 } as const;

/**
 * Draws histogram panels stacked in one self-contained SVG (no scripts, fonts or external files): bars as
 * `<rect class="bar">` with a `<title>` tooltip each, axes with ticks and labels, and a title per panel.
 */
export function renderHistogramSvg(options: { title: string; panels: readonly HistogramPanel[] }): string {
  const height = 32 + options.panels.length * PANEL_HEIGHT;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  options.panels.forEach((panel, index) => {
    parts.push(renderPanel(panel, 32 + index * PANEL_HEIGHT));
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * The export's figure: a histogram of consensus scores over the panel scale (one bin per scale point) and one of
 * agreement over [0, 1] in ten bins.
 */
export function renderScoreDistributionSvg(options: {
  scores: Iterable<number>;
  agreement: Iterable<number>;
  scale: { min: number; max: number };
  agreementBins?: number;
}): string {
  const { scale } = options;
  const points = Math.round(scale.max - scale.min) + 1;
  const scoreBins = points <= 21 ? points : 20;
  const scoreMin = points <= 21 ? scale.min - 0.5 : scale.min;
  const scoreMax = points <= 21 ? scale.max + 0.5 : scale.max;
  const scores = histogram({ values: options.scores, min: scoreMin, max: scoreMax, bins: scoreBins });
  const agreement = histogram({ values: options.agreement, min: 0, max: 1, bins: options.agreementBins ?? 10 });
  const scoreTicks =
    points <= 21
      ? Array.from({ length: points }, (_, index) => ({ at: scale.min + index, label: String(scale.min + index) }))
      : undefined;
  const scorePanel: HistogramPanel = {
    title: `Consensus score (n = ${sum(scores.counts)})`,
    xLabel: `score on the panel scale ${scale.min}–${scale.max}`,
    histogram: scores,
    color: '#4c72b0',
  };
  if (scoreTicks !== undefined) scorePanel.ticks = scoreTicks;
  return renderHistogramSvg({
    title: 'Score distribution',
    panels: [
      scorePanel,
      {
        title: `Critic agreement per candidate (n = ${sum(agreement.counts)})`,
        xLabel: 'agreement = 1 − spread / scale range',
        histogram: agreement,
        color: '#55a868',
      },
    ],
  });
}

function renderPanel(panel: HistogramPanel, top: number): string {
  const { edges, counts } = panel.histogram;
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const plotTop = top + MARGIN.top;
  const bottom = top + PANEL_HEIGHT - MARGIN.bottom;
  const low = edges[0] ?? 0;
  const high = edges.at(-1) ?? 1;
  const x = (value: number) => left + ((value - low) / (high - low || 1)) * (right - left);
  const yMax = niceCeiling(Math.max(1, ...counts));
  const y = (count: number) => bottom - (count / yMax) * (bottom - plotTop);
  const color = panel.color ?? '#4c72b0';

  const parts = [
    `<g class="panel">`,
    `<text x="${left}" y="${top + 24}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
  ];
  counts.forEach((count, index) => {
    const from = edges[index] ?? low;
    const to = edges[index + 1] ?? high;
    const barX = x(from) + 1;
    const barWidth = Math.max(0, x(to) - x(from) - 2);
    const barY = y(count);
    parts.push(
      `<rect class="bar" x="${fixed(barX)}" y="${fixed(barY)}" width="${fixed(barWidth)}" height="${fixed(bottom - barY)}" fill="${color}">` +
        `<title>${escapeXml(`${fixed(from)}–${fixed(to)}: ${count}`)}</title></rect>`,
    );
  });
  parts.push(`<line class="axis" x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333333"/>`);
  parts.push(`<line class="axis" x1="${left}" y1="${plotTop}" x2="${left}" y2="${bottom}" stroke="#333333"/>`);
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const count = yMax * fraction;
    parts.push(`<line x1="${left - 4}" y1="${fixed(y(count))}" x2="${left}" y2="${fixed(y(count))}" stroke="#333333"/>`);
    parts.push(
      `<text x="${left - 8}" y="${fixed(y(count) + 4)}" text-anchor="end">${Number.isInteger(count) ? count : fixed(count)}</text>`,
    );
  }
  const ticks = panel.ticks ?? edges.map((edge) => ({ at: edge, label: fixed(edge) }));
  for (const tick of ticks) {
    parts.push(`<line x1="${fixed(x(tick.at))}" y1="${bottom}" x2="${fixed(x(tick.at))}" y2="${bottom + 4}" stroke="#333333"/>`);
    parts.push(`<text x="${fixed(x(tick.at))}" y="${bottom + 18}" text-anchor="middle">${escapeXml(tick.label)}</text>`);
  }
  parts.push(`<text x="${(left + right) / 2}" y="${bottom + 40}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`);
  const middle = (plotTop + bottom) / 2;
  parts.push(`<text x="18" y="${middle}" text-anchor="middle" transform="rotate(-90 18 ${middle})">count</text>`);
  parts.push('</g>');
  return parts.join('\n');
}

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function fixed(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
