import type { ServerLimits } from '../contracts/index.js';

/** Limits of one server: per message, per connection, and for the whole server. */
export interface ServeLimits extends ServerLimits {
  /** Arrays and objects nested deeper than this in a frame are refused (BAD_FRAME) before the frame is parsed. */
  maxFrameDepth: number;
  /** Bad frames (invalid JSON, unknown types, over the rate) tolerated in a burst before closing with 1008. */
  maxStrikes: number;
  /** Strikes forgiven per second. */
  strikesForgivenPerSecond: number;
  /** Debates running at once on the whole server. */
  maxLiveDebates: number;
  /** Connections at once, counting sockets that have not finished their HTTP request or upgrade. */
  maxConnections: number;
  /** Sockets at once that have not finished their HTTP request or upgrade (beyond it, new sockets are closed at once). */
  maxPendingHandshakes: number;
  /** Time a socket has to send its complete HTTP request headers (the upgrade included) before it is closed. */
  handshakeTimeoutMs: number;
  /** Per connection: buffered bytes above which token deltas coalesce. */
  lowWaterMark: number;
  /** Per connection: buffered plus queued bytes above which the client is closed as too slow (1013). */
  maxBufferedBytes: number;
}

/** Defaults sized for a researcher's viewer and a few scripts; the benchmark raises `maxConnections`. */
export const DEFAULT_LIMITS: ServeLimits = {
  maxMessageBytes: 256 * 1024,
  maxConcurrentDebates: 4,
  maxSubscriptions: 64,
  maxFrameDepth: 32,
  messagesPerSecond: 20,
  messageBurst: 40,
  heartbeatMs: 30_000,
  maxStrikes: 10,
  strikesForgivenPerSecond: 1,
  maxLiveDebates: 32,
  maxConnections: 2048,
  maxPendingHandshakes: 128,
  handshakeTimeoutMs: 10_000,
  lowWaterMark: 256 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
};

/** The limits a client is told about in `hello`. */
export function publicLimits(limits: ServeLimits): ServerLimits {
  return {
    maxMessageBytes: limits.maxMessageBytes,
    maxConcurrentDebates: limits.maxConcurrentDebates,
    maxSubscriptions: limits.maxSubscriptions,
    messagesPerSecond: limits.messagesPerSecond,
    messageBurst: limits.messageBurst,
    heartbeatMs: limits.heartbeatMs,
  };
}
