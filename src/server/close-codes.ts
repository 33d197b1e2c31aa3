import type { ProtocolErrorCode } from '../contracts/index.js';

/*
 * The one place where protocol error codes become WebSocket close codes and HTTP statuses (Hono's
 * `HTTPException.getResponse()` idea): every other module raises codes, never numbers.
 */

/** WebSocket close codes the server uses (RFC 6455 section 7.4.1, IANA registry). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

/** Codes after which the server closes the connection; every other code answers one request and the connection stays up. */
export const CLOSING_CODES: ReadonlySet<ProtocolErrorCode> = new Set(['POLICY_VIOLATION', 'SLOW_CONSUMER', 'SHUTTING_DOWN']);

/**
 * The close code for a connection ended because of `code`: abuse and authorization problems are policy violations
 * (1008), a client too slow to keep up is told to try again later (1013; it reconnects with `afterSeq` and loses
 * nothing), a server shutting down is going away (1001), anything else is an internal error (1011).
 */
export function closeCodeFor(code: ProtocolErrorCode): number {
  switch (code) {
    case 'BAD_JSON':
    case 'BAD_FRAME':
    case 'UNKNOWN_TYPE':
    case 'UNSUPPORTED_VERSION':
    case 'UNAUTHORIZED':
    case 'FORBIDDEN_ORIGIN':
    case 'RATE_LIMITED':
    case 'LIMIT_EXCEEDED':
    case 'POLICY_VIOLATION':
      return CLOSE.policyViolation;
    case 'SLOW_CONSUMER':
      return CLOSE.tryAgainLater;
    case 'SHUTTING_DOWN':
    case 'ABORTED':
      return CLOSE.goingAway;
    default:
      return CLOSE.internalError;
  }
}

/** The HTTP status for a request refused with `code` (the upgrade handshake and the JSON API). */
export function httpStatusFor(code: ProtocolErrorCode): number {
  switch (code) {
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN_ORIGIN':
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'NOT_CANCELLABLE':
      return 409;
    case 'RATE_LIMITED':
    case 'LIMIT_EXCEEDED':
      return 429;
    case 'SHUTTING_DOWN':
      return 503;
    case 'BAD_JSON':
    case 'BAD_FRAME':
    case 'UNKNOWN_TYPE':
    case 'UNSUPPORTED_VERSION':
    case 'INPUT_INVALID':
    case 'CONFIG_INVALID':
    case 'PANEL_INVALID':
      return 400;
    default:
      return 500;
  }
}

/** A close reason fits in 123 bytes (the control frame limit minus the code); longer reasons are cut. */
export function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}
