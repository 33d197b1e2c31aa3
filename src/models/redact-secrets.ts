/**
 * Keeps API keys out of error messages, logs and events. Providers echo (parts of) keys in auth errors,
 * so adapters scrub the keys they hold, and the wrapper scrubs anything shaped like a key.
 */

const REDACTED = '[redacted]';
/** Shapes of common provider keys: OpenAI `sk-...`/`sk-proj-...`, Anthropic `sk-ant-...`, bearer tokens. */
const KEY_SHAPES = /\b(sk-(?:ant-|proj-)?[A-Za-z0-9_-]{8,})|(Bearer\s+[A-Za-z0-9._~+/-]{8,}=*)/g;

/** Replaces each secret, and anything shaped like an API key, in a string. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) if (secret.length >= 4) result = result.split(secret).join(REDACTED);
  return result.replace(KEY_SHAPES, REDACTED);
}

/**
 * Scrubs secrets from an error in place (message, stack, provider body, cause chain) and returns it, keeping
 * its class and fields such as `status` and `headers` so retry decisions still work.
 */
export function redactError<T>(error: T, secrets: readonly string[] = [], depth = 0): T {
  if (typeof error !== 'object' || error === null || depth > 4) return error;
  const record = error as Record<string, unknown>;
  for (const key of ['message', 'stack']) {
    const value = record[key];
    if (typeof value === 'string') {
      try {
        record[key] = redactText(value, secrets);
      } catch {
        // read-only field: leave it
      }
    }
  }
  const body = record.error;
  if (body && typeof body === 'object') {
    try {
      record.error = JSON.parse(redactText(JSON.stringify(body), secrets));
    } catch {
      // unserializable body: leave it
    }
  }
  if (record.cause !== undefined) redactError(record.cause, secrets, depth + 1);
  return error;
}
