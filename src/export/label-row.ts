import {
  type Assessment,
  addUsage,
  type CandidateVerdict,
  type DebateEvent,
  type DebateEventOf,
  ERROR_CODES,
  type ErrorCode,
  type ExecutionSummary,
  type FailedTurn,
  type LabelCandidate,
  type LabelPanel,
  type LabelRow,
  type LabelTurn,
  type Prompt,
  type Result,
  TribunalError,
  type TurnError,
  type Usage,
  type VerdictEvent,
  ZERO_USAGE,
} from '../contracts/index.js';
import { labelFlags } from './injection-flags.js';

/** One critic turn as a label needs it; the engine's turn records and `turn-end` events both fit. */
export interface LabelTurnInput {
  round: number;
  criticId: string;
  candidateId: string;
  status: 'ok' | 'failed' | 'cached';
  assessment?: Assessment | undefined;
  /** The principle id the turn was judged by (panel `samplePrinciple`). */
  principle?: string | undefined;
  error?: TurnError | undefined;
  /** The execution results the turn saw (panels with a tool). */
  execution?: readonly ExecutionSummary[] | undefined;
}

/** The parts a label row is built from: the item, the panel, the verdict and every turn. */
export interface LabelRowParts {
  item: {
    id: string;
    prompt: Prompt;
    candidates: ReadonlyArray<{ id: string; text: string; model?: string | undefined }>;
    meta?: Record<string, unknown>;
  };
  panel: LabelPanel;
  verdict: Pick<VerdictEvent, 'candidates' | 'ranking' | 'roundsUsed'> & { rationale?: string | undefined };
  turns: readonly LabelTurnInput[];
  usage: Usage;
  runId?: string;
  debateId?: string;
  /** Drop candidate texts (labels only; pairs need texts). Default false. */
  omitText?: boolean;
}

/**
 * Builds one labels.jsonl row from a finished debate: consensus score, rank and agreement per candidate, each
 * critic's turns by round with score and rationale, failed turns with reasons, usage and panel provenance, and the
 * prompt-injection flags of the prompt and candidates (`flags`, see `detectInjection`).
 * Pairwise-mode turns (candidate ids like `A-vs-B`) carry no per-candidate score and are left out.
 */
export function buildLabelRow(parts: LabelRowParts): LabelRow {
  const { item, panel, verdict } = parts;
  const verdictById = new Map<string, CandidateVerdict>(
    verdict.candidates.map((candidate) => [candidate.candidateId, candidate]),
  );
  const turns = [...parts.turns].sort((a, b) => a.round - b.round);
  const failedTurns: FailedTurn[] = [];
  const critics = new Map<string, Record<string, LabelTurn[]>>(item.candidates.map((candidate) => [candidate.id, {}]));
  const executions = new Map<string, ExecutionSummary>();
  for (const turn of turns) {
    for (const execution of turn.execution ?? []) executions.set(execution.candidateId, execution);
    if (turn.status === 'failed') {
      failedTurns.push({
        round: turn.round,
        criticId: turn.criticId,
        candidateId: turn.candidateId,
        code: turn.error?.code ?? 'UNKNOWN',
        message: turn.error?.message ?? 'no reason recorded',
      });
    }
    const byCritic = critics.get(turn.candidateId);
    if (byCritic === undefined) continue;
    const list = byCritic[turn.criticId] ?? [];
    byCritic[turn.criticId] = list;
    list.push(labelTurn(turn));
  }

  const candidates: LabelCandidate[] = item.candidates.map((candidate, index) => {
    const judged = verdictById.get(candidate.id);
    const label: LabelCandidate = {
      id: candidate.id,
      score: judged?.score ?? null,
      rank: judged?.rank ?? verdict.candidates.length + index + 1,
      agreement: judged?.agreement ?? null,
      mean: judged?.mean ?? null,
      median: judged?.median ?? null,
      stdev: judged?.stdev ?? null,
      turns: judged?.turns ?? 0,
      failedTurns: judged?.failedTurns ?? 0,
      critics: critics.get(candidate.id) ?? {},
    };
    if (parts.omitText !== true) label.text = candidate.text;
    if (candidate.model !== undefined) label.model = candidate.model;
    const execution = executions.get(candidate.id);
    if (execution !== undefined) label.execution = { status: execution.status, passed: execution.passed, total: execution.total };
    return label;
  });

  const row: LabelRow = {
    id: item.id,
    prompt: item.prompt,
    candidates,
    ranking: [...verdict.ranking],
    roundsUsed: verdict.roundsUsed,
    panel,
    usage: parts.usage,
    failedTurns,
  };
  if (verdict.rationale !== undefined) row.rationale = verdict.rationale;
  const flags = labelFlags({ prompt: item.prompt, candidates: item.candidates });
  if (flags !== undefined) row.flags = flags;
  if (parts.runId !== undefined) row.runId = parts.runId;
  if (parts.debateId !== undefined) row.debateId = parts.debateId;
  if (item.meta !== undefined && Object.keys(item.meta).length > 0) row.meta = { ...item.meta };
  return row;
}

