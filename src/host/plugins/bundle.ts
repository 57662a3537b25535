/**
 * Bundling a config file or a JS/TS plugin module with esbuild into one ESM file, content-hashed, then importing
 * it. The hash of the bundled text is the plugin's immutable version: a changed module (or any file it imports)
 * gives a new version. `swarmhost/config` resolves to src/plugins/config.ts; npm packages stay external,
 * imported from their resolved absolute path so the bundle can live in a temporary directory.
 */
import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { builtinModules } from 'node:module';

/** Where `swarmhost/config` points. */
export const CONFIG_MODULE_PATH = fileURLToPath(new URL('../../plugins/config.ts', import.meta.url));

/** Directory bundles are written to before import (one file per content hash, never rewritten). */
export const BUNDLE_DIR = join(tmpdir(), `swarmhost-plugins-${process.pid}`);

let cleanupArmed = false;

/** Creates {@link BUNDLE_DIR}; it is removed when the process exits (imported modules stay loaded). */
export function ensureBundleDir(): void {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  if (cleanupArmed) return;
  cleanupArmed = true;
  process.once('exit', () => rmSync(BUNDLE_DIR, { recursive: true, force: true }));
}

/** Upper bound on the files of one bundle that are watched for changes. */
export const MAX_WATCHED_INPUTS = 256;

/** A bundle failure: the message carries esbuild's own diagnostics (file:line: text). */
export class BundleError extends Error {}

/** The result of bundling one entry. */
export interface Bundle {
  /** sha256 of the bundled text, hex. */
  hash: string;
  /** Absolute path of the written bundle (import it with {@link importBundle}). */
  file: string;
  /** Absolute paths of the source files that went in (for the watcher), at most {@link MAX_WATCHED_INPUTS}. */
  inputs: string[];
  /** Bytes of bundled text. */
  bytes: number;
}

const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

function resolvePlugin(): Plugin {
  return {
    name: 'swarmhost-resolve',
    setup(b) {
      b.onResolve({ filter: /^swarmhost\/config$/ }, () => ({ path: CONFIG_MODULE_PATH }));
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (builtins.has(args.path)) return { path: args.path, external: true };
        if (args.path.startsWith('swarmhost/')) return undefined;
        try {
          const abs = createRequire(join(args.resolveDir || process.cwd(), 'x.js')).resolve(args.path);
          return { path: pathToFileURL(abs).href, external: true };
        } catch {
          return undefined; // let esbuild bundle it (or report it missing)
        }
      });
    },
  };
}

/** Bundles `entry` (absolute or cwd-relative) to ESM; throws {@link BundleError} with esbuild's diagnostics. */
export async function bundleModule(entry: string): Promise<Bundle> {
  const abs = resolve(entry);
  if (!existsSync(abs)) throw new BundleError(`file not found: ${abs}`);
  let res;
  try {
    res = await build({
      entryPoints: [abs],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      metafile: true,
      logLevel: 'silent',
      sourcemap: false,
      plugins: [resolvePlugin()],
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors;
    if (errors && errors.length > 0) {
      throw new BundleError(errors.map((x) => (x.location ? `${x.location.file}:${x.location.line}:${x.location.column}: ${x.text}` : x.text)).join('; '));
    }
    throw new BundleError(String(e));
  }
  const text = res.outputFiles[0]!.text;
  const hash = createHash('sha256').update(text).digest('hex');
  ensureBundleDir();
  const file = join(BUNDLE_DIR, `${hash}.mjs`);
  if (!existsSync(file)) writeFileSync(file, text);
  const cwd = process.cwd();
  const inputs = Object.keys(res.metafile.inputs)
    .filter((p) => !p.includes('node_modules') && !p.startsWith('file:'))
    .map((p) => resolve(cwd, p))
    .slice(0, MAX_WATCHED_INPUTS);
  return { hash, file, inputs, bytes: text.length };
}

/** Imports a bundle written by {@link bundleModule}. */
export async function importBundle(b: Bundle): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(b.file).href)) as Record<string, unknown>;
}

/** The directory a config path is relative to. */
export function configDir(configFile: string): string {
  return dirname(resolve(configFile));
}
