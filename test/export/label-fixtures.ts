import type { LabelCandidate, LabelPanel, LabelRow, Prompt } from '../../src/contracts/index.js';

/** A small panel provenance block for hand-built label rows. */
export const PANEL: LabelPanel = {
  id: 'default',
  hash: 'panelhash123',
  protocol: 'simultaneous',
  aggregation: 'weighted-mean',
  scale: { min: 1, max: 10 },
  constitution: { id: 'default', version: '1.0', hash: 'consthash' },
  critics: [
    { id: 'safety', model: 'fake:a', weight: 1 },
    { id: 'efficiency', model: 'fake:b', weight: 1 },
  ],
};

/** A candidate spec: a score (null = unscored) and optionally its agreement and id. */
export type CandidateSpec = number | null | { score: number | null; agreement?: number | null; id?: string };

/** Builds a label row whose candidates have the given scores; ranks follow score order, ties by position. */
export function labelRow(options: {
  id?: string;
  prompt?: Prompt;
  candidates: CandidateSpec[];
  meta?: Record<string, unknown>;
}): LabelRow {
  const specs = options.candidates.map((spec, index) => {
    const value = typeof spec === 'object' && spec !== null ? spec : { score: spec };
    return {
      id: value.id ?? `c${index + 1}`,
      score: value.score,
      agreement: value.agreement === undefined ? 0.9 : value.agreement,
      index,
    };
  });
  const order = [...specs].sort(
    (a, b) => (b.score ?? Number.NEGATIVE_INFINITY) - (a.score ?? Number.NEGATIVE_INFINITY) || a.index - b.index,
  );
  const candidates: LabelCandidate[] = specs.map((spec) => ({
    id: spec.id,
    text: `answer ${spec.id}`,
    score: spec.score,
    rank: order.indexOf(spec) + 1,
    agreement: spec.score === null ? null : spec.agreement,
    mean: spec.score,
    median: spec.score,
    stdev: spec.score === null ? null : 0.5,
    turns: spec.score === null ? 0 : 2,
    failedTurns: spec.score === null ? 2 : 0,
    critics: {
      safety: [{ round: 0, status: spec.score === null ? 'failed' : 'ok', score: spec.score, rationale: 'fine' }],
    },
  }));
  const row: LabelRow = {
    id: options.id ?? 'item-1',
    prompt: options.prompt ?? 'What is the capital of France?',
    candidates,
    ranking: order.map((spec) => spec.id),
    roundsUsed: 1,
    panel: PANEL,
    usage: { inputTokens: 100, outputTokens: 50, calls: 4, costUsd: 0.001 },
    failedTurns: [],
  };
  if (options.meta !== undefined) row.meta = options.meta;
  return row;
}
