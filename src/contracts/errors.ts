import { z } from 'zod';

/**
 * Errors are data: one base error with a `code` union and an optional `cause`.
 * Transports (CLI exit codes, WebSocket close codes) map codes in exactly one place each.
 */

export const ERROR_CODES = [
  'PERSONA_INVALID',
  'CONSTITUTION_INVALID',
  'PANEL_INVALID',
  'INPUT_INVALID',
  'CONFIG_INVALID',
  'MODEL_NOT_FOUND',
  'MODEL_CREDENTIALS_MISSING',
  'MODEL_UNREACHABLE',
  'PROVIDER_FAILED',
  'RATE_LIMITED',
  'TIMEOUT',
  'ABORTED',
  'OUTPUT_INVALID',
  /** The model declined: a refusal (Anthropic `refusal`, OpenAI `delta.refusal`) or a provider's content filter. */
  'REFUSED',
  'BUDGET_EXCEEDED',
  'OUT_OF_MEMORY',
  'STORE_FAILED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Where in a file a problem sits, so messages can point at it. */
export interface ErrorLocation {
  file?: string;
  line?: number;
  field?: string;
}

/** The one base error of Tribunal; `code` says what kind of failure it is. */
export class TribunalError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; location?: ErrorLocation } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TribunalError';
    this.code = code;
    this.location = options.location;
  }
}

/** One problem found in a file, with the field path and line where known. */
export interface FileIssue {
  field: string;
  line?: number;
  message: string;
}

/** A persona, constitution or panel file failed validation; `issues` lists every problem found. */
export class FileValidationError extends TribunalError {
  readonly file: string;
  readonly issues: FileIssue[];

  constructor(code: ErrorCode, file: string, issues: FileIssue[]) {
    const lines = issues.map(
      (issue) =>
        `  - ${issue.line === undefined ? '' : `line ${issue.line}: `}${issue.field ? `${issue.field}: ` : ''}${issue.message}`,
    );
    super(code, `${file} is invalid:\n${lines.join('\n')}`, { location: { file } });
    this.name = 'FileValidationError';
    this.file = file;
    this.issues = issues;
  }
}

/** Longest refusal text kept on a turn; a refusal is a sentence or two. */
export const MAX_REFUSAL_CHARS = 2000;

/**
 * Why a critic turn failed, as data: the error code and message, and for a refusal, a content filter or a truncation
 * the provider's own stop reason and the text the model sent instead of an answer. Turn records, turn-end events and
 * label rows carry it, so reports count refusals by their real cause.
 */
export const TurnErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  stopReason: z
    .string()
    .max(100)
    .optional()
    .describe(
      "The provider's stop reason when it explains the failure: `refusal`, `content_filter`, `length`, `max_tokens`, ...",
    ),
  refusal: z
    .string()
    .max(MAX_REFUSAL_CHARS)
    .optional()
    .describe(
      'A refused turn: what the model said instead (OpenAI `delta.refusal`, or the reply text), at most 2000 characters.',
    ),
});
export type TurnError = z.infer<typeof TurnErrorSchema>;

/** Expected failures are returned, not thrown. */
export type Result<T, E = TribunalError> = { success: true; value: T } | { success: false; error: E };
