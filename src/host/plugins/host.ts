/**
 * The plugin host: reads `plugins.config.ts`, fills every slot through the registry (built-ins too), validates
 * each candidate (contract exports, options, `init`, conformance fixtures; untrusted JS in a tinypool worker
 * first), promotes it, and serves units of work pinned to a version: one reconcile, one restart decision, one
 * scheduling pass, one task controller. `reload()` (or the watcher) re-reads everything; unchanged modules
 * (same content hash) are kept, changed ones become new candidates, and a refused candidate leaves the old
 * version serving with the reason visible in {@link PluginHost.list}.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executor } from '../agent/executor.js';
import { withDeadline, type Timers } from '../env/index.js';
import type { Task } from '../api/objects.js';
import type { OrchestrationPlugins } from '../orchestration/index.js';
import type { NodeTable } from '../scheduler/node-table.js';
import type { SchedulePassResult } from '../scheduler/reference.js';
import type { RecentFailures } from '../scheduler/failures.js';
import { StrategyRunner, type StrategyOptions } from '../scheduler/strategy.js';
import type { OrchestratorPlugin, RestartPolicyPlugin } from '../../plugins/contracts.js';
import type { ServiceKind } from '../../plugins/orchestrators/slots.js';
import { globalOrchestrator, jobsOrchestrator, replicatedOrchestrator } from '../../plugins/orchestrators/index.js';
import { defaultRestartPolicy } from '../../plugins/restart/index.js';
import type { RestartDecision, RestartDecisionInput } from '../../plugins/restart/default.js';
import { PLUGIN_CONTRACT_VERSION, type PluginKind, type PluginModule, type SlotConfig, type StrategySlotConfig, type SwarmhostConfig } from '../../plugins/config.js';
import { BundleError, bundleModule, configDir, importBundle } from './bundle.js';
import { DEFAULT_PLUGIN_CALL_TIMEOUT_MS, DEFAULT_WATCH_DEBOUNCE_MS, PluginConfigError, loadConfig, typeCheckConfig, type LoadedConfig } from './config-loader.js';
import { checkDecision, checkOrchestrator, checkPlan, checkRestartPolicy } from './conformance.js';
import { checkStrategy } from './conformance-strategy.js';
import { SwappableExecutor } from './executor-swap.js';
import { SyncPluginWorker } from './sync-worker.js';
import { PluginIsolation } from './isolation.js';
import { PluginSlot, SLOT_NAMES, type PluginVersion, type SlotName } from './registry.js';
import { PluginWatcher } from './watcher.js';

/** What a strategy version holds: a runner, or nothing for the built-in spread. */
export interface StrategyImpl {
  runner?: StrategyRunner;
}

/** Options of the plugin host. */
export interface PluginHostOptions {
  /** The config file; undefined: built-ins only (no reload source). */
  configFile?: string;
  timers: Timers;
  log?: (line: string) => void;
  /** Manager-side slots (orchestrators, restart policy, strategy). Default true. */
  manager?: boolean;
  /**
   * Type-check the config file with TypeScript at start (about 1 s; skipped when TypeScript is not installed).
   * Reloads only bundle it. Default true.
   */
  typeCheckConfig?: boolean;
  /** Agent-side context: when given, the executor slot is filled and {@link PluginHost.executor} exists. */
  agent?: { stateDir: string; nodeId: string };
}

/** One row of `swarmctl plugin ls`. */
export interface PluginInfo {
  slot: SlotName | 'config';
  name: string;
  /** Content hash, first 12 hex digits. */
  version: string;
  state: string;
  /** ms since the epoch. */
  loadedAtMs: number;
  lastError: string;
  source: string;
  leases: number;
  failures: number;
  /**
   * Active rows of manager-side slots only, once a leader record was adopted ({@link PluginHost.adoptRecorded}):
   * the version the store recorded for this slot, `name@hash12`. Differs from `name@version` when this manager
   * does not hold the recorded version.
   */
  recorded?: string;
}

