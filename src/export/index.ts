/**
 * Export: turns label rows (the consensus of each debate) into a dataset directory: labels.jsonl, preference pairs
 * binarized by a strategy and filters (TRL or OpenAI format), a Hugging Face dataset card and a score figure.
 * Every file is written atomically.
 */
export * from './apply-overrides.js';
export * from './binarize.js';
export * from './candidate-text.js';
export * from './dataset-card.js';
export * from './distribution.js';
export * from './distribution-svg.js';
export * from './export-dataset.js';
export * from './export-summary.js';
export * from './injection-flags.js';
export * from './label-row.js';
export * from './length-control.js';
export * from './openai-pair.js';
export * from './pair-uncertainty.js';
export * from './seeded-random.js';
export * from './trl-pair.js';
export * from './write-atomic.js';
