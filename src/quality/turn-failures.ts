import type { LabelRow } from '../contracts/index.js';

/** Failed critic turns of a label run, by cause: error codes, and refusals by the provider's stop reason. */
export interface TurnFailures {
  /** Every critic turn in the rows, in every round. */
  turns: number;
  failed: number;
  /** Failed turns per error code (`REFUSED`, `OUTPUT_INVALID`, `TIMEOUT`, ...). */
  byCode: Record<string, number>;
  /** Refused turns (code `REFUSED`) per stop reason (`refusal`, `content_filter`, `stop` for an OpenAI `delta.refusal`; `unknown` when none was recorded). */
  refusals: Record<string, number>;
  /** Failed turns cut at the token limit, per stop reason (`length`, `max_tokens`). */
  truncations: Record<string, number>;
}

const TRUNCATION_REASONS = new Set(['length', 'max_tokens', 'model_context_window_exceeded']);

/** Counts the failed turns of label rows by their cause. */
export function turnFailures(rows: readonly LabelRow[]): TurnFailures {
  const result: TurnFailures = { turns: 0, failed: 0, byCode: {}, refusals: {}, truncations: {} };
  for (const row of rows)
    for (const candidate of row.candidates)
      for (const turns of Object.values(candidate.critics))
        for (const turn of turns) {
          result.turns++;
          if (turn.status !== 'failed') continue;
          result.failed++;
          const code = turn.error?.code ?? 'UNKNOWN';
          result.byCode[code] = (result.byCode[code] ?? 0) + 1;
          const reason = turn.error?.stopReason;
          if (code === 'REFUSED') result.refusals[reason ?? 'unknown'] = (result.refusals[reason ?? 'unknown'] ?? 0) + 1;
          else if (reason !== undefined && TRUNCATION_REASONS.has(reason))
            result.truncations[reason] = (result.truncations[reason] ?? 0) + 1;
        }
  return result;
}
