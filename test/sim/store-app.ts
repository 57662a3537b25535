import { createHash } from 'node:crypto';
import { Store, newId } from '../../src/host/store/index.js';
import type { Config } from '../../src/host/api/objects.js';
import type { AppFactory, SimApp } from './cluster.js';

/**
 * The real replicated store as the simulation's application: a client write creates a config named after the
 * key (through a store update transaction = one Raft proposal), and every so often updates an existing one
 * with its read version, exercising the apply-time "update out of sequence" check. Reads are local.
 */
export const storeApp: AppFactory = (propose, clock, rng) => {
  const store = new Store({ clock, rng, proposer: { propose: async (d) => void (await propose(d)) } });
  const enc = new TextEncoder();
  const app: SimApp = {
    apply(index, data) {
      store.applyCommitted(index, data);
      return undefined;
    },
    snapshot() {
      return store.snapshot();
    },
    restore(data) {
      store.restore(data);
    },
    async write(k, v) {
      await store.update((tx) => {
        const cfg: Config = {
          id: newId(rng),
          meta: { version: 0, createdAt: 0, updatedAt: 0 },
          spec: { annotations: { name: k, labels: {} }, data: Buffer.from(enc.encode(v)).toString('base64') },
        };
        tx.create('configs', cfg);
        // Touch an older config too, with the version this transaction read: the store must keep versions
        // consistent across managers and refuse stale ones.
        const all = tx.list('configs') as Config[];
        if (all.length > 1) {
          const other = all[rng.int(all.length)]!;
          if (other.spec.annotations.name !== k) {
            tx.update('configs', { ...other, spec: { ...other.spec, annotations: { ...other.spec.annotations, labels: { touched: k } } } });
          }
        }
      });
    },
    has(k, v) {
      return store.view((tx) => {
        const found = tx.find('configs', { name: k }) as Config[];
        return found.length === 1 && found[0]!.spec.data === Buffer.from(enc.encode(v)).toString('base64');
      });
    },
    fingerprint() {
      return createHash('sha1').update(store.snapshot()).digest('hex');
    },
  };
  return app;
};
