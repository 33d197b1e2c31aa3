import { describe, expect, it } from 'vitest';
import { type DebateEvent, type DebateResult, LabelRowSchema } from '../../src/contracts/index.js';
import { buildLabelRow, labelPanelFromStart, labelRowFromEvents } from '../../src/export/index.js';

const base = { runId: 'run-1', debateId: 'debate-1', at: '2025-01-01T00:00:00.000Z' };
const usage = (calls: number) => ({ inputTokens: 10 * calls, outputTokens: 5 * calls, calls, costUsd: 0.001 * calls });

function debateEvents(options: { fail?: boolean } = {}): DebateEvent[] {
  let seq = 0;
  const next = () => ({ ...base, seq: seq++ });
  const turn = (round: number, criticId: string, candidateId: string, score: number | null): DebateEvent => ({
    type: 'turn-end',
    ...next(),
    round,
    criticId,
    candidateId,
    turnId: `${round}/${criticId}/${candidateId}`,
    attempts: score === null ? 3 : 1,
    usage: usage(1),
    ...(score === null
      ? { status: 'failed' as const, error: { code: 'OUTPUT_INVALID', message: 'no JSON after repair' } }
      : {
          status: 'ok' as const,
          assessment: { rationale: `${criticId} on ${candidateId} r${round}`, principles: ['harm'], score, confidence: 0.8 },
        }),
  });
  const events: DebateEvent[] = [
    {
      type: 'debate-start',
      ...next(),
      itemId: 'item-7',
      panel: {
        id: 'default',
        hash: 'h1',
        protocol: 'simultaneous',
        mode: 'pointwise',
        scale: { min: 1, max: 10 },
        maxRounds: 1,
        tolerance: 1,
        aggregation: 'weighted-mean',
        constitution: { id: 'default', version: '1.0', hash: 'c1' },
      },
      critics: [
        { id: 'safety', name: 'Safety', focus: 'harm', weight: 2, model: 'fake:a' },
        { id: 'style', name: 'Style', focus: 'prose', weight: 1, model: 'fake:b' },
      ],
      prompt: [{ role: 'user', content: 'hi' }],
      candidates: [
        { id: 'chosen', text: 'hello' },
        { id: 'rejected', text: 'go away', model: 'm' },
      ],
    },
    turn(1, 'safety', 'chosen', 8),
    turn(0, 'safety', 'chosen', 7),
    turn(0, 'style', 'chosen', 6),
    turn(0, 'safety', 'rejected', 3),
    turn(0, 'style', 'rejected', null),
    { type: 'turn-delta', ...next(), round: 0, criticId: 'safety', candidateId: 'chosen', turnId: 't', text: 'ignored' },
  ];
  if (options.fail) {
    events.push({ type: 'debate-error', ...next(), code: 'BUDGET_EXCEEDED', message: 'budget of $1 spent' });
    return events;
  }
  events.push(
    {
      type: 'verdict',
      ...next(),
      candidates: [
        {
          candidateId: 'chosen',
          score: 7.5,
          rank: 1,
          mean: 7.5,
          median: 7.5,
          stdev: 0.5,
          spread: 1,
          agreement: 0.89,
          turns: 2,
          failedTurns: 0,
          perCritic: { safety: [7, 8], style: [6] },
        },
        {
          candidateId: 'rejected',
          score: 3,
          rank: 2,
          mean: 3,
          median: 3,
          stdev: 0,
          spread: 0,
          agreement: 1,
          turns: 1,
          failedTurns: 1,
          perCritic: { safety: [3], style: [null] },
        },
      ],
      ranking: ['chosen', 'rejected'],
      roundsUsed: 1,
      aggregation: 'weighted-mean',
      rationale: 'chosen is kinder',
    },
    { type: 'debate-end', ...next(), usage: usage(5), turns: 5, failedTurns: 1 },
  );
  return events;
}

