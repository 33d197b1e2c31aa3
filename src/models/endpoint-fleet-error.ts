import { TribunalError } from '../contracts/index.js';

/**
 * No endpoint of a fleet could take a call: every endpoint is out (its circuit open), or each one tried for this call
 * failed. The message names each endpoint and its last error (keys scrubbed). `retryable` tells the reliability
 * wrapper to retry after its backoff, while health probes may bring endpoints back.
 */
export class EndpointsUnavailableError extends TribunalError {
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super('PROVIDER_FAILED', message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'EndpointsUnavailableError';
    this.retryable = options.retryable;
  }
}
