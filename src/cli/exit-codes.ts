import type { ErrorCode } from '../contracts/index.js';

/** The one place that maps error codes to process exit codes. 0 ok, 1 validation failed, 2 usage. */
export const EXIT = {
  ok: 0,
  invalid: 1,
  usage: 2,
  model: 3,
  budget: 4,
  memory: 5,
  interrupted: 130,
  internal: 70,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'PERSONA_INVALID':
    case 'CONSTITUTION_INVALID':
    case 'PANEL_INVALID':
    case 'INPUT_INVALID':
      return EXIT.invalid;
    case 'CONFIG_INVALID':
      return EXIT.usage;
    case 'MODEL_NOT_FOUND':
    case 'MODEL_CREDENTIALS_MISSING':
    case 'MODEL_UNREACHABLE':
    case 'PROVIDER_FAILED':
    case 'RATE_LIMITED':
    case 'TIMEOUT':
    case 'OUTPUT_INVALID':
    case 'REFUSED':
      return EXIT.model;
    case 'BUDGET_EXCEEDED':
      return EXIT.budget;
    case 'OUT_OF_MEMORY':
      return EXIT.memory;
    case 'ABORTED':
      return EXIT.interrupted;
    case 'STORE_FAILED':
    case 'INTERNAL':
      return EXIT.internal;
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}
