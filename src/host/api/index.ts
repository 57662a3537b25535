/** The object model and error types shared by every subsystem. */
export * from './objects.js';
export * from './errors.js';
export * from './cluster-defaults.js';
