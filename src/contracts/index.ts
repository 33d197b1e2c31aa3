/**
 * Contracts: the zod schemas that are the single source of truth for every file format, event and row.
 * Imports nothing but zod.
 */
export * from './assessment.js';
export * from './constitution.js';
export * from './debate.js';
export * from './errors.js';
export * from './events.js';
export * from './execution.js';
export * from './generation.js';
export * from './label.js';
export * from './loop-report.js';
export * from './model-endpoints.js';
export * from './panel.js';
export * from './persona.js';
export * from './protocol.js';
export * from './result.js';
export * from './trainer.js';
