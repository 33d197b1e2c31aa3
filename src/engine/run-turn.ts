import type { BaseMessage } from '@langchain/core/messages';
import { z } from 'zod';
import {
  assessmentSchema,
  type Critic,
  pairwiseJudgmentSchema,
  type Scale,
  TribunalError,
  type TurnRecord,
} from '../contracts/index.js';
import type { DebateContext } from './debate-context.js';
import type { Subject } from './debate-setup.js';
import type { DebateEventInit } from './event-emitter.js';
import { type CachedCriticTurn, criticTurnKey } from './turn-cache.js';

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
}): Promise<TurnRecord> {
  const { context, emit, critic, subject, round } = options;
  const signal = context.signal;
  if (signal?.aborted) throw abortError(signal);
  const model = await context.models.resolve(options.model);
  const tag = {
    round,
    criticId: critic.id,
    candidateId: subject.id,
    turnId: turnIdOf({ round, criticId: critic.id, candidateId: subject.id }),
  };
  emit({ type: 'turn-start', ...tag, model: options.model });
  const onToken = (text: string) => emit({ type: 'turn-delta', ...tag, text });
  const turn = { round, criticId: critic.id, candidateId: subject.id };
  const base = {
    messages: options.messages,
    temperature: options.temperature,
    maxTokens: options.maxTokens,
    onToken,
    turn,
    ...(signal === undefined ? {} : { signal }),
  };
  const record: TurnRecord = {
    turnId: tag.turnId,
    round,
    criticId: critic.id,
    candidateId: subject.id,
    ...(subject.pair === undefined ? {} : { pair: subject.pair }),
    ...(options.principle === undefined ? {} : { principle: options.principle }),
    model: options.model,
    status: 'failed',
    usage: { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 },
    attempts: 1,
  };
  const cache = context.turnCache;
  let cached = false;
  const structured = async <T>(schema: z.ZodType<T>, schemaName: string, keep: (value: T) => void) => {
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
      const value = schema.safeParse(subject.pair ? hit?.judgment : hit?.assessment);
      if (hit && value.success) {
        record.status = 'ok';
        record.usage = { inputTokens: 0, outputTokens: 0, calls: 0, costUsd: 0 };
        cached = true;
        keep(value.data);
        return;
      }
    }
    // Spread last: `{ ...base, schema, schemaName }` costs V8 a new hidden class per call (bench/README.md, engine).
    const outcome = await model.structured({ schema, schemaName, ...base });
    if (!outcome.success && (signal?.aborted || outcome.error.code === 'ABORTED')) throw abortError(signal, outcome.error);
    record.usage = outcome.usage;
    record.attempts = Math.max(1, outcome.attempts);
    if (outcome.success) {
      record.status = 'ok';
      keep(outcome.value);
      if (cache && key) {
        const entry: CachedCriticTurn = { model: options.model, usage: outcome.usage };
        if (record.assessment !== undefined) entry.assessment = record.assessment;
        if (record.judgment !== undefined) entry.judgment = record.judgment;
        await cache.putTurn({ key, turn: entry }).catch(() => undefined);
      }
    } else {
      record.error = { code: outcome.error.code, message: outcome.error.message };
    }
  };
  if (subject.pair) {
    await structured(pairwiseSchemaFor(options.principleIds), 'pairwise_judgment', (judgment) => {
      record.judgment = judgment;
    });
  } else {
    await structured(assessmentSchemaFor(options.scale, options.principleIds), 'assessment', (assessment) => {
      record.assessment = assessment;
    });
  }
  emit({
    type: 'turn-end',
    ...tag,
    status: cached ? 'cached' : record.status,
    ...(record.assessment === undefined ? {} : { assessment: record.assessment }),
    ...(record.judgment === undefined ? {} : { judgment: record.judgment }),
    ...(record.principle === undefined ? {} : { principle: record.principle }),
    ...(record.error === undefined ? {} : { error: record.error }),
    usage: record.usage,
    attempts: record.attempts,
  });
  return record;
}

/** The error a cancelled debate rejects with. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TribunalError {
  if (cause instanceof TribunalError && cause.code === 'ABORTED') return cause;
  return new TribunalError('ABORTED', 'the debate was cancelled', { cause: cause ?? signal?.reason });
}
