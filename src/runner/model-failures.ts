import { ERROR_CODES, type ErrorCode } from '../contracts/index.js';

/**
 * Item failure codes that are not the model's doing: a stop (Ctrl-C, a budget), input or configuration the engine
 * refused, the store, this machine's memory, and bugs. Every other code — including any code added later, such as a
 * provider's refusal — counts as a model failure.
 */
const NOT_MODEL_CAUSED: ReadonlySet<string> = new Set<ErrorCode>([
  'ABORTED',
  'BUDGET_EXCEEDED',
  'INPUT_INVALID',
  'PANEL_INVALID',
  'PERSONA_INVALID',
  'CONSTITUTION_INVALID',
  'CONFIG_INVALID',
  'STORE_FAILED',
  'OUT_OF_MEMORY',
  'INTERNAL',
]);

/**
 * Whether an item failure with this code was caused by the model or its provider (unreachable, auth, not found,
 * HTTP errors, rate limits after retries, timeouts, invalid output, refusals); unknown codes count as model failures.
 * @example isModelFailure('PROVIDER_FAILED') // true; isModelFailure('ABORTED') // false
 */
export function isModelFailure(code: string): boolean {
  return !NOT_MODEL_CAUSED.has(code);
}

/** The known error codes that count as model failures: what the circuit breaker and the exit code 3 count. */
export const MODEL_FAILURE_CODES: readonly ErrorCode[] = ERROR_CODES.filter(isModelFailure);
