import { describe, expect, it } from 'vitest';
import { redactError, redactText } from '../../src/models/redact-secrets.js';

describe('secret redaction', () => {
  it('removes known secrets and key-shaped strings', () => {
    expect(redactText('key=abcd1234secret', ['abcd1234secret'])).toBe('key=[redacted]');
    expect(redactText('bad key sk-ant-api03-XYZxyz123456 given')).toBe('bad key [redacted] given');
    expect(redactText('Authorization: Bearer abc.def.ghijkl')).toBe('Authorization: [redacted]');
    expect(redactText('nothing secret here')).toBe('nothing secret here');
  });

  it('scrubs message, stack, provider body and causes in place, keeping status and headers', () => {
    const cause = new Error('inner mysecretvalue');
    const error = Object.assign(new Error('outer mysecretvalue', { cause }), {
      status: 401,
      headers: new Headers({ 'x-request-id': 'r1' }),
      error: { error: { message: 'Incorrect API key provided: mysecretvalue' } },
    });
    expect(redactError(error, ['mysecretvalue'])).toBe(error);
    expect(error.message).toBe('outer [redacted]');
    expect(error.stack).not.toContain('mysecretvalue');
    expect(JSON.stringify(error.error)).not.toContain('mysecretvalue');
    expect(cause.message).toBe('inner [redacted]');
    expect(error.status).toBe(401);
    expect(error.headers.get('x-request-id')).toBe('r1');
  });
});
