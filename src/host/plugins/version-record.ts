/**
 * Plugin versions agreed across managers: a leader component that records the leader's active manager-side
 * plugin versions in the store (Cluster.pluginVersions) whenever they change, and, when this manager gains
 * leadership, first adopts the versions the previous leader recorded (see {@link PluginHost.adoptRecorded}).
 * Code is never shipped between managers: a manager that lacks a recorded version warns and serves its own.
 */
import type { Cluster } from '../api/objects.js';
import { mutableCopy, type Store } from '../store/index.js';
import type { AdoptReport, PluginHost, RecordedVersion } from './host.js';

/** Options of {@link PluginVersionRecorder}. */
export interface PluginVersionRecorderOptions {
  store: Store;
  plugins: Pick<PluginHost, 'adoptRecorded' | 'managerVersions' | 'onActiveChange'>;
  log?: (line: string) => void;
}

function sameVersions(a: Readonly<Record<string, RecordedVersion>> | undefined, b: Readonly<Record<string, RecordedVersion>>): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return kb.every((k) => a![k]!.name === b[k]!.name && a![k]!.version === b[k]!.version);
}

/** Leader component (`name`, `start`, `stop`): adopt the record on leadership gain, then keep it current. */
export class PluginVersionRecorder {
  readonly name = 'plugin-versions';
  private unsubscribe: (() => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** What the last adoption did (undefined before the first start, or when the store held no cluster). */
  lastAdopt: AdoptReport | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly o: PluginVersionRecorderOptions) {
    this.log = o.log ?? (() => {});
  }

  private cluster(): Readonly<Cluster> | undefined {
    return this.o.store.view((tx) => tx.list('clusters')[0] as Readonly<Cluster> | undefined);
  }

  /** Adopts the recorded versions (if any), writes this leader's versions, and follows later changes. */
  async start(): Promise<void> {
    const c = this.cluster();
    if (c?.pluginVersions) this.lastAdopt = this.o.plugins.adoptRecorded(c.pluginVersions);
    this.unsubscribe?.();
    this.unsubscribe = this.o.plugins.onActiveChange(() => void this.record());
    await this.record();
  }

  /** Stops following changes (leadership lost); waits for a write in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.writing;
  }

  /** Writes the current versions when they differ from the record; writes are serialized. Never throws. */
  record(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const want = this.o.plugins.managerVersions();
      try {
        await this.o.store.update((tx) => {
          const cur = tx.list('clusters')[0] as Readonly<Cluster> | undefined;
          if (cur === undefined || sameVersions(cur.pluginVersions, want)) return;
          const next = mutableCopy(cur) as Cluster;
          next.pluginVersions = want;
          tx.update('clusters', next);
        });
      } catch (e) {
        this.log(`plugins: could not record the active plugin versions in the store: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }
}
