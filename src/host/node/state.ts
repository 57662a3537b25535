import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError } from '../api/errors.js';
import { writeFileAtomic } from '../ca/index.js';
import type { RaftMemberInfo } from './members.js';

/** Layout of a node's state directory (SwarmKit's: certificates/, raft/, worker/, state.json). */
export function statePaths(stateDir: string): { raft: string; worker: string; stateFile: string } {
  return { raft: join(stateDir, 'raft'), worker: join(stateDir, 'worker'), stateFile: join(stateDir, 'state.json') };
}

/** What a node remembers across restarts besides its certificates and Raft log. */
export interface NodeState {
  nodeId: string;
  clusterId: string;
  /** Raft id when this node is (or is joining as) a manager. */
  raftId?: string;
  /** True once this node created the cluster (it may have to write the cluster object on first leadership). */
  bootstrapper?: boolean;
  /** Managers known to this node (for agents and for a manager restarting). */
  managers: RaftMemberInfo[];
}

/** Reads state.json; undefined when the node has none yet. A corrupt file is an error naming it. */
export async function readNodeState(stateDir: string): Promise<NodeState | undefined> {
  const p = statePaths(stateDir).stateFile;
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as NodeState;
    if (typeof v.nodeId !== 'string' || typeof v.clusterId !== 'string' || !Array.isArray(v.managers)) {
      throw new Error('missing nodeId, clusterId or managers');
    }
    return v;
  } catch (e) {
    throw new FailedPreconditionError(`${p}: not a valid node state file (${(e as Error).message})`);
  }
}

/** Writes state.json atomically (temp file, fsync, rename). */
export async function writeNodeState(stateDir: string, s: NodeState): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(statePaths(stateDir).stateFile, JSON.stringify(s, null, 2), 0o600);
}