/** A manager-side slot's recorded version: plugin name and full content hash (Cluster.pluginVersions). */
export interface RecordedVersion {
  name: string;
  version: string;
}

/** What {@link PluginHost.adoptRecorded} did, per recorded slot. */
export interface AdoptReport {
  slots: { slot: string; recorded: string; outcome: 'same' | 'activated' | 'mismatch' | 'unknown-slot'; active?: string }[];
}

/** What one reload did, per slot. */
export interface ReloadReport {
  configError?: string;
  slots: { slot: SlotName; outcome: 'unchanged' | 'activated' | 'refused'; version?: string; error?: string }[];
}

const SLOT_KIND: Record<SlotName, PluginKind | 'strategy'> = {
  executor: 'executor',
  'orchestrator.replicated': 'orchestrator',
  'orchestrator.global': 'orchestrator',
  'orchestrator.jobs': 'orchestrator',
  restartPolicy: 'restartPolicy',
  strategy: 'strategy',
};

const BUILTIN_ORCH: Record<string, OrchestratorPlugin> = {
  'orchestrator.replicated': replicatedOrchestrator,
  'orchestrator.global': globalOrchestrator,
  'orchestrator.jobs': jobsOrchestrator,
};

function sha(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex');
}

function slotConfig(c: SwarmhostConfig | undefined, slot: SlotName): SlotConfig | StrategySlotConfig | undefined {
  if (!c) return undefined;
  switch (slot) {
    case 'executor':
      return c.executor;
    case 'restartPolicy':
      return c.restartPolicy;
    case 'strategy':
      return c.strategy;
    default:
      return c.orchestrators?.[slot.slice('orchestrator.'.length) as 'replicated' | 'global' | 'jobs'];
  }
}

function pluginModuleOf(mod: Record<string, unknown>): PluginModule {
  const d = mod.default;
  if (d && typeof d === 'object' && 'init' in d) return d as PluginModule;
  return mod as unknown as PluginModule;
}

/** The plugin host. Create with {@link PluginHost.start}. */
export class PluginHost {
  /** The slots (registry). */
  readonly slots: { [K in SlotName]: PluginSlot<unknown> };
  /** Agent side: the executor the agent must use (swaps happen inside it). */
  executor: SwappableExecutor | undefined;
  private loaded: LoadedConfig | undefined;
  private configFailure: { atMs: number; error: string } | undefined;
  private readonly isolation: PluginIsolation;
  private watcher: PluginWatcher | undefined;
  private reloading: Promise<ReloadReport> | undefined;
  private reloadAgain = false;
  private readonly inputs = new Map<SlotName, string[]>();
  private readonly log: (line: string) => void;
  private readonly activeListeners = new Set<(slot: SlotName) => void>();
  private recorded: Record<string, RecordedVersion> | undefined;

  private constructor(private readonly o: PluginHostOptions) {
    this.log = o.log ?? (() => {});
    this.isolation = new PluginIsolation(o.timers);
    const mk = (n: SlotName): PluginSlot<unknown> => new PluginSlot<unknown>(n, { clock: o.timers, log: this.log, onActiveChange: (slot) => this.emitActive(slot) });
    this.slots = Object.fromEntries(SLOT_NAMES.map((n) => [n, mk(n)])) as { [K in SlotName]: PluginSlot<unknown> };
  }

  /**
   * Loads the config and fills every slot. Any problem refuses the start with a {@link PluginConfigError}
   * naming the file, the slot and the problem.
   */
  static async start(o: PluginHostOptions): Promise<PluginHost> {
    const h = new PluginHost(o);
    try {
      if (o.configFile !== undefined) {
        h.loaded = await loadConfig(o.configFile);
        if (o.typeCheckConfig !== false && !(await typeCheckConfig(o.configFile))) h.log('plugins: TypeScript is not installed; the config was bundled but not type-checked');
      }
      h.applyRollbackConfig();
      for (const slot of h.activeSlots()) {
        const r = await h.loadSlot(slot);
        if (r.outcome === 'refused') throw new PluginConfigError(h.loaded?.file ?? '(built-in)', slot, r.error ?? 'refused');
      }
    } catch (e) {
      await h.close();
      throw e;
    }
    return h;
  }

