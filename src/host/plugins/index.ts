/** The plugin host: registry, loader (esbuild), validation, hot swap, isolation and the control-API views. */
export * from './registry.js';
export * from './executor-swap.js';
export * from './conformance.js';
export * from './fixtures.js';
export * from './bundle.js';