describe('labelRowFromEvents', () => {
  it('builds a valid label row: scores, ranks, per-critic turns by round, failed turns, usage and panel', () => {
    const result = labelRowFromEvents({ events: debateEvents(), meta: { humanPreferred: 'chosen' } });
    if (!result.success) throw result.error;
    const row = result.value;
    expect(LabelRowSchema.parse(row)).toEqual(row);
    expect(row).toMatchObject({
      id: 'item-7',
      runId: 'run-1',
      debateId: 'debate-1',
      ranking: ['chosen', 'rejected'],
      roundsUsed: 1,
      rationale: 'chosen is kinder',
      usage: usage(5),
      meta: { humanPreferred: 'chosen' },
      panel: {
        id: 'default',
        hash: 'h1',
        scale: { min: 1, max: 10 },
        critics: [
          { id: 'safety', model: 'fake:a', weight: 2 },
          { id: 'style', model: 'fake:b', weight: 1 },
        ],
      },
    });
    const [chosen, rejected] = row.candidates;
    expect(chosen).toMatchObject({ id: 'chosen', text: 'hello', score: 7.5, rank: 1, agreement: 0.89, turns: 2, failedTurns: 0 });
    expect(chosen?.critics.safety?.map((turn) => [turn.round, turn.score, turn.rationale])).toEqual([
      [0, 7, 'safety on chosen r0'],
      [1, 8, 'safety on chosen r1'],
    ]);
    expect(rejected).toMatchObject({ id: 'rejected', model: 'm', score: 3, rank: 2 });
    expect(rejected?.critics.style).toEqual([
      { round: 0, status: 'failed', score: null, error: { code: 'OUTPUT_INVALID', message: 'no JSON after repair' } },
    ]);
    expect(row.failedTurns).toEqual([
      { round: 0, criticId: 'style', candidateId: 'rejected', code: 'OUTPUT_INVALID', message: 'no JSON after repair' },
    ]);
  });

  it('can leave candidate texts out', () => {
    const result = labelRowFromEvents({ events: debateEvents(), omitText: true });
    expect(result.success && result.value.candidates.every((candidate) => candidate.text === undefined)).toBe(true);
  });

  it("fails with the debate's own error code when it ended in debate-error", () => {
    const result = labelRowFromEvents({ events: debateEvents({ fail: true }) });
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(result.error.code).toBe('BUDGET_EXCEEDED');
      expect(result.error.message).toMatch(/debate debate-1 failed and has no label: budget of \$1 spent/);
    }
  });

  it('fails with INTERNAL when the verdict or the start is missing', () => {
    const events = debateEvents().filter((event) => event.type !== 'verdict');
    const missingVerdict = labelRowFromEvents({ events });
    expect(!missingVerdict.success && missingVerdict.error.message).toMatch(/has no verdict event; .*resume or rerun/);
    const missingStart = labelRowFromEvents({ events: debateEvents().slice(1) });
    expect(!missingStart.success && missingStart.error.code).toBe('INTERNAL');
  });
});

describe('buildLabelRow', () => {
  it('accepts engine-style parts (verdict payload and turn records) and fills unjudged candidates with nulls', () => {
    const events = debateEvents();
    const start = events[0];
    if (start?.type !== 'debate-start') throw new Error('expected debate-start');
    const row = buildLabelRow({
      item: { id: 'x', prompt: 'p', candidates: [...start.candidates, { id: 'late', text: 'not judged' }], meta: {} },
      panel: labelPanelFromStart(start),
      verdict: { candidates: [], ranking: [], roundsUsed: 0 },
      turns: [],
      usage: usage(0),
    });
    expect(LabelRowSchema.safeParse(row).success).toBe(true);
    expect(row.candidates.map((candidate) => [candidate.id, candidate.score, candidate.rank])).toEqual([
      ['chosen', null, 1],
      ['rejected', null, 2],
      ['late', null, 3],
    ]);
    expect(row.meta).toBeUndefined();
  });
});

describe('buildLabelRow with the engine result', () => {
  it("takes a DebateResult's verdict, turns and usage as they are", () => {
    const events = debateEvents();
    const start = events[0];
    const verdict = events.find((event) => event.type === 'verdict');
    if (start?.type !== 'debate-start' || verdict?.type !== 'verdict') throw new Error('expected start and verdict');
    const { type: _type, runId: _runId, debateId: _debateId, seq: _seq, at: _at, ...payload } = verdict;
    const result: DebateResult = {
      runId: 'run-1',
      debateId: 'debate-1',
      itemId: 'item-7',
      protocol: 'simultaneous',
      verdict: payload,
      turns: [
        {
          turnId: '0/safety/chosen',
          round: 0,
          criticId: 'safety',
          candidateId: 'chosen',
          model: 'fake:a',
          status: 'ok',
          assessment: { rationale: 'kind', principles: [], score: 7, confidence: 0.9 },
          usage: usage(1),
          attempts: 1,
        },
      ],
      usage: usage(1),
      failedTurns: 0,
    };
    const row = buildLabelRow({
      item: { id: result.itemId ?? result.debateId, prompt: start.prompt, candidates: start.candidates },
      panel: labelPanelFromStart(start),
      verdict: result.verdict,
      turns: result.turns,
      usage: result.usage,
      runId: result.runId,
      debateId: result.debateId,
    });
    expect(LabelRowSchema.safeParse(row).success).toBe(true);
    expect(row.candidates[0]?.critics.safety).toEqual([
      { round: 0, status: 'ok', score: 7, confidence: 0.9, rationale: 'kind', principles: [] },
    ]);
  });
});