  private activeSlots(): SlotName[] {
    return SLOT_NAMES.filter((s) => (s === 'executor' ? this.o.agent !== undefined : this.o.manager !== false));
  }

  private applyRollbackConfig(): void {
    const rb = this.loaded?.config.rollback;
    for (const s of Object.values(this.slots)) s.configure({ failureThreshold: rb?.failureThreshold, failureWindowMs: rb?.failureWindowMs });
  }

  /**
   * Agent side, once the node knows its id and state dir: fills the executor slot from the config (default: the
   * built-in process executor) and returns the swappable executor the agent must use. Refusal throws
   * {@link PluginConfigError}. Idempotent.
   */
  async attachAgent(agent: { stateDir: string; nodeId: string }): Promise<SwappableExecutor> {
    if (this.executor) return this.executor;
    this.o.agent = agent;
    const r = await this.loadSlot('executor');
    if (r.outcome === 'refused' || !this.executor) throw new PluginConfigError(this.loaded?.file ?? '(built-in)', 'executor', r.error ?? 'refused');
    this.watcher?.setFiles(this.watchedFiles());
    return this.executor;
  }

  /** The config file in use, absolute. */
  get configFile(): string | undefined {
    return this.loaded?.file;
  }

  // ------------------------------------------------------------------ loading

  private async loadSlot(slot: SlotName): Promise<ReloadReport['slots'][number]> {
    const cfg = slotConfig(this.loaded?.config, slot);
    if (SLOT_KIND[slot] === 'strategy') return this.loadStrategy(cfg as StrategySlotConfig | undefined);
    if (!cfg || !(cfg as SlotConfig).module) return this.loadBuiltin(slot);
    return this.loadJs(slot, cfg as SlotConfig);
  }

  private builtinImpl(slot: SlotName): unknown {
    if (slot === 'restartPolicy') return defaultRestartPolicy;
    if (slot in BUILTIN_ORCH) return BUILTIN_ORCH[slot];
    return undefined;
  }

  private async loadBuiltin(slot: SlotName): Promise<ReloadReport['slots'][number]> {
    const s = this.slots[slot];
    if (slot === 'executor') {
      // An executor needs a module (plugins.config.ts names the built-in one); without config: process.
      return this.loadJs(slot, { module: resolve(configDirOf(undefined), 'src/plugins/executors/plugin.ts'), options: { name: 'process' } });
    }
    const impl = this.builtinImpl(slot) as { name: string; version: string };
    const hash = sha('builtin', slot, impl.name, impl.version);
    if (s.current?.hash === hash) return { slot, outcome: 'unchanged', version: hash.slice(0, 12) };
    const v = s.addCandidate({ name: impl.name, hash, source: `builtin:${impl.name}`, loadedAtMs: this.o.timers.now(), impl });
    s.promote(v);
    this.inputs.delete(slot);
    return { slot, outcome: 'activated', version: hash.slice(0, 12) };
  }

