import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { BEARER_PROTOCOL_PREFIX } from '../contracts/index.js';

/** A fresh bearer token: 32 random bytes, base64url (valid in a `Sec-WebSocket-Protocol` entry). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Compares a presented token with the expected one in constant time: both are hashed first, so neither the
 * contents nor the length of the expected token leak through timing.
 */
export function tokensMatch(options: { expected: string; presented: string | undefined }): boolean {
  if (options.presented === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(options.expected), digest(options.presented));
}

/** What a token may do: `operator` everything; `read` (the `--read-token`) only watch: subscribe and the JSON API. */
export type Access = 'operator' | 'read';

/**
 * The access a presented token grants: `operator` for the operator token, `read` for the read-only token, undefined
 * for anything else. Both comparisons always run, in constant time.
 */
export function accessOf(options: {
  presented: string | undefined;
  operatorToken: string;
  readToken: string | undefined;
}): Access | undefined {
  const operator = tokensMatch({ expected: options.operatorToken, presented: options.presented });
  const read = options.readToken !== undefined && tokensMatch({ expected: options.readToken, presented: options.presented });
  if (operator) return 'operator';
  return read ? 'read' : undefined;
}

/** Where a request's token came from, for the subprotocol echo. */
export interface PresentedToken {
  token: string | undefined;
  /** True when it came from `Sec-WebSocket-Protocol` (the browser's way). */
  viaSubprotocol: boolean;
}

/**
 * Reads the bearer token of a request: `Authorization: Bearer TOKEN`, else a `bearer.TOKEN` entry of
 * `Sec-WebSocket-Protocol` (browsers cannot set headers on a WebSocket), else the `token` query parameter.
 */
export function presentedToken(request: IncomingMessage): PresentedToken {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return { token: match?.[1], viaSubprotocol: false };
  }
  const protocols = request.headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    for (const entry of protocols.split(',')) {
      const trimmed = entry.trim();
      if (trimmed.startsWith(BEARER_PROTOCOL_PREFIX)) {
        return { token: trimmed.slice(BEARER_PROTOCOL_PREFIX.length), viaSubprotocol: true };
      }
    }
  }
  let query: string | null = null;
  try {
    query = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
  } catch {
    // an unparseable request target carries no token
  }
  return { token: query ?? undefined, viaSubprotocol: false };
}

/** True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1 (and its IPv4-mapped form). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare) || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The browser origins allowed to open the socket: the server's own (and, on loopback, its other loopback names)
 * plus any given. Requests without an `Origin` header are not from a browser page and are not checked here.
 */
export function allowedOrigins(options: { host: string; port: number; extra?: readonly string[] }): Set<string> {
  const origins = new Set<string>();
  const hostPart = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
  origins.add(`http://${hostPart}:${options.port}`);
  if (isLoopbackHost(options.host)) {
    for (const name of ['localhost', '127.0.0.1', '[::1]']) origins.add(`http://${name}:${options.port}`);
  }
  for (const origin of options.extra ?? []) origins.add(origin.replace(/\/+$/, '').toLowerCase());
  return origins;
}

/** True when a request carries no `Origin` (not a browser) or one on the allowlist. */
export function originAllowed(options: { origin: string | undefined; allowed: ReadonlySet<string> }): boolean {
  if (options.origin === undefined) return true;
  return options.allowed.has(options.origin.toLowerCase());
}
