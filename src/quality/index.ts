/**
 * Quality: measures of label quality over label runs. Agreement with human labels (accuracy, Cohen's κ, seeded
 * bootstrap intervals, per persona), bias measures (length, position under swap, self-preference), inter-critic
 * agreement (Krippendorff's α), debate dynamics (score changes and conformity), calibration of persona weights to a
 * gold set, the eval report that `tribunal eval` writes, and the loop's measures (diversity, KL estimate, length drift,
 * raw and length-controlled win rate). Pure functions over labels.jsonl rows and turns.
 */

export * from './ablation.js';
export * from './agreement.js';
export * from './calibration.js';
export * from './debate-dynamics.js';
export * from './escalation-curve.js';
export * from './eval-report.js';
export * from './gold-comparisons.js';
export * from './krippendorff-alpha.js';
export * from './length-bias.js';
export * from './length-control.js';
export * from './loop-measures.js';
export * from './position-consistency.js';
export * from './render-report.js';
export * from './self-preference.js';
export * from './stats.js';
export * from './turn-failures.js';