  private async loadJs(slot: SlotName, cfg: SlotConfig): Promise<ReloadReport['slots'][number]> {
    const s = this.slots[slot];
    const kind = SLOT_KIND[slot] as PluginKind;
    const abs = resolve(configDirOf(this.loaded?.file), cfg.module);
    const options = cfg.options ?? {};
    const timeoutMs = cfg.callTimeoutMs ?? DEFAULT_PLUGIN_CALL_TIMEOUT_MS;
    let bundle;
    try {
      bundle = await bundleModule(abs);
    } catch (e) {
      return this.refuseEarly(slot, abs, e instanceof BundleError ? `module ${cfg.module} does not bundle: ${e.message}` : String(e));
    }
    this.inputs.set(slot, bundle.inputs);
    const hash = sha(bundle.hash, JSON.stringify(options), cfg.untrusted ? 'untrusted' : 'trusted');
    if (s.current?.hash === hash) return { slot, outcome: 'unchanged', version: hash.slice(0, 12) };
    const last = s.versions()[0];
    if (last && last.hash === hash && last.state === 'failed') return { slot, outcome: 'refused', version: hash.slice(0, 12), error: last.lastError ?? 'refused before' };
    const v = s.addCandidate({ name: basename(abs).replace(/\.[mc]?[jt]s$/, ''), hash, source: abs, loadedAtMs: this.o.timers.now(), impl: undefined });
    const refuse = (msg: string): ReloadReport['slots'][number] => {
      s.fail(v, msg);
      return { slot, outcome: 'refused', version: hash.slice(0, 12), error: msg };
    };
    let pm: PluginModule;
    try {
      pm = pluginModuleOf(await importBundle(bundle));
    } catch (e) {
      return refuse(`module ${cfg.module} failed to evaluate: ${(e as Error).message}`);
    }
    if (pm.swarmhostPlugin !== PLUGIN_CONTRACT_VERSION) return refuse(`module ${cfg.module}: must export swarmhostPlugin = ${PLUGIN_CONTRACT_VERSION} (use definePlugin)`);
    if (pm.kind !== kind) return refuse(`module ${cfg.module}: kind is ${JSON.stringify(pm.kind)}, slot ${slot} needs "${kind}"`);
    if (typeof pm.init !== 'function') return refuse(`module ${cfg.module}: must export init(options, ctx)`);
    if (cfg.untrusted) {
      if (kind === 'executor') return refuse('untrusted: executors run on the agent and cannot be isolated; mark the executor trusted');
      const r = await this.isolation.check(bundle, kind, slot, options, timeoutMs);
      if (!r.ok) return refuse(`isolated ${r.stage}: ${r.message}`);
      // Untrusted code never runs on the host thread: every call goes to its own worker, bounded by callTimeoutMs.
      const sw = new SyncPluginWorker({ bundle, slot, options, callTimeoutMs: timeoutMs });
      try {
        await sw.start(this.o.timers as never);
      } catch (e) {
        return refuse(`isolated start: ${(e as Error).message}`);
      }
      const ident = { name: r.name || v.name, version: r.version || hash.slice(0, 12) };
      v.name = ident.name;
      v.impl =
        kind === 'orchestrator'
          ? ({ ...ident, kinds: r.kinds as ServiceKind[], reconcile: (i, c) => sw.reconcile(i, c) } satisfies OrchestratorPlugin)
          : ({ ...ident, decide: (i) => sw.decide(i) } satisfies RestartPolicyPlugin);
      v.dispose = () => sw.close();
      s.promote(v);
      return { slot, outcome: 'activated', version: hash.slice(0, 12) };
    }
    try {
      pm.validateOptions?.(options);
    } catch (e) {
      return refuse(`bad option: ${(e as Error).message}`);
    }
    let impl: unknown;
    try {
      impl = await withDeadline(
        this.o.timers,
        Promise.resolve(pm.init(options, { slot, log: this.log, timers: this.o.timers, ...(this.o.agent ?? {}) })),
        timeoutMs,
        () => new Error(`init did not finish within ${timeoutMs} ms`),
      );
    } catch (e) {
      return refuse(`init threw: ${(e as Error).message}`);
    }
    const contract = contractProblem(kind, impl);
    if (contract) return refuse(`init returned ${contract}`);
    try {
      if (kind === 'orchestrator') checkOrchestrator(impl as OrchestratorPlugin, slot.slice('orchestrator.'.length) as 'replicated' | 'global' | 'jobs');
      if (kind === 'restartPolicy') checkRestartPolicy(impl as RestartPolicyPlugin);
    } catch (e) {
      return refuse(`conformance: ${(e as Error).message}`);
    }
    const name = (impl as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') v.name = name;
    v.impl = impl;
    if (kind === 'executor') {
      const ex = impl as Executor;
      if (this.executor) {
        const r = await this.executor.swap(ex, hash);
        if (!r.ok) {
          await ex.close();
          v.impl = undefined;
          return refuse(r.reason);
        }
      } else this.executor = new SwappableExecutor(ex, hash, { timers: this.o.timers, log: this.log });
      // The swappable executor drains and closes old versions itself.
    } else if (pm.dispose) {
      const d = pm.dispose.bind(pm);
      v.dispose = async () => {
        await d(impl as never);
      };
    }
    s.promote(v);
    return { slot, outcome: 'activated', version: hash.slice(0, 12) };
  }

  private refuseEarly(slot: SlotName, source: string, msg: string): ReloadReport['slots'][number] {
    const s = this.slots[slot];
    const v = s.addCandidate({ name: basename(source), hash: sha('unbundled', source, msg), source, loadedAtMs: this.o.timers.now(), impl: undefined });
    s.fail(v, msg);
    return { slot, outcome: 'refused', error: msg };
  }

  private async loadStrategy(cfg: StrategySlotConfig | undefined): Promise<ReloadReport['slots'][number]> {
    const slot: SlotName = 'strategy';
    const s = this.slots.strategy as PluginSlot<StrategyImpl>;
    if (!cfg?.module) {
      const hash = sha('builtin', 'spread');
      if (s.current?.hash === hash) return { slot, outcome: 'unchanged', version: hash.slice(0, 12) };
      this.inputs.delete(slot);
      s.promote(s.addCandidate({ name: 'spread', hash, source: 'builtin:spread', loadedAtMs: this.o.timers.now(), impl: {} }));
      return { slot, outcome: 'activated', version: hash.slice(0, 12) };
    }
    const abs = resolve(configDirOf(this.loaded?.file), cfg.module);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(abs));
    } catch (e) {
      return this.refuseEarly(slot, abs, `module ${cfg.module}: ${(e as Error).message}`);
    }
    this.inputs.set(slot, [abs]);
    const hash = sha(bytes, JSON.stringify({ m: cfg.memoryLimitBytes, t: cfg.callTimeoutMs }));
    if (s.current?.hash === hash) return { slot, outcome: 'unchanged', version: hash.slice(0, 12) };
    const last = s.versions()[0];
    if (last && last.hash === hash && last.state === 'failed') return { slot, outcome: 'refused', version: hash.slice(0, 12), error: last.lastError ?? 'refused before' };
    const name = basename(abs, '.wasm');
    const v = s.addCandidate({ name, hash, source: abs, loadedAtMs: this.o.timers.now(), impl: undefined });
    let runner: StrategyRunner;
    try {
      const so: StrategyOptions = { name, timers: this.o.timers, logger: this.log };
      if (cfg.memoryLimitBytes !== undefined) so.memoryLimitBytes = cfg.memoryLimitBytes;
      if (cfg.callTimeoutMs !== undefined) so.callTimeoutMs = cfg.callTimeoutMs;
      runner = await StrategyRunner.load(bytes, so);
    } catch (e) {
      s.fail(v, `load: ${(e as Error).message}`);
      return { slot, outcome: 'refused', version: hash.slice(0, 12), error: v.lastError! };
    }
    try {
      await checkStrategy(runner);
    } catch (e) {
      await runner.close();
      s.fail(v, `conformance: ${(e as Error).message}`);
      return { slot, outcome: 'refused', version: hash.slice(0, 12), error: v.lastError! };
    }
    v.impl = { runner };
    v.dispose = () => runner.close();
    s.promote(v);
    return { slot, outcome: 'activated', version: hash.slice(0, 12) };
  }

  // ------------------------------------------------------------------ reload and watch

  /**
   * Re-reads the config and every module it names; changed ones are validated and promoted, refused ones leave
   * the old version serving. Concurrent calls coalesce (one more run after the current one).
   */
  reload(): Promise<ReloadReport> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = (async (): Promise<ReloadReport> => {
      let report: ReloadReport;
      do {
        this.reloadAgain = false;
        report = await this.reloadOnce();
      } while (this.reloadAgain);
      return report;
    })();
    this.reloading = run.finally(() => {
      this.reloading = undefined;
      this.watcher?.setFiles(this.watchedFiles());
    });
    return this.reloading;
  }

  private async reloadOnce(): Promise<ReloadReport> {
    const report: ReloadReport = { slots: [] };
    if (this.o.configFile !== undefined) {
      try {
        this.loaded = await loadConfig(this.o.configFile);
        this.configFailure = undefined;
      } catch (e) {
        const msg = (e as Error).message;
        this.configFailure = { atMs: this.o.timers.now(), error: msg };
        this.log(`plugins: config refused, every slot keeps its version: ${msg}`);
        report.configError = msg;
        return report;
      }
    }
    this.applyRollbackConfig();
    for (const slot of this.activeSlots()) report.slots.push(await this.loadSlot(slot));
    return report;
  }

  private watchedFiles(): string[] {
    const out = new Set<string>();
    if (this.loaded) {
      out.add(this.loaded.file);
      for (const f of this.loaded.inputs) out.add(f);
    } else if (this.o.configFile) out.add(resolve(this.o.configFile));
    for (const list of this.inputs.values()) for (const f of list) out.add(f);
    return [...out];
  }

  /** Watches the config file and every module file it pulls in (fs.watch, debounced); a change reloads. */
  watch(): void {
    if (this.watcher) return;
    const debounceMs = this.loaded?.config.watchDebounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS;
    this.watcher = new PluginWatcher({
      timers: this.o.timers,
      debounceMs,
      onChange: () => {
        void this.reload().then((r) => this.o.log?.(`plugins: reload after a file change: ${summarise(r)}`));
      },
    });
    this.watcher.setFiles(this.watchedFiles());
  }

  /** Stops watching files (explicit `reload()` still works). */
  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  // ------------------------------------------------------------------ serving

  /** Manager side: the plugins to hand LeaderOrchestration (each call pinned to the version active at its start). */
  orchestrationPlugins(): OrchestrationPlugins {
    return {
      orchestrators: (['orchestrator.replicated', 'orchestrator.global', 'orchestrator.jobs'] as const).map((slot) => this.orchestratorProxy(slot)),
      restartPolicy: this.restartProxy(),
      strategy: { schedulePass: (table, tasks, failures) => this.schedulePass(table, tasks, failures) },
    };
  }

  private orchestratorProxy(slot: 'orchestrator.replicated' | 'orchestrator.global' | 'orchestrator.jobs'): OrchestratorPlugin {
    const builtin = BUILTIN_ORCH[slot]!;
    const s = this.slots[slot] as PluginSlot<OrchestratorPlugin>;
    return {
      name: `slot:${slot}`,
      version: 'pinned-per-call',
      kinds: builtin.kinds,
      reconcile: (input, caps) => {
        if (!s.current) return builtin.reconcile(input, caps);
        const lease = s.acquire();
        try {
          const plan = lease.impl.reconcile(input, caps);
          checkPlan(plan, input, `${slot} ${lease.version.name}`);
          return plan;
        } catch (e) {
          s.reportFailure(lease.version, (e as Error).message);
          this.log(`plugins: ${slot} ${lease.version.name} failed (${(e as Error).message}); built-in used for this reconcile`);
          return builtin.reconcile(input, caps);
        } finally {
          lease.release();
        }
      },
    };
  }

  private restartProxy(): RestartPolicyPlugin {
    const s = this.slots.restartPolicy as PluginSlot<RestartPolicyPlugin>;
    return {
      name: 'slot:restartPolicy',
      version: 'pinned-per-call',
      decide: (input: RestartDecisionInput): RestartDecision => {
        if (!s.current) return defaultRestartPolicy.decide(input);
        const lease = s.acquire();
        try {
          const d = lease.impl.decide(structuredClone(input));
          checkDecision(d, `restartPolicy ${lease.version.name}`);
          return d;
        } catch (e) {
          s.reportFailure(lease.version, (e as Error).message);
          this.log(`plugins: restartPolicy ${lease.version.name} failed (${(e as Error).message}); default policy used for this decision`);
          return defaultRestartPolicy.decide(input);
        } finally {
          lease.release();
        }
      },
    };
  }

  /**
   * One scheduling pass pinned to the strategy version active when it starts (every decision of the pass comes
   * from it). A failing call falls back to the built-in spread inside the runner and counts toward rollback.
   */
  async schedulePass(table: NodeTable, tasks: readonly Task[], failures?: RecentFailures): Promise<SchedulePassResult & { strategyVersion: string }> {
    const s = this.slots.strategy as PluginSlot<StrategyImpl>;
    if (!s.current) return { ...table.schedulePass(tasks, failures), strategyVersion: 'builtin' };
    const lease = s.acquire();
    try {
      const runner = lease.impl.runner;
      if (!runner) return { ...table.schedulePass(tasks, failures), strategyVersion: lease.version.hash.slice(0, 12) };
      const before = runner.status().failures;
      const out = await runner.schedulePass(table, tasks, failures);
      const st = runner.status();
      if (st.failures > before) s.reportFailure(lease.version, st.lastFailure ? `${st.lastFailure.kind}: ${st.lastFailure.message}` : 'strategy call failed');
      return { ...out, strategyVersion: lease.version.hash.slice(0, 12) };
    } finally {
      lease.release();
    }
  }

  // ------------------------------------------------------------------ versions agreed across managers

  private emitActive(slot: SlotName): void {
    for (const f of this.activeListeners) {
      try {
        f(slot);
      } catch (e) {
        this.log(`plugins: active-version listener failed: ${(e as Error).message}`);
      }
    }
  }

  /** Calls `fn` after any slot's active version changes (promote, rollback, reactivate); returns an unsubscribe. */
  onActiveChange(fn: (slot: SlotName) => void): () => void {
    this.activeListeners.add(fn);
    return () => this.activeListeners.delete(fn);
  }

  private managerSlots(): SlotName[] {
    return this.o.manager === false ? [] : SLOT_NAMES.filter((s) => s !== 'executor');
  }

  /**
   * The active manager-side versions (orchestrators, restart policy, strategy), by slot: what the leader records
   * in Cluster.pluginVersions. A slot rolled back to its built-in fallback (no active version) is left out.
   */
  managerVersions(): Record<string, RecordedVersion> {
    const out: Record<string, RecordedVersion> = {};
    for (const slot of this.managerSlots()) {
      const v = this.slots[slot].current;
      if (v) out[slot] = { name: v.name, version: v.hash };
    }
    return out;
  }

  /**
   * On leadership gain: makes this manager serve the versions the previous leader recorded where it can. A slot
   * whose recorded version is active already is `same`; one whose recorded version this host still holds loaded
   * (same content hash, kept for rollback or draining) is reactivated; otherwise the slot keeps its own version,
   * a warning is logged, and {@link PluginHost.list} shows the recorded version next to the active one. No code
   * is shipped between managers.
   */
  adoptRecorded(recorded: Readonly<Record<string, RecordedVersion>>): AdoptReport {
    this.recorded = { ...recorded };
    const report: AdoptReport = { slots: [] };
    const mine = new Set<string>(this.managerSlots());
    for (const [slot, rec] of Object.entries(recorded)) {
      const tag = `${rec.name}@${rec.version.slice(0, 12)}`;
      if (!mine.has(slot)) {
        report.slots.push({ slot, recorded: tag, outcome: 'unknown-slot' });
        this.log(`plugins: WARNING the leader record names slot ${slot} (${tag}), which this manager does not serve`);
        continue;
      }
      const s = this.slots[slot as SlotName];
      const before = s.current?.hash;
      const ok = s.reactivate(rec.version);
      const cur = s.current;
      const active = cur ? `${cur.name}@${cur.hash.slice(0, 12)}` : 'built-in fallback';
      if (ok) report.slots.push({ slot, recorded: tag, outcome: before === rec.version ? 'same' : 'activated', active });
      else {
        report.slots.push({ slot, recorded: tag, outcome: 'mismatch', active });
        this.log(`plugins: WARNING ${slot}: the previous leader served ${tag}, this manager does not hold that version and keeps serving ${active}; load the same module and options on every manager`);
      }
    }
    return report;
  }

  // ------------------------------------------------------------------ views

  /** Every version of every slot, newest first per slot, plus a `config` row when the last config was refused. */
  list(): PluginInfo[] {
    const rows: PluginInfo[] = [];
    if (this.configFailure) {
      rows.push({ slot: 'config', name: basename(this.o.configFile ?? ''), version: '', state: 'failed', loadedAtMs: this.configFailure.atMs, lastError: this.configFailure.error, source: resolve(this.o.configFile ?? ''), leases: 0, failures: 0 });
    }
    for (const slot of this.activeSlots()) for (const v of this.slots[slot].versions()) rows.push(this.withRecorded(info(v)));
    return rows;
  }

  /** One slot: its active version and its history. */
  inspect(slot: SlotName): { slot: SlotName; active?: PluginInfo; versions: PluginInfo[]; config?: unknown } {
    const s = this.slots[slot];
    const out: { slot: SlotName; active?: PluginInfo; versions: PluginInfo[]; config?: unknown } = { slot, versions: s.versions().map(info) };
    if (s.current) out.active = this.withRecorded(info(s.current));
    const c = slotConfig(this.loaded?.config, slot);
    if (c) out.config = c;
    return out;
  }

  private withRecorded(row: PluginInfo): PluginInfo {
    const rec = row.state === 'active' && row.slot !== 'config' ? this.recorded?.[row.slot] : undefined;
    return rec ? { ...row, recorded: `${rec.name}@${rec.version.slice(0, 12)}` } : row;
  }

  /** Stops the watcher and the isolation pool; disposes every version (agent executor: closed, tasks keep running). */
  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    await this.isolation.close();
    for (const s of Object.values(this.slots)) await s.close();
    await this.executor?.close();
  }
}

