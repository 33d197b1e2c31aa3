import type { JudgeAgreement } from './agreement.js';
import type { EvalReport } from './eval-report.js';
import type { Estimate } from './stats.js';

const WIDTH = 640;
const BAR = 26;
const LEFT = 170;
const RIGHT = 60;

/**
 * An SVG bar chart of accuracy against the human labels with 95% bootstrap intervals: the consensus, each critic
 * and the "longer answer wins" baseline, with the 50% chance line.
 */
export function accuracySvg(report: EvalReport): string {
  const bars: Array<{ label: string; estimate: Estimate }> = [
    { label: 'consensus', estimate: report.agreement.consensus.accuracy },
    ...Object.entries(report.agreement.critics).map(([id, agreement]) => ({ label: id, estimate: agreement.accuracy })),
    { label: 'length-controlled', estimate: report.lengthControlled.agreement.accuracy },
    { label: 'longer answer wins', estimate: report.agreement.longerAnswer.accuracy },
  ];
  if (report.calibration) bars.push({ label: 'calibrated (held out)', estimate: report.calibration.after.accuracy });
  const plot = WIDTH - LEFT - RIGHT;
  const height = 40 + bars.length * (BAR + 8) + 30;
  const x = (value: number) => LEFT + value * plot;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>Accuracy against human labels (95% bootstrap intervals)</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="20" font-weight="bold">Accuracy against human labels, 95% bootstrap interval</text>`,
  ];
  for (const [index, bar] of bars.entries()) {
    const y = 34 + index * (BAR + 8);
    const value = bar.estimate.value;
    parts.push(`<text x="${LEFT - 8}" y="${y + BAR / 2 + 4}" text-anchor="end">${escapeXml(bar.label)}</text>`);
    if (value === null) {
      parts.push(`<text x="${LEFT + 4}" y="${y + BAR / 2 + 4}" fill="#888">no decided pairs</text>`);
      continue;
    }
    const fill = bar.label === 'consensus' ? '#3366cc' : bar.label.startsWith('calibrated') ? '#2e8b57' : '#8fa8d8';
    parts.push(`<rect x="${LEFT}" y="${y}" width="${(value * plot).toFixed(1)}" height="${BAR}" fill="${fill}"/>`);
    if (bar.estimate.low !== null && bar.estimate.high !== null) {
      const middle = y + BAR / 2;
      parts.push(
        `<line x1="${x(bar.estimate.low).toFixed(1)}" y1="${middle}" x2="${x(bar.estimate.high).toFixed(1)}" y2="${middle}" stroke="#222" stroke-width="2"/>`,
      );
    }
    parts.push(`<text x="${WIDTH - RIGHT + 6}" y="${y + BAR / 2 + 4}">${percent(value)} (n=${bar.estimate.n})</text>`);
  }
  const bottom = 34 + bars.length * (BAR + 8);
  parts.push(`<line x1="${x(0.5)}" y1="28" x2="${x(0.5)}" y2="${bottom}" stroke="#cc3333" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x(0.5)}" y="${bottom + 14}" text-anchor="middle" fill="#cc3333">chance</text>`);
  for (const tick of [0, 0.25, 0.75, 1])
    parts.push(`<text x="${x(tick)}" y="${bottom + 14}" text-anchor="middle" fill="#666">${percent(tick)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The readable report (report.md): agreement, biases, dynamics and calibration, each with how to read it. */
export function reportMarkdown(report: EvalReport, options: { plotFile?: string; coverageFile?: string } = {}): string {
  const { agreement } = report;
  const lines: string[] = [
    `# Label quality: ${report.panel.id}`,
    '',
    `${report.items.labeled} labeled items, ${report.items.gold} with a human label over two candidates (${report.items.skipped} skipped). ` +
      'Intervals are 95% percentile bootstrap intervals over items (seed ' +
      `\`${report.seed}\`). See docs/quality.md for how to read every number.`,
    '',
  ];
  if (options.plotFile) lines.push(`![Accuracy against human labels](${options.plotFile})`, '');
  lines.push(
    '## Agreement with human labels',
    '',
    '| judge | accuracy | 95% CI | ties ½ | Cohen κ | agree | disagree | tie | abstain |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    agreementRow('consensus', agreement.consensus),
    ...Object.entries(agreement.critics).map(([id, value]) => agreementRow(id, value)),
    agreementRow('consensus, length-controlled', report.lengthControlled.agreement),
    agreementRow('longer answer wins', agreement.longerAnswer),
    agreementRow('shorter answer wins', agreement.shorterAnswer),
    '',
    lengthBaselineSentence(report),
    '',
    `The length-controlled consensus removes ${fmt(report.lengthControlled.slopePer1000Chars)} points per 1000 characters ` +
      '(the slope of score on length over this run) before comparing. ' +
      'Reference points: the RLAIF paper reports 78% AI–human agreement against 73–77% between humans; ' +
      'κ near 0 means no better than chance.',
    '',
    '## Biases',
    '',
    `- Length: consensus score vs length Pearson ${fmt(report.lengthBias.pearson)}, Spearman ${fmt(report.lengthBias.spearman)}, ` +
      `slope ${fmt(report.lengthBias.slopePer1000Chars)} points per 1000 characters; the longer answer won ` +
      `${pct(report.lengthBias.longerWins.rate)} of ${report.lengthBias.longerWins.pairs} pairs ` +
      `(humans preferred the longer one in ${pct(report.humanLongerRate)}; MT-Bench found ~68% for GPT-4).`,
    `- Length-dependence on the gold pairs: ${lengthPreferenceSentence(report)}`,
    `- Inter-critic agreement (Krippendorff's α, interval, final scores): ${fmt(report.interCriticAlpha)}.`,
  );
  const position = Object.entries(report.position);
  if (position.length === 0)
    lines.push('- Position: not measured (needs panel `mode: pairwise`, which judges every pair in both orders).');
  else
    for (const [id, stats] of position)
      lines.push(
        `- Position, ${id}: same verdict after swap in ${pct(stats.consistency)} of ${stats.swappedPairs} pairs; ` +
          `picked the first-shown answer in ${pct(stats.firstShownRate)} of decided verdicts (MT-Bench: GPT-4 65% consistent).`,
      );
  if (report.selfPreference.length === 0)
    lines.push('- Self-preference: no candidate shares a model family with a critic (or models unknown).');
  for (const flag of report.selfPreference)
    lines.push(
      `- Self-preference, ${flag.criticId} (${flag.family}): scored ${flag.sameFamily} own-family candidates ` +
        `${fmt(flag.scoreGap)} points above the ${flag.otherFamily} others.`,
    );
  const { injection } = report;
  const byFlag = Object.entries(injection.byFlag)
    .filter(([, count]) => count > 0)
    .map(([flag, count]) => `${flag} ${count}`)
    .join(', ');
  lines.push(
    injection.rows === 0
      ? '- Prompt injection: no prompt or candidate was flagged (docs/prompt-injection.md).'
      : `- Prompt injection: ${injection.candidates} candidates and ${injection.prompts} prompts in ${injection.rows} items flagged ` +
          `(${byFlag}); the panel ranked ${injection.flaggedRankedFirst} flagged candidates first.`,
  );
  lines.push(
    '',
    '## Debate dynamics',
    '',
    '| round | critic | turns | changed | mean abs change | toward others | conformity |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [roundNumber, critics] of Object.entries(report.dynamics.rounds))
    for (const [id, stats] of Object.entries(critics))
      lines.push(
        `| ${roundNumber} | ${id} | ${stats.turns} | ${stats.changed} | ${fmt(stats.meanAbsoluteChange)} | ${pct(stats.towardOthers)} | ${fmt(stats.conformity)} |`,
      );
  const overall = report.dynamics.overall;
  lines.push(
    `| all | all | ${overall.turns} | ${overall.changed} | ${fmt(overall.meanAbsoluteChange)} | ${pct(overall.towardOthers)} | ${fmt(overall.conformity)} |`,
    '',
    `Krippendorff's α by round: ${
      Object.entries(report.dynamics.alphaByRound)
        .map(([r, a]) => `round ${r}: ${fmt(a)}`)
        .join(', ') || 'n/a'
    }.`,
    '',
  );
  lines.push(...failureLines(report.failures));
  if (report.calibration) {
    const calibration = report.calibration;
    lines.push(
      '## Calibration',
      '',
      `Logistic regression on ${calibration.fit.trainingPairs} training pairs; checked on ${calibration.heldOutPairs} held-out pairs.`,
      '',
      '| critic | weight before | coefficient | coefficient without L2 | weight after |',
      '| --- | --- | --- | --- | --- |',
      ...Object.keys(calibration.fit.weights).map(
        (id) =>
          `| ${id} | ${fmt(calibration.weightsBefore[id] ?? null)} | ${fmt(calibration.fit.coefficients[id] ?? null)} | ` +
          `${fmt(calibration.fit.unpenalizedCoefficients?.[id] ?? null)} | ${fmt(calibration.fit.weights[id] ?? null)} |`,
      ),
      '',
      `Coefficients are per scale range of score difference; the L2 penalty (${fmt(calibration.fit.l2 ?? null)}) applies to ` +
        "standardised differences (each critic's over its spread), so it does not favour a critic for its score scale.",
      '',
      `Bias term (log-odds toward the seeded answer A): ${fmt(calibration.fit.bias)}.`,
      '',
      '| held out | accuracy | 95% CI | Cohen κ |',
      '| --- | --- | --- | --- |',
      `| before | ${pct(calibration.before.accuracy.value)} | ${ci(calibration.before.accuracy)} | ${fmt(calibration.before.kappa.value)} |`,
      `| after | ${pct(calibration.after.accuracy.value)} | ${ci(calibration.after.accuracy)} | ${fmt(calibration.after.kappa.value)} |`,
      '',
    );
  }
  lines.push(...escalationLines(report, options.coverageFile));
  return `${lines.join('\n')}\n`;
}

