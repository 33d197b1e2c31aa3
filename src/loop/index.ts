/**
 * The RLAIF loop (`tribunal loop`): generate with the policy, label with the panel, train DPO, measure on held-out
 * prompts, repeat. Every stage is a resumable sub-run of the generate, runner and trainer layers; the measures come
 * from src/quality's loop measures.
 */

export * from './ended-completions.js';
export * from './estimate-loop.js';
export * from './held-out.js';
export * from './loop-report.js';
export * from './run-loop.js';
export * from './split-prompts.js';
