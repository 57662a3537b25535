import { kvApp } from './kv-app.js';
import type { AppFactory } from './cluster.js';

/** Placeholder replaced when the store lands: until then the store app is the key-value app. */
export const storeApp: AppFactory = kvApp;
