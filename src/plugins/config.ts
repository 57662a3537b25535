/**
 * The typed configuration a `plugins.config.ts` exports (`export default defineConfig({...})`), and the
 * contract every JavaScript/TypeScript plugin module implements. Config files import this module as
 * `swarmhost/config`; the loader (src/host/plugins) maps that specifier here when it bundles a config.
 * Paths in a config are relative to the config file. See docs/plugins.md.
 */
import type { Executor } from '../host/agent/executor.js';
import type { Timers } from '../host/env/index.js';
import type { OrchestratorPlugin, RestartPolicyPlugin } from './contracts.js';

/** Version of the plugin module contract below; a module's `swarmhostPlugin` export must equal it. */
export const PLUGIN_CONTRACT_VERSION = 1;

/** The plugin kinds a JS module can implement (strategies are WASM, ABI in docs/abi/strategy-v1.md). */
export type PluginKind = 'executor' | 'orchestrator' | 'restartPolicy';

/** Plugin options: plain JSON (they are hashed into the version and may cross a worker boundary). */
export type PluginOptions = Record<string, unknown>;

/** One slot's choice: a module (`.ts`/`.js`/`.mjs` for JS kinds, `.wasm` for the strategy) and its options. */
export interface SlotConfig {
  /** Path relative to the config file. */
  module: string;
  /** Options handed to the module's `validateOptions` and `init`. Default `{}`. */
  options?: PluginOptions;
  /**
   * Untrusted JS plugins have `init` and the conformance check run in a worker pool (tinypool) with
   * `callTimeoutMs`, so a plugin that hangs or crashes there cannot stall the host. Default false.
   */
  untrusted?: boolean;
  /** Deadline of one isolated call (init, conformance) or one strategy call, ms. Default 1000. */
  callTimeoutMs?: number;
}

/** A strategy slot: a `.wasm` module (ABI v1) with its limits. */
export interface StrategySlotConfig {
  /** Path to the `.wasm` module relative to the config file; omit for the built-in spread. */
  module?: string;
  /** Memory limit of the module, bytes. Default 256 MiB. */
  memoryLimitBytes?: number;
  /** Deadline per strategy call, ms. Default 1000. */
  callTimeoutMs?: number;
}

/** Automatic rollback: a promoted version that fails `failureThreshold` times within `failureWindowMs` is rolled back. */
export interface RollbackConfig {
  /** Failures (errors, traps, timeouts) that trigger a rollback. Default 3. */
  failureThreshold?: number;
  /** Window the failures are counted in, ms. Default 60000. */
  failureWindowMs?: number;
}

/** The whole configuration: one entry per slot. Slots left out use the built-ins. */
export interface SwarmhostConfig {
  executor?: SlotConfig;
  orchestrators?: {
    replicated?: SlotConfig;
    global?: SlotConfig;
    jobs?: SlotConfig;
  };
  restartPolicy?: SlotConfig;
  strategy?: StrategySlotConfig;
  rollback?: RollbackConfig;
  /** Debounce of the file watcher, ms. Default 200. */
  watchDebounceMs?: number;
}

/** Identity function that gives a config file its types (`export default defineConfig({...})`). */
export function defineConfig(config: SwarmhostConfig): SwarmhostConfig {
  return config;
}

/** What `init` gets besides the options: the slot it fills and a logger line sink. */
export interface PluginInitContext {
  slot: string;
  log: (line: string) => void;
  /** Agent-side only (executor slot): where the node keeps its state, and its id. */
  stateDir?: string;
  nodeId?: string;
  /** The host's timers (executors wait on them). */
  timers?: Timers;
}

/** The implementation type each kind's `init` returns. */
export interface PluginImpl {
  executor: Executor;
  orchestrator: OrchestratorPlugin;
  restartPolicy: RestartPolicyPlugin;
}

/**
 * What a plugin module exports (as named exports or as its default export):
 * `swarmhostPlugin` (= {@link PLUGIN_CONTRACT_VERSION}), `kind`, `init(options, ctx)`, optionally
 * `validateOptions(options)` (throw an Error naming the option and the rule) and `dispose(impl)`.
 */
export interface PluginModule<K extends PluginKind = PluginKind> {
  swarmhostPlugin: typeof PLUGIN_CONTRACT_VERSION;
  kind: K;
  validateOptions?(options: PluginOptions): void;
  init(options: PluginOptions, ctx: PluginInitContext): PluginImpl[K] | Promise<PluginImpl[K]>;
  dispose?(impl: PluginImpl[K]): void | Promise<void>;
}

/** Typed helper for a plugin module's default export. */
export function definePlugin<K extends PluginKind>(m: Omit<PluginModule<K>, 'swarmhostPlugin'>): PluginModule<K> {
  return { swarmhostPlugin: PLUGIN_CONTRACT_VERSION, ...m };
}
