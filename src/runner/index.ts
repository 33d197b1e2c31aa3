/**
 * Runner: labeling jobs over the engine and the store, shared by the CLI (`tribunal label`, `tribunal export`) and
 * the server. `runLabeling` imports an input into a run directory's store, debates the pending items with a worker
 * pool (checkpointed, cached, budgeted, resumable after any crash) and exports labels, pairs and a dataset card;
 * `exportRun` regenerates the outputs from the store; `estimateLabeling` prices a run before anything is spent.
 * `LabelingWorker` is the claim → debate → settle loop that `runLabeling` runs in its own process and `tribunal
 * worker` runs anywhere else (leased claims, heartbeats, exactly-once settles); `workerSpecOf` reads what a worker
 * needs from a stored run.
 */
export * from './buffered-turn-cache.js';
export * from './critic-models.js';
export * from './debate-ids.js';
export * from './debate-input.js';
export * from './estimate-labeling.js';
export * from './export-run.js';
export * from './failure-breaker.js';
export * from './failure-summary.js';
export * from './file-sha256.js';
export * from './import-items.js';
export * from './input-file.js';
export * from './labeling-budget.js';
export * from './labeling-config.js';
export * from './labeling-progress.js';
export * from './labeling-worker.js';
export * from './model-failures.js';
export * from './resumed-usage.js';
export * from './review-queue.js';
export * from './run-labeling.js';
export * from './worker-spec.js';
