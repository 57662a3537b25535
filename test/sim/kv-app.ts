import type { AppFactory, SimApp } from './cluster.js';

/**
 * A minimal replicated key-value map used to test Raft alone: each entry is one JSON `{k, v}` write.
 * The store-backed app (store-app.ts) runs the same scenarios through the real store.
 */
export const kvApp: AppFactory = (propose) => {
  let map = new Map<string, string>();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const app: SimApp = {
    apply(_index, data) {
      if (data.length === 0) return undefined;
      const { k, v } = JSON.parse(dec.decode(data)) as { k: string; v: string };
      map.set(k, v);
      return undefined;
    },
    snapshot() {
      return enc.encode(JSON.stringify([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
    },
    restore(data) {
      map = new Map(JSON.parse(dec.decode(data)) as [string, string][]);
    },
    async write(k, v) {
      await propose(enc.encode(JSON.stringify({ k, v })));
    },
    has(k, v) {
      return map.get(k) === v;
    },
    fingerprint() {
      return dec.decode(app.snapshot());
    },
  };
  return app;
};
