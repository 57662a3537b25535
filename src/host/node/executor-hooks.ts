/**
 * A thin wrapper around the node's executor plugin, for the node layer's needs without touching the plugin:
 * extra engine labels in its description (the log server address) and a callback on every failed controller
 * call (the plugin failure metric). Everything else is passed through unchanged.
 */
import type { Controller, Executor, NodeDescriptionPart, TaskHandle } from '../agent/index.js';
import type { Task } from '../api/objects.js';

/** Options of {@link instrumentExecutor}. */
export interface ExecutorHooks {
  /** Engine labels merged into every description (read on every describe, so they may change). */
  extraLabels?: () => Record<string, string>;
  /** Called once per controller call that rejects (`op` = method name). */
  onFailure?: (op: string) => void;
}

function instrumentController(c: Controller, onFailure: ((op: string) => void) | undefined): Controller {
  if (onFailure === undefined) return c;
  return new Proxy(c, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const r: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (r instanceof Promise) r.then(undefined, () => onFailure(String(prop)));
        return r;
      };
    },
  });
}

/** The wrapped executor (same name; controllers wrapped; description labels extended). */
export function instrumentExecutor(ex: Executor, hooks: ExecutorHooks): Executor {
  return {
    get name() {
      return ex.name;
    },
    async describe(): Promise<NodeDescriptionPart> {
      const d = await ex.describe();
      const extra = hooks.extraLabels?.() ?? {};
      return { ...d, engine: { ...d.engine, labels: { ...d.engine.labels, ...extra } } };
    },
    controller: (task: Task) => instrumentController(ex.controller(task), hooks.onFailure),
    recover: async (handle: TaskHandle, task: Task) => instrumentController(await ex.recover(handle, task), hooks.onFailure),
    close: () => ex.close(),
  };
}