/** The agreement-vs-coverage section: the curve as a table and, with a target, the chosen threshold and its hold-out. */
function escalationLines(report: EvalReport, coverageFile: string | undefined): string[] {
  const { escalation } = report;
  const lines = [
    '## Agreement vs coverage (escalation)',
    '',
    'Items whose consensus probability (weighted share of critics ranking the top answer above the runner-up) is below ' +
      "a threshold go to a human (panel `escalate`). Agreement is the consensus's accuracy on the pairs the panel keeps " +
      `(ties as misses, 95% bootstrap CI); ${escalation.withoutProbability} pairs without a probability are always kept.`,
    '',
  ];
  if (coverageFile) lines.push(`![Agreement vs share escalated](${coverageFile})`, '');
  lines.push(
    '| threshold | kept | escalated | agreement | 95% CI |',
    '| --- | --- | --- | --- | --- |',
    ...escalation.points.map(
      (point) =>
        `| ${point.threshold.toFixed(2)} | ${point.kept} | ${pct(point.escalated)} | ${pct(point.agreement.value)} | ${ci(point.agreement)} |`,
    ),
    '',
  );
  const target = escalation.target;
  if (target) {
    lines.push(
      `Target agreement ${percent(target.target)}: thresholds tested on ${target.calibrationPairs} calibration pairs, strictest first ` +
        `(binomial test at δ = ${target.delta}, stopping at the first that fails); checked on ${target.heldOutPairs} held-out pairs.`,
      '',
    );
    if (target.threshold === null || !target.calibration || !target.heldOut) {
      lines.push('No threshold certified the target on the calibration split: escalate everything, or lower the target.', '');
    } else {
      lines.push(
        `Chosen threshold **${target.threshold.toFixed(2)}**: calibration agreement ${pct(target.calibration.agreement.value)} ` +
          `escalating ${pct(target.calibration.escalated)}; held out ${pct(target.heldOut.agreement.value)} (${ci(target.heldOut.agreement)}) ` +
          `escalating ${pct(target.heldOut.escalated)}, ${target.heldOutReached === true ? 'reaching' : target.heldOutReached === false ? 'below' : 'n/a against'} the target.`,
        '',
      );
    }
  }
  return lines;
}

