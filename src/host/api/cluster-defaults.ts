/** The spec a new swarm's cluster object starts with: SwarmKit's defaults (reference §1 and §14). */
import type { ClusterSpec, RaftSettings } from './objects.js';

/** Default node certificate validity: 2160 h (90 days). */
export const DEFAULT_NODE_CERT_EXPIRY_MS = 2160 * 3_600_000;

/**
 * A new cluster's spec: name "default", task history 5, Raft snapshot every 10,000 entries keeping 500 for slow
 * followers, heartbeat 5 s, node certificates for 90 days. `raft` overrides the Raft fields given (the managers
 * pass their tick settings).
 */
export function defaultClusterSpec(raft: Partial<RaftSettings> = {}): ClusterSpec {
  return {
    annotations: { name: 'default', labels: {} },
    orchestration: { taskHistoryRetentionLimit: 5 },
    raft: { snapshotInterval: 10_000, keepOldSnapshots: 0, logEntriesForSlowFollowers: 500, heartbeatTick: 1, electionTick: 10, ...raft },
    dispatcher: { heartbeatPeriodMs: 5_000 },
    caConfig: { nodeCertExpiryMs: DEFAULT_NODE_CERT_EXPIRY_MS },
  };
}
