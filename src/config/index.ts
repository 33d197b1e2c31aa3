/**
 * Config: loaders for the files researchers edit — personas/*.md, constitutions/*.md, panels/*.yaml —
 * validated by the zod schemas in contracts, with errors that name the file, field and line.
 */
export * from './content-hash.js';
export * from './front-matter.js';
export * from './json-schemas.js';
export * from './library.js';
export * from './load-constitution.js';
export * from './load-models.js';
export * from './load-panel.js';
export * from './load-persona.js';
export * from './load-prices.js';
export * from './yaml-document.js';
