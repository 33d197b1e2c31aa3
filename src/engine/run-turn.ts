import type { BaseMessage } from '@langchain/core/messages';
import { z } from 'zod';
import {
  type Assessment,
  assessmentSchema,
  type Critic,
  type PairwiseJudgment,
  pairwiseJudgmentSchema,
  type Scale,
  TribunalError,
  type TurnRecord,
} from '../contracts/index.js';
import type { StructuredRequest } from '../models/index.js';
import type { DebateContext } from './debate-context.js';
import { type Subject, VERIFIER_MODEL } from './debate-setup.js';
import type { DebateEventInit } from './event-emitter.js';
import { type CandidateExecution, executionSummary, passRateOf } from './tool-execution.js';
import { type CachedCriticTurn, criticTurnKey } from './turn-cache.js';
import { TurnDeltaBuffer } from './turn-delta-buffer.js';

const assessmentSchemas = new Map<string, ReturnType<typeof assessmentSchema>>();
const pairwiseSchemas = new Map<string, ReturnType<typeof pairwiseJudgmentSchema>>();

/** The assessment schema of a scale and constitution, built once so the model wrapper's JSON Schema cache hits. */
export function assessmentSchemaFor(scale: Scale, principleIds: readonly string[] = []): ReturnType<typeof assessmentSchema> {
  const key = `${scale.min}:${scale.max}:${principleIds.join(',')}`;
  let schema = assessmentSchemas.get(key);
  if (!schema) {
    schema = assessmentSchema(scale, principleIds);
    assessmentSchemas.set(key, schema);
  }
  return schema;
}

/** The pairwise judgment schema of a constitution, built once per set of principle ids. */
export function pairwiseSchemaFor(principleIds: readonly string[] = []): ReturnType<typeof pairwiseJudgmentSchema> {
  const key = principleIds.join(',');
  let schema = pairwiseSchemas.get(key);
  if (!schema) {
    schema = pairwiseJudgmentSchema(principleIds);
    pairwiseSchemas.set(key, schema);
  }
  return schema;
}

/** What the chair returns: the consensus rationale. */
export const ChairRationaleSchema = z
  .object({
    rationale: z.string().min(1).describe('Why the candidates rank as they do, where the critics agreed and disagreed.'),
  })
  .strict();

/** The id of a turn, unique within a debate. */
export function turnIdOf(options: { round: number; criticId: string; candidateId: string }): string {
  return `${options.round}/${options.criticId}/${options.candidateId}`;
}

/**
 * Runs one critic turn: emits turn-start, streams turn-delta events from the model's tokens, and emits
 * turn-end. A turn whose structured call fails (after the wrapper's retries and repair) is returned as
 * failed, never thrown; cancellation is thrown as an ABORTED TribunalError. With a turn cache in the context,
 * a turn whose key (`criticTurnKey`) is cached makes no model call: its turn-end has status `cached` and zero
 * usage, and the record is `ok`; successful calls are cached. Cache failures only cost the cache hit.
 */
