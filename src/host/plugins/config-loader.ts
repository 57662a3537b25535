/**
 * Loading `plugins.config.ts`: bundled with esbuild, imported, and validated field by field. Every refusal is a
 * {@link PluginConfigError} naming the file, the slot and the problem.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import type { SlotConfig, StrategySlotConfig, SwarmhostConfig } from '../../plugins/config.js';
import { BUNDLE_DIR, BundleError, CONFIG_MODULE_PATH, bundleModule, configDir, ensureBundleDir, importBundle } from './bundle.js';

/** A config (or a module it names) was refused. `slot` is `config` for file-level problems. */
export class PluginConfigError extends InvalidArgumentError {
  constructor(
    readonly file: string,
    readonly slot: string,
    readonly problem: string,
  ) {
    super(`${file}: ${slot}: ${problem}`);
  }
}

/** Default deadline of an isolated plugin call, ms. */
export const DEFAULT_PLUGIN_CALL_TIMEOUT_MS = 1000;
/** Default debounce of the config/module watcher, ms. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 200;

/** A loaded, validated config. */
export interface LoadedConfig {
  file: string;
  config: SwarmhostConfig;
  /** Content hash of the bundled config. */
  hash: string;
  /** Files the config bundle read (for the watcher). */
  inputs: string[];
}

const TOP_KEYS = ['executor', 'orchestrators', 'restartPolicy', 'strategy', 'rollback', 'watchDebounceMs'];
const SLOT_KEYS = ['module', 'options', 'untrusted', 'callTimeoutMs'];
const STRATEGY_KEYS = ['module', 'memoryLimitBytes', 'callTimeoutMs'];

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null);
}

function posInt(file: string, slot: string, field: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)) throw new PluginConfigError(file, slot, `${field} must be a positive integer, got ${JSON.stringify(v)}`);
}

function checkSlot(file: string, slot: string, v: unknown, dir: string, ext: RegExp): void {
  if (!isPlainObject(v)) throw new PluginConfigError(file, slot, 'must be an object { module, options?, untrusted?, callTimeoutMs? }');
  for (const k of Object.keys(v)) if (!SLOT_KEYS.includes(k)) throw new PluginConfigError(file, slot, `unknown field "${k}" (allowed: ${SLOT_KEYS.join(', ')})`);
  const s = v as unknown as SlotConfig;
  if (typeof s.module !== 'string' || s.module === '') throw new PluginConfigError(file, slot, 'module must be a non-empty path');
  if (!ext.test(s.module)) throw new PluginConfigError(file, slot, `module ${s.module} must be a ${ext.source} file`);
  if (!existsSync(resolve(dir, s.module))) throw new PluginConfigError(file, slot, `module ${s.module} not found (looked at ${resolve(dir, s.module)})`);
  if (s.options !== undefined) {
    if (!isPlainObject(s.options)) throw new PluginConfigError(file, slot, 'options must be a plain object');
    try {
      JSON.stringify(s.options);
    } catch (e) {
      throw new PluginConfigError(file, slot, `options must be JSON: ${(e as Error).message}`);
    }
  }
  if (s.untrusted !== undefined && typeof s.untrusted !== 'boolean') throw new PluginConfigError(file, slot, 'untrusted must be a boolean');
  posInt(file, slot, 'callTimeoutMs', s.callTimeoutMs);
}

