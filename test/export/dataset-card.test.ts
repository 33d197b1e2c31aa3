import { describe, expect, it } from 'vitest';
import {
  binarize,
  createSummaryCollector,
  describeValues,
  escapeXml,
  histogram,
  renderDatasetCard,
  renderHistogramSvg,
  renderScoreDistributionSvg,
  sizeCategory,
} from '../../src/export/index.js';
import { labelRow } from './label-fixtures.js';
import { assertWellFormedXml } from './xml-check.js';

const bars = (svg: string) => svg.match(/<rect class="bar"/g)?.length ?? 0;

describe('distribution helpers', () => {
  it('describeValues gives mean, population stdev and interpolated quartiles', () => {
    expect(describeValues([4, 1, 3, 2])).toEqual({
      count: 4,
      mean: 2.5,
      stdev: Math.sqrt(1.25),
      min: 1,
      q25: 1.75,
      median: 2.5,
      q75: 3.25,
      max: 4,
    });
    expect(describeValues([])).toEqual({
      count: 0,
      mean: null,
      stdev: null,
      min: null,
      q25: null,
      median: null,
      q75: null,
      max: null,
    });
  });

  it('histogram bins values with the last bin closed and drops values outside', () => {
    expect(histogram({ values: [0, 0.05, 0.1, 0.55, 1, 1.2, -0.1], min: 0, max: 1, bins: 10 }).counts).toEqual([
      2, 1, 0, 0, 0, 1, 0, 0, 0, 1,
    ]);
  });

  it('sizeCategory follows the Hugging Face buckets', () => {
    expect([0, 999, 1000, 20_000, 100_000, 5_000_000].map(sizeCategory)).toEqual([
      'n<1K',
      'n<1K',
      '1K<n<10K',
      '10K<n<100K',
      '100K<n<1M',
      '1M<n<10M',
    ]);
  });
});

describe('score-distribution.svg', () => {
  it('draws one bar per score point and ten agreement bars, with axes and labels, as well-formed XML', () => {
    const svg = renderScoreDistributionSvg({
      scores: [1, 2.4, 7, 7.2, 10],
      agreement: [0.5, 0.95, 1],
      scale: { min: 1, max: 10 },
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(bars(svg)).toBe(10 + 10);
    expect(svg.match(/<line class="axis"/g)).toHaveLength(4);
    expect(svg).toContain('Consensus score (n = 5)');
    expect(svg).toContain('Critic agreement per candidate (n = 3)');
    expect(svg).toContain('>count</text>');
    expect(svg).toContain('<title>6.5–7.5: 2</title>');
    assertWellFormedXml(svg);
  });

  it('uses 20 bins for wide scales and escapes titles', () => {
    const svg = renderScoreDistributionSvg({
      scores: [0, 50, 100],
      agreement: [],
      scale: { min: 0, max: 100 },
      agreementBins: 5,
    });
    expect(bars(svg)).toBe(20 + 5);
    assertWellFormedXml(svg);
    const custom = renderHistogramSvg({
      title: 'a <b> & "c"',
      panels: [{ title: 'x<y', xLabel: 'x & y', histogram: { edges: [0, 1, 2], counts: [3, 0] } }],
    });
    expect(bars(custom)).toBe(2);
    expect(custom).toContain(escapeXml('a <b> & "c"'));
    assertWellFormedXml(custom);
  });
});

describe('dataset card', () => {
  function card(options: { rows: ReturnType<typeof labelRow>[]; minMargin?: number }) {
    const collector = createSummaryCollector();
    const binarization = {
      strategy: 'best-vs-random-lower' as const,
      minMargin: options.minMargin ?? 1,
      minAgreement: 0.5,
      seed: 7,
    };
    for (const row of options.rows) collector.add(row, binarize({ row, ...binarization }));
    return renderDatasetCard({
      summary: collector.summary(3),
      binarization,
      pairFormat: 'trl',
      files: { labels: 'labels.jsonl', pairs: 'pairs.jsonl', figure: 'score-distribution.svg' },
      license: 'mit',
      language: ['en'],
    });
  }

  const rows = [
    labelRow({ id: 'a', candidates: [9, 5, 2], meta: { humanPreferred: 'c1' } }),
    labelRow({ id: 'b', candidates: [6, 5.5], meta: { humanPreferred: 'c2' } }),
    labelRow({ id: 'c', candidates: [4, 4] }),
    labelRow({ id: 'd', candidates: [null, null] }),
  ];

  it('opens with Hugging Face YAML front matter: license, task categories, size, tags, configs', () => {
    const text = card({ rows });
    const front = text.split('---\n')[1] ?? '';
    expect(text.startsWith('---\nlicense: mit\n')).toBe(true);
    expect(front).toContain('language:\n- en\n');
    expect(front).toContain('task_categories:\n- text-generation\n- text-classification\n');
    expect(front).toContain('size_categories:\n- n<1K\n');
    expect(front).toMatch(/tags:\n- rlaif\n- preference\n- dpo\n/);
    expect(front).toContain(
      'configs:\n- config_name: pairs\n  data_files: pairs.jsonl\n  default: true\n- config_name: labels\n  data_files: labels.jsonl\n',
    );
    expect(front).toContain('pretty_name: "default preference labels"');
  });

  it('reports counts, panel and models, binarization and filters, statistics, figure and cost', () => {
    const text = card({ rows });
    expect(text).toContain('| input lines rejected at import | 3 |');
    expect(text).toContain('| items exported | 4 |');
    expect(text).toContain('| items labeled (at least one candidate scored) | 3 |');
    expect(text).toContain('| items without any score (every turn failed) | 1 |');
    expect(text).toContain('| preference pairs | 1 |');
    expect(text).toContain('| pairs filtered out by margin (< 1) | 1 |');
    expect(text).toContain('| items whose candidates all tied | 1 |');
    expect(text).toContain('| items with fewer than two scored candidates | 1 |');
    expect(text).toContain('panel `default`, hash `panelhash123`');
    expect(text).toContain('| safety | `fake:a` | 1 |');
    expect(text).toContain('Strategy `best-vs-random-lower`');
    expect(text).toContain('Seed `7`');
    expect(text).toContain('pairs with margin below **1** are dropped');
    expect(text).toContain('(divide by 9 to normalise to 0–1)');
    expect(text).toContain('![Score and agreement distribution](score-distribution.svg)');
    expect(text).toContain('| consensus score, all candidates | 7 | 5.07 |');
    expect(text).toMatch(/\| consensus score, rank 1 \| 3 \| 6\.33 \|/);
    expect(text).toContain('| agreement, all candidates | 7 | 0.90 |');
    expect(text).toContain('scored the human-preferred answer strictly highest in 1 of them (50.0%)');
    expect(text).toContain('16 model calls, 400 input and 200 output tokens, $0.0040 in total');
  });

  it('warns when the labels come from more than one panel configuration', () => {
    const other = labelRow({ id: 'z', candidates: [3, 1] });
    other.panel = { ...other.panel, hash: 'different' };
    expect(card({ rows: [rows[0] ?? other, other] })).toContain('come from 2 different panel configurations');
  });
});