export async function runTurn(options: {
  context: DebateContext;
  emit: (event: DebateEventInit) => void;
  critic: Critic;
  model: string;
  subject: Subject;
  round: number;
  scale: Scale;
  /** The constitution's principle ids: the only ids a critic may cite. */
  principleIds?: readonly string[];
  /** The id of the principle this turn is judged by, when the panel samples one: recorded on the turn. */
  principle?: string;
  messages: BaseMessage[];
  temperature: number;
  maxTokens: number;
  /** The sandbox runs of the subject's candidates (in subject order), when the panel has a critic with a tool. */
  executions?: readonly CandidateExecution[];
}): Promise<TurnRecord> {
  const { context, emit, critic, subject, round } = options;
  const signal = context.signal;
  if (signal?.aborted) throw abortError(signal);
  if (critic.kind === 'verifier') return verifierTurn(options);
  const model = await context.models.resolve(options.model);
  const criticId = critic.id;
  const candidateId = subject.id;
  const turnId = turnIdOf({ round, criticId, candidateId });
  // Events are written out field by field: `{ type, ...tag }` (a spread after a property) is V8's slow object copy.
  emit({ type: 'turn-start', round, criticId, candidateId, turnId, model: options.model });
  const turn = { round, criticId, candidateId };
  // Fields are assigned in the order the literal with conditional spreads gave them (the JSON of records and events
  // is unchanged), without the temporary object each spread allocates.
  const record = { turnId, round, criticId, candidateId } as TurnRecord;
  if (subject.pair !== undefined) record.pair = subject.pair;
  if (options.principle !== undefined) record.principle = options.principle;
  record.model = options.model;
  record.status = 'failed';
  record.usage = { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };
  record.attempts = 1;
  if (options.executions !== undefined) record.execution = options.executions.map(executionSummary);
  const pairwise = subject.pair !== undefined;
  const schema: z.ZodType<Assessment | PairwiseJudgment> = pairwise
    ? pairwiseSchemaFor(options.principleIds)
    : assessmentSchemaFor(options.scale, options.principleIds);
  const schemaName = pairwise ? 'pairwise_judgment' : 'assessment';
  const cache = context.turnCache;
  let cached = false;
  const key =
    cache &&
    criticTurnKey({
      messages: options.messages,
      model: options.model,
      schemaName,
      scale: options.scale,
      temperature: options.temperature,
      maxTokens: options.maxTokens,
      personaHash: critic.hash,
      turn,
    });
  if (cache && key) {
    const hit = await cache.getTurn({ key }).catch(() => undefined);
    // A miss is not parsed: zod would build an error (issues and all) for every uncached turn.
    const value = hit === undefined ? undefined : schema.safeParse(pairwise ? hit.judgment : hit.assessment);
    if (value?.success) {
      record.status = 'ok';
      record.usage = { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };
      cached = true;
      keepValue(record, pairwise, value.data);
    }
  }
  if (!cached) {
    // With `deltaIntervalMs`, tokens are joined into fewer deltas (nobody in process watches each one).
    const deltas =
      context.deltaIntervalMs === undefined
        ? undefined
        : new TurnDeltaBuffer({ emit, turn: { round, criticId, candidateId, turnId }, intervalMs: context.deltaIntervalMs });
    const request: StructuredRequest<Assessment | PairwiseJudgment> = {
      schema,
      schemaName,
      messages: options.messages,
      temperature: options.temperature,
      maxTokens: options.maxTokens,
      onToken: deltas === undefined ? deltaEmitter(emit, round, criticId, candidateId, turnId) : deltas.onToken,
      turn,
    };
    if (signal !== undefined) request.signal = signal;
    let outcome: Awaited<ReturnType<typeof model.structured<Assessment | PairwiseJudgment>>>;
    try {
      outcome = await model.structured(request);
    } finally {
      deltas?.flush();
    }
    if (!outcome.success && (signal?.aborted || outcome.error.code === 'ABORTED')) throw abortError(signal, outcome.error);
    record.usage = outcome.usage;
    record.attempts = Math.max(1, outcome.attempts);
    if (outcome.success) {
      record.status = 'ok';
      keepValue(record, pairwise, outcome.value);
      if (cache && key) {
        const entry: CachedCriticTurn = { model: options.model, usage: outcome.usage };
        if (record.assessment !== undefined) entry.assessment = record.assessment;
        if (record.judgment !== undefined) entry.judgment = record.judgment;
        await cache.putTurn({ key, turn: entry }).catch(() => undefined);
      }
    } else {
      // A refusal or truncation keeps the provider's stop reason and what the model said, so reports count it by cause.
      record.error = { code: outcome.error.code, message: outcome.error.message };
      if (outcome.stopReason !== undefined) record.error.stopReason = outcome.stopReason.slice(0, 100);
      if (outcome.refusal !== undefined) record.error.refusal = outcome.refusal;
    }
  }
  const end = {
    type: 'turn-end',
    round,
    criticId,
    candidateId,
    turnId,
    status: cached ? 'cached' : record.status,
  } as Extract<DebateEventInit, { type: 'turn-end' }>;
  if (record.assessment !== undefined) end.assessment = record.assessment;
  if (record.judgment !== undefined) end.judgment = record.judgment;
  if (record.principle !== undefined) end.principle = record.principle;
  if (record.error !== undefined) end.error = record.error;
  end.usage = record.usage;
  end.attempts = record.attempts;
  if (record.execution !== undefined) end.execution = record.execution;
  emit(end);
  return record;
}