function info(v: PluginVersion<unknown>): PluginInfo {
  return { slot: v.slot, name: v.name, version: v.hash.slice(0, 12), state: v.state, loadedAtMs: v.loadedAtMs, lastError: v.lastError ?? '', source: v.source, leases: v.leases, failures: v.failures };
}

/** One line per slot outcome. */
export function summarise(r: ReloadReport): string {
  if (r.configError) return `config refused: ${r.configError}`;
  return r.slots.map((s) => `${s.slot} ${s.outcome}${s.version ? ` ${s.version}` : ''}${s.error ? ` (${s.error})` : ''}`).join('; ');
}

function configDirOf(file: string | undefined): string {
  return file ? configDir(file) : fileURLToPath(new URL('../../..', import.meta.url));
}

function contractProblem(kind: PluginKind, impl: unknown): string | undefined {
  if (typeof impl !== 'object' || impl === null) return 'no object';
  const o = impl as Record<string, unknown>;
  const fns = kind === 'executor' ? ['describe', 'controller', 'recover', 'close'] : kind === 'orchestrator' ? ['reconcile'] : ['decide'];
  for (const f of fns) if (typeof o[f] !== 'function') return `an object without ${f}() (a ${kind} needs ${fns.join(', ')})`;
  if (kind === 'orchestrator' && !Array.isArray(o.kinds)) return 'an orchestrator without kinds[]';
  return undefined;
}

