import { InvalidArgumentError } from '../api/errors.js';
import type { ConfChange, RaftId } from '../raft/types.js';

/** What every manager knows about a Raft member: the swarm node it is and the address it listens on. */
export interface RaftMemberInfo {
  raftId: RaftId;
  nodeId: string;
  addr: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The context a membership change carries: `{nodeId, addr}` as JSON. */
export function encodeMemberContext(nodeId: string, addr: string): Uint8Array {
  return enc.encode(JSON.stringify({ nodeId, addr }));
}

/** Reads a membership change's context; an empty context (a bootstrap voter) gives empty fields. */
export function decodeMemberContext(ctx: Uint8Array): { nodeId: string; addr: string } {
  if (ctx.length === 0) return { nodeId: '', addr: '' };
  const v = JSON.parse(dec.decode(ctx)) as { nodeId?: unknown; addr?: unknown };
  return { nodeId: typeof v.nodeId === 'string' ? v.nodeId : '', addr: typeof v.addr === 'string' ? v.addr : '' };
}

/**
 * The replicated address book of Raft members, rebuilt identically on every manager from the membership
 * changes in the log and from snapshots. Bootstrap voters carry no context in their log entry; their
 * identity comes from the snapshot envelope or from `remember()` (the joining node is told by the leader).
 */
export class MemberBook {
  private readonly byRaftId = new Map<RaftId, RaftMemberInfo>();
  private readonly removedIds = new Set<RaftId>();

  /** Applies a committed membership change. */
  apply(cc: ConfChange): void {
    if (cc.type === 'remove') {
      this.byRaftId.delete(cc.id);
      this.removedIds.add(cc.id);
      return;
    }
    const { nodeId, addr } = decodeMemberContext(cc.context);
    const prev = this.byRaftId.get(cc.id);
    this.byRaftId.set(cc.id, { raftId: cc.id, nodeId: nodeId || prev?.nodeId || '', addr: addr || prev?.addr || '' });
  }

  /** Records what is known of a member from outside the log (the bootstrap member itself; a join reply); an empty Raft id is ignored. */
  remember(m: RaftMemberInfo): void {
    if (m.raftId === '' || this.removedIds.has(m.raftId)) return; // '': a manager that has not joined yet
    const prev = this.byRaftId.get(m.raftId);
    this.byRaftId.set(m.raftId, { raftId: m.raftId, nodeId: m.nodeId || prev?.nodeId || '', addr: m.addr || prev?.addr || '' });
  }

  get(raftId: RaftId): RaftMemberInfo | undefined {
    return this.byRaftId.get(raftId);
  }

  /** The member that is swarm node `nodeId`, if any. */
  byNodeId(nodeId: string): RaftMemberInfo | undefined {
    for (const m of this.byRaftId.values()) if (m.nodeId === nodeId) return m;
    return undefined;
  }

  list(): RaftMemberInfo[] {
    return [...this.byRaftId.values()].sort((a, b) => (a.raftId < b.raftId ? -1 : 1));
  }

  removed(): RaftId[] {
    return [...this.removedIds].sort();
  }

  isRemoved(raftId: RaftId): boolean {
    return this.removedIds.has(raftId);
  }

  /** JSON form for snapshots and state.json. */
  toJSON(): { members: RaftMemberInfo[]; removed: RaftId[] } {
    return { members: this.list(), removed: this.removed() };
  }

  /** Replaces the book's content (snapshot restore). */
  load(v: { members: RaftMemberInfo[]; removed: RaftId[] }): void {
    this.byRaftId.clear();
    this.removedIds.clear();
    for (const r of v.removed) this.removedIds.add(r);
    for (const m of v.members) this.byRaftId.set(m.raftId, { ...m });
  }
}

/**
 * A manager's Raft snapshot: the member book and the store, in one envelope:
 * `[u32 LE length of book JSON][book JSON][store snapshot bytes]`.
 */
export function encodeSnapshotEnvelope(book: MemberBook, store: Uint8Array): Uint8Array {
  const b = enc.encode(JSON.stringify(book.toJSON()));
  const out = new Uint8Array(4 + b.length + store.length);
  new DataView(out.buffer).setUint32(0, b.length, true);
  out.set(b, 4);
  out.set(store, 4 + b.length);
  return out;
}

/** Splits a snapshot envelope; a malformed one is refused (it would be a bug or a foreign file). */
export function decodeSnapshotEnvelope(data: Uint8Array): { book: { members: RaftMemberInfo[]; removed: RaftId[] }; store: Uint8Array } {
  if (data.length < 4) throw new InvalidArgumentError(`snapshot envelope: ${data.length} bytes is too short`);
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
  if (4 + n > data.length) throw new InvalidArgumentError('snapshot envelope: member book length exceeds the data');
  const book = JSON.parse(dec.decode(data.subarray(4, 4 + n))) as { members: RaftMemberInfo[]; removed: RaftId[] };
  return { book, store: data.subarray(4 + n) };
}

/** A fresh Raft id: a random 63-bit number + 1, in hex (never 0), as SwarmKit shows them. */
export function newRaftId(bytes: Uint8Array): RaftId {
  if (bytes.length < 8) throw new InvalidArgumentError('newRaftId: needs 8 random bytes');
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[i]!);
  v = (v & 0x7fff_ffff_ffff_ffffn) + 1n;
  return v.toString(16);
}
