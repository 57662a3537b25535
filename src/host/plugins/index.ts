/** The plugin host: registry, loader (esbuild), validation, hot swap, isolation and the control-API views. */
export * from './registry.js';
export * from './executor-swap.js';
export * from './conformance.js';
export * from './conformance-strategy.js';
export * from './fixtures.js';
export * from './bundle.js';
export * from './config-loader.js';
export * from './host.js';
export * from './watcher.js';
export * from './isolation.js';
export * from './control.js';
export * from './strategy-try.js';
export * from './sync-worker.js';
export * from './version-record.js';