/**
 * An SVG line plot of agreement (with its 95% interval) against the share escalated, one point per threshold; the
 * target agreement, when set, as a dashed line.
 */
export function coverageSvg(report: EvalReport): string {
  const height = 300;
  const top = 34;
  const bottom = height - 40;
  const left = 60;
  const right = WIDTH - 30;
  const x = (share: number) => left + share * (right - left);
  const y = (value: number) => bottom - value * (bottom - top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    '<title>Agreement with human labels against the share escalated</title>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-weight="bold">Agreement on kept pairs vs share escalated (95% bootstrap interval)</text>`,
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#666"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#666"/>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<text x="${x(tick).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#666">${percent(tick)}</text>`);
    parts.push(`<text x="${left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#666">${percent(tick)}</text>`);
  }
  parts.push(`<text x="${(left + right) / 2}" y="${height - 6}" text-anchor="middle">share escalated to a human</text>`);
  const target = report.escalation.target;
  if (target) {
    parts.push(
      `<line x1="${left}" y1="${y(target.target).toFixed(1)}" x2="${right}" y2="${y(target.target).toFixed(1)}" stroke="#cc3333" stroke-dasharray="4 3"/>`,
      `<text x="${right}" y="${(y(target.target) - 4).toFixed(1)}" text-anchor="end" fill="#cc3333">target ${percent(target.target)}</text>`,
    );
  }
  const points = report.escalation.points.filter(
    (point): point is typeof point & { escalated: number; agreement: Estimate & { value: number } } =>
      point.escalated !== null && point.agreement.value !== null,
  );
  for (const point of points) {
    if (point.agreement.low !== null && point.agreement.high !== null)
      parts.push(
        `<line x1="${x(point.escalated).toFixed(1)}" y1="${y(point.agreement.low).toFixed(1)}" x2="${x(point.escalated).toFixed(1)}" y2="${y(point.agreement.high).toFixed(1)}" stroke="#8fa8d8" stroke-width="2"/>`,
      );
  }
  if (points.length > 1)
    parts.push(
      `<polyline fill="none" stroke="#3366cc" stroke-width="2" points="${points
        .map((point) => `${x(point.escalated).toFixed(1)},${y(point.agreement.value).toFixed(1)}`)
        .join(' ')}"/>`,
    );
  for (const point of points)
    parts.push(
      `<circle cx="${x(point.escalated).toFixed(1)}" cy="${y(point.agreement.value).toFixed(1)}" r="3" fill="#3366cc"><title>threshold ${point.threshold.toFixed(2)}: ${percent(point.agreement.value)} on ${point.kept} kept</title></circle>`,
    );
  if (points.length === 0) parts.push(`<text x="${left + 8}" y="${(top + bottom) / 2}" fill="#888">no decided gold pairs</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** "Always picking the longer answer scores X, the shorter Y; the consensus is Z points above the better (shorter)." */
function lengthBaselineSentence(report: EvalReport): string {
  const { longer, shorter, better, consensusMargin } = report.lengthBaselines;
  if (better === null) return 'Length baselines: n/a (no gold pairs).';
  return (
    `Length baselines: always picking the longer answer scores ${pct(longer)}, the shorter ${pct(shorter)}; ` +
    (consensusMargin === null
      ? 'the consensus decided no pair.'
      : `the consensus is ${Math.abs(consensusMargin * 100).toFixed(1)} points ${consensusMargin >= 0 ? 'above' : 'below'} ` +
        `the better of the two (${better}). A panel that does not beat the better one is not shown to measure more than length.`)
  );
}

/** The panel's longer-answer rate against the humans' on the same pairs, with what the gap means. */
function lengthPreferenceSentence(report: EvalReport): string {
  const { pairs, panelLongerRate, humanLongerRate } = report.lengthPreference;
  if (panelLongerRate === null || humanLongerRate === null) return 'no decided pair of unequal length.';
  const gap = (panelLongerRate - humanLongerRate) * 100;
  return (
    `the panel preferred the longer answer in ${pct(panelLongerRate)} of ${pairs} decided pairs of unequal length, ` +
    `the humans in ${pct(humanLongerRate)} of the same pairs (${gap >= 0 ? '+' : '−'}${Math.abs(gap).toFixed(1)} points; ` +
    'a pure length judge would show 100%).'
  );
}

function agreementRow(label: string, value: JudgeAgreement): string {
  const { counts } = value;
  return `| ${label} | ${pct(value.accuracy.value)} | ${ci(value.accuracy)} | ${pct(value.accuracyTiesHalf)} | ${fmt(value.kappa.value)} | ${counts.agree} | ${counts.disagree} | ${counts.tie} | ${counts.abstain} |`;
}

function ci(estimate: Estimate): string {
  return estimate.low === null || estimate.high === null ? 'n/a' : `${percent(estimate.low)}–${percent(estimate.high)}`;
}

function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? 'n/a' : percent(value);
}

function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

function fmt(value: number | null | undefined): string {
  return value === null || value === undefined ? 'n/a' : String(Math.round(value * 1000) / 1000);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The failed-turns section: counts by error code, refusals and truncations by the provider's stop reason. */
function failureLines(failures: EvalReport['failures']): string[] {
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([key, count]) => `${key} ${count}`)
      .join(', ');
  const lines = ['## Failed turns', ''];
  if (failures.failed === 0) return [...lines, `- None of ${failures.turns} critic turns failed.`, ''];
  lines.push(`- ${failures.failed} of ${failures.turns} critic turns failed: ${list(failures.byCode)}.`);
  const refused = Object.values(failures.refusals).reduce((sum, count) => sum + count, 0);
  if (refused > 0) {
    lines.push(
      `- Refused (the model declined or a content filter stopped it; these turns are not scored): ${refused}, by stop reason: ${list(failures.refusals)}.`,
    );
  }
  const truncated = Object.values(failures.truncations).reduce((sum, count) => sum + count, 0);
  if (truncated > 0)
    lines.push(
      `- Cut at the token limit (raise the panel's \`maxTokens\`): ${truncated}, by stop reason: ${list(failures.truncations)}.`,
    );
  return [...lines, ''];
}
