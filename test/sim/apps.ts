import type { AppFactory } from './cluster.js';
import { kvApp } from './kv-app.js';
import { storeApp } from "./store-app.js";

export type AppName = 'store' | 'kv';

/** The application a simulation replicates, by name. */
export function appByName(name: AppName): AppFactory {
  return name === 'kv' ? kvApp : storeApp;
}