/** Validates a config object's shape and that every module it names exists. */
export function validateConfig(file: string, c: unknown): SwarmhostConfig {
  if (!isPlainObject(c)) throw new PluginConfigError(file, 'config', 'the default export must be defineConfig({...})');
  const dir = configDir(file);
  for (const k of Object.keys(c)) if (!TOP_KEYS.includes(k)) throw new PluginConfigError(file, 'config', `unknown field "${k}" (allowed: ${TOP_KEYS.join(', ')})`);
  const js = /\.(ts|mts|js|mjs)$/;
  if (c.executor !== undefined) checkSlot(file, 'executor', c.executor, dir, js);
  if (c.restartPolicy !== undefined) checkSlot(file, 'restartPolicy', c.restartPolicy, dir, js);
  if (c.orchestrators !== undefined) {
    if (!isPlainObject(c.orchestrators)) throw new PluginConfigError(file, 'orchestrators', 'must be an object { replicated?, global?, jobs? }');
    for (const [k, v] of Object.entries(c.orchestrators)) {
      if (!['replicated', 'global', 'jobs'].includes(k)) throw new PluginConfigError(file, `orchestrators.${k}`, 'unknown orchestrator slot (allowed: replicated, global, jobs)');
      checkSlot(file, `orchestrator.${k}`, v, dir, js);
    }
  }
  if (c.strategy !== undefined) {
    const s = c.strategy;
    if (!isPlainObject(s)) throw new PluginConfigError(file, 'strategy', 'must be an object { module?, memoryLimitBytes?, callTimeoutMs? }');
    for (const k of Object.keys(s)) if (!STRATEGY_KEYS.includes(k)) throw new PluginConfigError(file, 'strategy', `unknown field "${k}" (allowed: ${STRATEGY_KEYS.join(', ')})`);
    const st = s as StrategySlotConfig;
    if (st.module !== undefined) {
      if (typeof st.module !== 'string' || !st.module.endsWith('.wasm')) throw new PluginConfigError(file, 'strategy', 'module must be a .wasm file');
      if (!existsSync(resolve(dir, st.module))) throw new PluginConfigError(file, 'strategy', `module ${st.module} not found (looked at ${resolve(dir, st.module)})`);
    }
    posInt(file, 'strategy', 'memoryLimitBytes', st.memoryLimitBytes);
    posInt(file, 'strategy', 'callTimeoutMs', st.callTimeoutMs);
  }
  if (c.rollback !== undefined) {
    if (!isPlainObject(c.rollback)) throw new PluginConfigError(file, 'rollback', 'must be an object { failureThreshold?, failureWindowMs? }');
    for (const k of Object.keys(c.rollback)) if (!['failureThreshold', 'failureWindowMs'].includes(k)) throw new PluginConfigError(file, 'rollback', `unknown field "${k}"`);
    posInt(file, 'rollback', 'failureThreshold', c.rollback.failureThreshold);
    posInt(file, 'rollback', 'failureWindowMs', c.rollback.failureWindowMs);
  }
  posInt(file, 'config', 'watchDebounceMs', c.watchDebounceMs);
  return c as SwarmhostConfig;
}

/** Bundles, imports and validates a config file. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const abs = resolve(file);
  let b;
  try {
    b = await bundleModule(abs);
  } catch (e) {
    throw new PluginConfigError(abs, 'config', e instanceof BundleError ? `does not bundle: ${e.message}` : String(e));
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importBundle(b);
  } catch (e) {
    throw new PluginConfigError(abs, 'config', `failed to evaluate: ${(e as Error).message}`);
  }
  const config = validateConfig(abs, mod.default ?? mod.config);
  return { file: abs, config, hash: b.hash, inputs: b.inputs };
}

/** Bound on one type-check of a config file, ms. */
export const CONFIG_TYPECHECK_TIMEOUT_MS = 60_000;
/** Type errors quoted in a refusal, at most. */
export const MAX_QUOTED_TYPE_ERRORS = 5;

const PROJECT_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Type-checks a config file with the project's TypeScript (`swarmhost/config` mapped to src/plugins/config.ts),
 * refusing it with the first type errors. Returns false (and checks nothing) when TypeScript is not installed
 * (a production install without dev dependencies): bundling still catches syntax errors and missing modules.
 */
export async function typeCheckConfig(file: string): Promise<boolean> {
  const abs = resolve(file);
  const tsc = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsc');
  if (!existsSync(tsc)) return false;
  ensureBundleDir();
  const project = join(BUNDLE_DIR, `tsconfig-${createHash('sha256').update(abs).digest('hex').slice(0, 16)}.json`);
  writeFileSync(
    project,
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        types: ['node'],
        typeRoots: [join(PROJECT_ROOT, 'node_modules', '@types')],
        paths: { 'swarmhost/config': [CONFIG_MODULE_PATH] },
      },
      files: [abs],
    }),
  );
  const out = await new Promise<{ code: number; text: string }>((done) => {
    execFile(tsc, ['-p', project, '--pretty', 'false'], { timeout: CONFIG_TYPECHECK_TIMEOUT_MS, cwd: PROJECT_ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      done({ code, text: `${stdout}${stderr}` });
    });
  });
  if (out.code === 0) return true;
  const errors = out.text.split('\n').filter((l) => / error TS\d+:/.test(l));
  const quoted = (errors.length > 0 ? errors : [out.text.trim() || `tsc exited with ${out.code}`]).slice(0, MAX_QUOTED_TYPE_ERRORS);
  throw new PluginConfigError(abs, 'config', `does not type-check: ${quoted.join('; ')}`);
}
