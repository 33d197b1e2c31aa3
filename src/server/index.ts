/**
 * Server: `tribunal serve`, live debates over WebSocket. One HTTP server holds the viewer (src/web, served as
 * files), a JSON API for listing runs, and the v1 protocol at `/v1/stream` (docs/protocol.md): clients start
 * debates, subscribe to runs and debates with exact resume (`afterSeq`), cancel, and record verdict overrides.
 * The `DebateHub` fans events out from in-process debates and from labeling runs followed through their store;
 * each connection sends through an `Outbox` that coalesces token deltas when the client falls behind. Training runs
 * (`tribunal train --out DIR`) are followed through their events.jsonl for `train.subscribe` (`followTrainingRun`);
 * loops (`tribunal loop --out DIR`) are listed and their report.json served to the viewer (`readLoopReport`).
 */
export * from './auth.js';
export * from './close-codes.js';
export * from './connection.js';
export * from './debate-hub.js';
export * from './frame-guard.js';
export * from './http-api.js';
export * from './live-debates.js';
export * from './loop-runs.js';
export * from './outbox.js';
export * from './panel-directory.js';
export * from './protocol-doc.js';
export * from './run-catalog.js';
export * from './runs-root.js';
export * from './server-limits.js';
export * from './static-files.js';
export * from './token-bucket.js';
export * from './training-runs.js';
export * from './tribunal-server.js';