/**
 * A verifier's turn: no model call. Pointwise, its score is the share of tests passed on the panel's scale
 * (`min + rate × (max − min)`), with confidence 1 when the item has tests (0.5 when the program only ran alone);
 * pairwise, it prefers the answer with the higher share (a tie when equal). Its rationale is the count and the first
 * error. Usage is zero; a verifier keeps the same verdict every round, since the code and tests do not change.
 */
function verifierTurn(options: Parameters<typeof runTurn>[0]): TurnRecord {
  const { emit, critic, subject, round, scale } = options;
  const criticId = critic.id;
  const candidateId = subject.id;
  const turnId = turnIdOf({ round, criticId, candidateId });
  emit({ type: 'turn-start', round, criticId, candidateId, turnId, model: VERIFIER_MODEL });
  const record = { turnId, round, criticId, candidateId } as TurnRecord;
  if (subject.pair !== undefined) record.pair = subject.pair;
  record.model = VERIFIER_MODEL;
  record.usage = { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };
  record.attempts = 1;
  const executions = options.executions ?? [];
  if (executions.length !== subject.candidates.length) {
    record.status = 'failed';
    record.error = { code: 'INTERNAL', message: 'the verifier has no execution result for this candidate' };
  } else {
    record.status = 'ok';
    record.execution = executions.map(executionSummary);
    const withTests = executions.every((execution) => execution.withTests);
    const confidence = withTests ? 1 : 0.5;
    if (subject.pair === undefined) {
      const execution = executions[0] as CandidateExecution;
      const rate = passRateOf(execution.result);
      record.assessment = {
        rationale: verifierRationale(execution),
        principles: [],
        score: scale.min + rate * (scale.max - scale.min),
        confidence,
      };
    } else {
      const [a, b] = executions.map((execution) => passRateOf(execution.result)) as [number, number];
      record.judgment = {
        rationale: executions.map((execution, index) => `${index === 0 ? 'A' : 'B'}: ${verifierRationale(execution)}`).join(' '),
        principles: [],
        preferred: a > b ? 'A' : b > a ? 'B' : 'tie',
        confidence,
      };
    }
  }
  const end = { type: 'turn-end', round, criticId, candidateId, turnId, status: record.status } as Extract<
    DebateEventInit,
    { type: 'turn-end' }
  >;
  if (record.assessment !== undefined) end.assessment = record.assessment;
  if (record.judgment !== undefined) end.judgment = record.judgment;
  if (record.error !== undefined) end.error = record.error;
  end.usage = record.usage;
  end.attempts = record.attempts;
  if (record.execution !== undefined) end.execution = record.execution;
  emit(end);
  return record;
}

/** A verifier's rationale: the facts of the run, no judgment. */
function verifierRationale(execution: CandidateExecution): string {
  const { result } = execution;
  const summary = executionSummary(execution);
  const head = execution.withTests
    ? `Passed ${summary.passed} of ${summary.total} tests (status ${result.status}).`
    : `No tests; the program ${result.status === 'passed' ? 'ran to its end' : `ended with status ${result.status}`}.`;
  if (!result.error) return head;
  const where = result.error.line === undefined ? result.error.where : `${result.error.where} line ${result.error.line}`;
  const message = result.error.message.length > 300 ? `${result.error.message.slice(0, 300)}…` : result.error.message;
  return `${head} First error (${where}): ${result.error.type}${message.length > 0 ? `: ${message}` : ''}`;
}

/** Records a turn's judgment (pairwise) or assessment. */
function keepValue(record: TurnRecord, pairwise: boolean, value: Assessment | PairwiseJudgment): void {
  if (pairwise) record.judgment = value as PairwiseJudgment;
  else record.assessment = value as Assessment;
}

/**
 * The `onToken` of one turn: each fragment becomes a turn-delta event. Returned from a function rather than bound to
 * a name, because tsx (esbuild's keepNames) gives every named closure a `name` property as it is created, which
 * costs a dictionary of properties per closure (bench/README.md, engine).
 */
function deltaEmitter(
  emit: (event: DebateEventInit) => void,
  round: number,
  criticId: string,
  candidateId: string,
  turnId: string,
): (text: string) => void {
  return (text) => emit({ type: 'turn-delta', round, criticId, candidateId, turnId, text });
}

/** The error a cancelled debate rejects with. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TribunalError {
  if (cause instanceof TribunalError && cause.code === 'ABORTED') return cause;
  return new TribunalError('ABORTED', 'the debate was cancelled', { cause: cause ?? signal?.reason });
}
