import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { IterationReport, LoopReport } from '../contracts/index.js';
import { escapeXml, writeFileAtomic } from '../export/index.js';

/** The report types are the zod schemas' (src/contracts/loop-report.ts): the server validates report.json with them. */
export type { FiredStopRule, InitialReport, IterationReport, LoopReport } from '../contracts/index.js';

export const REPORT_FILES = { json: 'report.json', markdown: 'report.md', plots: 'plots' } as const;

/** Writes report.json, report.md and the SVG plots it shows, each atomically. */
export async function writeLoopReport(options: { report: LoopReport; outDir: string }): Promise<string[]> {
  const { report, outDir } = options;
  const files: string[] = [];
  const json = path.join(outDir, REPORT_FILES.json);
  await writeFileAtomic({ file: json, content: `${JSON.stringify(report, null, 2)}\n` });
  files.push(json);
  const plots = plotSpecs(report);
  await mkdir(path.join(outDir, REPORT_FILES.plots), { recursive: true });
  for (const plot of plots) {
    const file = path.join(outDir, REPORT_FILES.plots, `${plot.name}.svg`);
    await writeFileAtomic({ file, content: lineChart(plot) });
    files.push(file);
  }
  const markdown = path.join(outDir, REPORT_FILES.markdown);
  await writeFileAtomic({ file: markdown, content: renderMarkdown(report, plots) });
  files.push(markdown);
  return files;
}

interface Series {
  label: string;
  color: string;
  points: { x: number; y: number | null; low?: number | null; high?: number | null }[];
}

interface PlotSpec {
  name: string;
  title: string;
  yLabel: string;
  /** A horizontal reference line (0.5 for win rates, 0 for KL). */
  guide?: number;
  series: Series[];
}

const interval = (value: [number, number] | null): { low: number | null; high: number | null } =>
  value ? { low: value[0], high: value[1] } : { low: null, high: null };

function plotSpecs(report: LoopReport): PlotSpec[] {
  const rows = report.iterations;
  const x = (row: IterationReport): number => row.iteration + 1;
  const initial = report.initial;
  return [
    {
      name: 'win-rate',
      title: 'Panel win rate of policy_{i+1} (95% interval)',
      yLabel: 'win rate',
      guide: 0.5,
      series: [
        {
          label: 'vs policy_i',
          color: '#1f77b4',
          points: rows.map((row) => ({ x: x(row), y: row.winRate, ...interval(row.winRateInterval) })),
        },
        {
          label: 'vs policy_0',
          color: '#2ca02c',
          points: rows.map((row) => ({ x: x(row), y: row.winRateVsInitial, ...interval(row.winRateVsInitialInterval) })),
        },
        {
          label: 'length-controlled vs policy_i',
          color: '#ff7f0e',
          points: rows.map((row) => ({ x: x(row), y: row.lengthControlledWinRate })),
        },
      ],
    },
    {
      name: 'kl',
      title: 'KL(policy ‖ policy_0), nats per sample (95% interval)',
      yLabel: 'KL',
      guide: 0,
      series: [
        {
          label: 'KL',
          color: '#d62728',
          points: [{ x: 0, y: 0 }, ...rows.map((row) => ({ x: x(row), y: row.kl, ...interval(row.klInterval) }))],
        },
      ],
    },
    {
      name: 'length',
      title: 'Mean tokens per held-out sample',
      yLabel: 'tokens',
      series: [
        {
          label: 'mean tokens',
          color: '#9467bd',
          points: [{ x: 0, y: initial?.meanTokens ?? null }, ...rows.map((row) => ({ x: x(row), y: row.meanTokens }))],
        },
      ],
    },
    {
      name: 'diversity',
      title: 'Diversity of held-out samples',
      yLabel: 'share',
      series: [
        {
          label: 'distinct-2',
          color: '#8c564b',
          points: [{ x: 0, y: initial?.distinct2 ?? null }, ...rows.map((row) => ({ x: x(row), y: row.distinct2 }))],
        },
        {
          label: 'pairwise overlap',
          color: '#e377c2',
          points: [{ x: 0, y: initial?.pairwiseOverlap ?? null }, ...rows.map((row) => ({ x: x(row), y: row.pairwiseOverlap }))],
        },
      ],
    },
  ];
}