/** The panel provenance a label row carries, read from a `debate-start` event. */
export function labelPanelFromStart(start: DebateEventOf<'debate-start'>): LabelPanel {
  const { panel } = start;
  return {
    id: panel.id,
    hash: panel.hash,
    protocol: panel.protocol,
    aggregation: panel.aggregation,
    scale: { min: panel.scale.min, max: panel.scale.max },
    constitution: { ...panel.constitution },
    critics: start.critics.map((critic) => ({ id: critic.id, model: critic.model, weight: critic.weight })),
  };
}

/**
 * Builds a label row from one debate's event stream (as the store keeps it). Fails with the debate's own error
 * when it ended in `debate-error`, and with `INTERNAL` when the stream lacks its start or verdict.
 * @example
 * const label = labelRowFromEvents({ events: store.events(debateId), meta: item.meta });
 * if (label.success) rows.push(label.value);
 */
export function labelRowFromEvents(options: {
  events: Iterable<DebateEvent>;
  /** Item metadata to keep (e.g. `humanPreferred` from the importer). */
  meta?: Record<string, unknown>;
  omitText?: boolean;
}): Result<LabelRow> {
  let start: DebateEventOf<'debate-start'> | undefined;
  let verdict: VerdictEvent | undefined;
  let end: DebateEventOf<'debate-end'> | undefined;
  let failure: DebateEventOf<'debate-error'> | undefined;
  const turns: LabelTurnInput[] = [];
  let turnUsage: Usage = ZERO_USAGE;
  for (const event of options.events) {
    switch (event.type) {
      case 'debate-start':
        start = event;
        break;
      case 'turn-end':
        turns.push(event);
        turnUsage = addUsage(turnUsage, event.usage);
        break;
      case 'verdict':
        verdict = event;
        break;
      case 'debate-end':
        end = event;
        break;
      case 'debate-error':
        failure = event;
        break;
      case 'turn-start':
      case 'turn-delta':
      case 'tool-result':
      case 'round-end':
        break;
      default: {
        const unknown: never = event;
        throw new TribunalError('INTERNAL', `unknown event ${JSON.stringify(unknown)}`);
      }
    }
  }
  const debate = start?.debateId ?? failure?.debateId ?? 'unknown debate';
  if (failure !== undefined && verdict === undefined) {
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(failure.code) ? (failure.code as ErrorCode) : 'INTERNAL';
    return { success: false, error: new TribunalError(code, `debate ${debate} failed and has no label: ${failure.message}`) };
  }
  if (start === undefined || verdict === undefined) {
    const missing = start === undefined ? 'debate-start' : 'verdict';
    return {
      success: false,
      error: new TribunalError('INTERNAL', `debate ${debate} has no ${missing} event; it was interrupted: resume or rerun it`),
    };
  }
  const parts: LabelRowParts = {
    item: { id: start.itemId ?? start.debateId, prompt: start.prompt, candidates: start.candidates },
    panel: labelPanelFromStart(start),
    verdict,
    turns,
    usage: end?.usage ?? turnUsage,
    runId: start.runId,
    debateId: start.debateId,
  };
  if (options.meta !== undefined) parts.item.meta = options.meta;
  if (options.omitText !== undefined) parts.omitText = options.omitText;
  return { success: true, value: buildLabelRow(parts) };
}

function labelTurn(turn: LabelTurnInput): LabelTurn {
  const result: LabelTurn = { round: turn.round, status: turn.status, score: turn.assessment?.score ?? null };
  if (turn.assessment !== undefined) {
    result.confidence = turn.assessment.confidence;
    result.rationale = turn.assessment.rationale;
    result.principles = [...turn.assessment.principles];
  }
  if (turn.principle !== undefined) result.principle = turn.principle;
  if (turn.error !== undefined) result.error = { ...turn.error };
  return result;
}
