/**
 * Engine: runs debates. `runDebate` drives a protocol graph (graphs/) over one input; the building blocks the
 * graphs are wired from are exported too: setup, state, nodes, round and turn runners, prompt builders,
 * aggregation, convergence, consensus, the event emitter and the human review (panel `escalate`).
 */
export * from './aggregation.js';
export * from './consensus.js';
export * from './convergence.js';
export * from './debate-context.js';
export * from './debate-graph.js';
export * from './debate-nodes.js';
export * from './debate-setup.js';
export * from './debate-snapshot.js';
export * from './debate-state.js';
export * from './event-emitter.js';
export * from './human-review.js';
export * from './round-summary.js';
export * from './round-tally.js';
export * from './run-chair.js';
export * from './run-debate.js';
export * from './run-round.js';
export * from './run-turn.js';
export * from './system-prompt.js';
export * from './tool-execution.js';
export * from './turn-cache.js';
export * from './turn-messages.js';
export * from './untrusted-block.js';
