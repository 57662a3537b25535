// Helpers for the plugin-host tests: a temporary project directory with a config file and plugin modules.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (for paths to the built-in modules and build/*.wasm). */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A scratch directory: write files into it, remove it at the end. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'plugins-test-'));

  write(name: string, text: string): string {
    const p = join(this.dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  }

  /** Writes `plugins.config.ts` with the given body of defineConfig({...}). */
  config(body: string, name = 'plugins.config.ts'): string {
    return this.write(name, `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig(${body});\n`);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A restart-policy module with a fixed delay; `extra` is spliced into decide() before the return. */
export function fixedDelayPolicy(name: string, delayMs: number, extra = ''): string {
  return `import { definePlugin } from 'swarmhost/config';
export default definePlugin({
  kind: 'restartPolicy',
  init: () => ({
    name: ${JSON.stringify(name)},
    version: '1',
    decide(input) {
      const c = input.task.spec.restart?.condition;
      if (c === 0 || (c === 1 && input.task.status.state === 576)) return { restart: false, reason: 'condition forbids' };
      ${extra}
      (globalThis.__policyDecisions ??= []).push({ policy: ${JSON.stringify(name)}, taskId: input.task.id, delayMs: ${delayMs} });
      return { restart: true, delayMs: ${delayMs}, waitForOldTask: false };
    },
  }),
});
`;
}
