/**
 * Datasets: importers that stream JSONL input files (plain or gzipped) in our native format, Anthropic HH-RLHF or
 * TRL preference format into dataset items, reporting bad lines by number instead of stopping.
 */
export * from './detect-format.js';
export * from './hh-rlhf-format.js';
export * from './humaneval-format.js';
export * from './input-limits.js';
export * from './item-rejection.js';
export * from './native-format.js';
export * from './read-items.js';
export * from './read-lines.js';
export * from './row-parser.js';
export * from './stable-id.js';
export * from './trl-format.js';