/** A small self-contained SVG line chart: x is the policy index (0 = policy_0), y the measure, error bars where given. */
export function lineChart(plot: PlotSpec): string {
  const width = 560;
  const height = 300;
  const margin = { left: 56, right: 16, top: 32, bottom: 64 };
  const values: number[] = [];
  const xs: number[] = [];
  for (const series of plot.series)
    for (const point of series.points) {
      xs.push(point.x);
      for (const value of [point.y, point.low, point.high]) if (typeof value === 'number') values.push(value);
    }
  if (plot.guide !== undefined) values.push(plot.guide);
  let low = values.length > 0 ? Math.min(...values) : 0;
  let high = values.length > 0 ? Math.max(...values) : 1;
  if (high - low < 1e-9) {
    low -= 0.5;
    high += 0.5;
  }
  const pad = (high - low) * 0.08;
  low -= pad;
  high += pad;
  const xMax = Math.max(1, ...xs);
  const sx = (x: number): number => margin.left + (x / xMax) * (width - margin.left - margin.right);
  const sy = (y: number): number => margin.top + ((high - y) / (high - low)) * (height - margin.top - margin.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13">${escapeXml(plot.title)}</text>`,
    `<line x1="${margin.left}" y1="${height - margin.bottom}" x2="${width - margin.right}" y2="${height - margin.bottom}" stroke="#444"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="#444"/>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = low + ((high - low) * tick) / 4;
    parts.push(
      `<text x="${margin.left - 6}" y="${sy(value) + 4}" text-anchor="end">${escapeXml(formatTick(value))}</text>`,
      `<line x1="${margin.left}" y1="${sy(value)}" x2="${width - margin.right}" y2="${sy(value)}" stroke="#eee"/>`,
    );
  }
  for (let x = 0; x <= xMax; x++) {
    parts.push(`<text x="${sx(x)}" y="${height - margin.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  parts.push(
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - margin.bottom + 32}" text-anchor="middle">policy (after iteration)</text>`,
    `<text x="14" y="${(margin.top + height - margin.bottom) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(margin.top + height - margin.bottom) / 2})">${escapeXml(plot.yLabel)}</text>`,
  );
  if (plot.guide !== undefined) {
    parts.push(
      `<line x1="${margin.left}" y1="${sy(plot.guide)}" x2="${width - margin.right}" y2="${sy(plot.guide)}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
  }
  let legendX = margin.left;
  for (const series of plot.series) {
    const known = series.points.filter((point): point is typeof point & { y: number } => typeof point.y === 'number');
    if (known.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${series.color}" stroke-width="2" points="${known.map((point) => `${sx(point.x).toFixed(1)},${sy(point.y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const point of known) {
      if (typeof point.low === 'number' && typeof point.high === 'number') {
        parts.push(
          `<line x1="${sx(point.x)}" y1="${sy(point.low)}" x2="${sx(point.x)}" y2="${sy(point.high)}" stroke="${series.color}" stroke-width="1"/>`,
        );
      }
      parts.push(`<circle cx="${sx(point.x).toFixed(1)}" cy="${sy(point.y).toFixed(1)}" r="3" fill="${series.color}"/>`);
    }
    const legendY = height - 14;
    parts.push(
      `<rect x="${legendX}" y="${legendY - 8}" width="10" height="10" fill="${series.color}"/>`,
      `<text x="${legendX + 14}" y="${legendY + 1}">${escapeXml(series.label)}</text>`,
    );
    legendX += 30 + series.label.length * 6.2;
  }
  parts.push('</svg>\n');
  return parts.join('\n');
}

function formatTick(value: number): string {
  const magnitude = Math.abs(value);
  return magnitude >= 100 ? value.toFixed(0) : magnitude >= 1 ? value.toFixed(1) : value.toFixed(2);
}

const fmt = (value: number | null, digits = 3): string => (value === null ? '—' : value.toFixed(digits));
const pct = (value: number | null): string => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
const range = (value: [number, number] | null, show: (n: number | null) => string): string =>
  value === null ? '' : ` [${show(value[0])}, ${show(value[1])}]`;

/** report.md: what a researcher reads first — the curves, the table, and what the numbers suggest. */
export function renderMarkdown(report: LoopReport, plots: readonly PlotSpec[] = plotSpecs(report)): string {
  const lines: string[] = [];
  const status =
    report.status === 'running'
      ? `running${report.stage ? ` (${report.stage})` : ''}`
      : report.status === 'stopped'
        ? 'stopped by a stop rule'
        : 'done';
  lines.push('# Tribunal loop report', '');
  lines.push(
    `Policy **${report.policy}**, ${report.iterations.length} of ${report.iterationsRequested} iterations, status: **${status}**. ` +
      `Prompts: ${report.prompts.train} to train on, ${report.prompts.heldOut} held out (${report.prompts.file}). ` +
      `DPO reference: ${report.reference === 'initial' ? 'policy_0 (fixed)' : 'the previous policy'}.`,
    '',
  );
  if (report.stoppedBy)
    lines.push(`**Stopped after iteration ${report.iterations.length - 1}:** ${report.stoppedBy.message}`, '');
  for (const plot of plots) lines.push(`![${plot.title}](${REPORT_FILES.plots}/${plot.name}.svg)`);
  lines.push('');
  lines.push(
    '| iteration | win rate vs policy_i | vs policy_0 | length-controlled | KL (nats) | mean tokens | length × | distinct-2 | overlap | mean consensus | pairs | stop rule |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const initial = report.initial;
  if (initial) {
    lines.push(
      `| policy_0 | — | — | — | 0 | ${fmt(initial.meanTokens, 1)} | 1 | ${fmt(initial.distinct2)} | ${fmt(initial.pairwiseOverlap)} | ${fmt(initial.meanConsensus, 2)} | — | — |`,
    );
  }
  for (const row of report.iterations) {
    lines.push(
      `| ${row.iteration} → policy_${row.iteration + 1} | ${pct(row.winRate)}${range(row.winRateInterval, pct)} | ${pct(row.winRateVsInitial)}${range(row.winRateVsInitialInterval, pct)} | ${pct(row.lengthControlledWinRate)} | ${fmt(row.kl)}${range(row.klInterval, (value) => fmt(value))} | ${fmt(row.meanTokens, 1)} | ${fmt(row.lengthDrift, 2)} | ${fmt(row.distinct2)} | ${fmt(row.pairwiseOverlap)} | ${fmt(row.meanConsensus, 2)} | ${row.pairs} | ${row.stopRule ? row.stopRule.rule : ''} |`,
    );
  }
  lines.push('');
  const readings = readingsOf(report);
  if (readings.length > 0) {
    lines.push('## What the numbers suggest', '');
    for (const reading of readings) lines.push(`- ${reading}`);
    lines.push('');
  }
  lines.push(
    '## How to read this',
    '',
    '- **Win rate**: each held-out pair (the new policy’s sample, the old one’s) is debated twice with the order swapped; a pair is a win only when both debates prefer the new sample, a swap-inconsistent pair is a tie. Above 50% with the interval clear of 50% is a real gain *by the panel’s judgment*.',
    '- **Length-controlled win rate**: the win rate two answers of equal length would get. A raw win rate that rises while this one does not is length exploitation, not quality.',
    '- **KL**: how far the policy moved from policy_0. KL rising while the win rate stalls is over-optimisation: the policy is spending its distance on pleasing the panel.',
    '- **Diversity**: falling distinct-2 and rising overlap are mode collapse.',
    '',
    'Every measure is defined in docs/loop.md.',
    '',
  );
  return lines.join('\n');
}

/** Plain-language flags a researcher should look at, from the numbers alone. */
export function readingsOf(report: LoopReport): string[] {
  const readings: string[] = [];
  for (const row of report.iterations) {
    const tag = `Iteration ${row.iteration}`;
    if (row.winRate !== null && row.lengthControlledWinRate !== null && row.winRate - row.lengthControlledWinRate > 0.1) {
      readings.push(
        `${tag}: the raw win rate (${pct(row.winRate)}) is well above the length-controlled one (${pct(row.lengthControlledWinRate)}) — part of the gain is length (mean tokens × ${fmt(row.lengthDrift, 2)} vs policy_0).`,
      );
    }
    if (row.winRateInterval && row.winRateInterval[0] > 0.5) {
      const lengthOnly = row.lengthControlledWinRateInterval !== null && row.lengthControlledWinRateInterval[0] <= 0.5;
      readings.push(
        `${tag}: policy_${row.iteration + 1} beats policy_${row.iteration} by the panel (interval above 50%)${lengthOnly ? ', but not once length is controlled (its length-controlled interval reaches 50%)' : ''}.`,
      );
    } else if (row.winRateInterval && row.winRateInterval[1] < 0.5) {
      readings.push(
        `${tag}: policy_${row.iteration + 1} is worse than policy_${row.iteration} by the panel (interval below 50%).`,
      );
    }
    if (
      initialDistinct(report) !== null &&
      row.distinct2 !== null &&
      (initialDistinct(report) as number) > 0 &&
      row.distinct2 < 0.7 * (initialDistinct(report) as number)
    ) {
      readings.push(`${tag}: distinct-2 fell below 70% of policy_0's — the samples are collapsing.`);
    }
  }
  return readings;
}

const initialDistinct = (report: LoopReport): number | null => report.initial?.distinct2 ?? null;
