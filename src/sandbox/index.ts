/**
 * Sandbox: runs untrusted Python (candidate code and its tests) in Pyodide inside hardened worker threads, and returns
 * plain, schema-validated results. Imports only src/contracts. Threat model and limits: docs/sandbox.md.
 */

export * from './extract-code.js';
export * from './lazy-pool.js';
export * from './python-mutants.js';
export * from './sandbox-pool.js';
