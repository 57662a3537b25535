/**
 * The one encoding for Raft entries, snapshots and the wire: UTF-8 JSON. Chosen by measurement
 * (scripts/bench-codec.ts, figures and reasons in docs/store.md). Everything goes through the functions below
 * so the encoding can change in one place.
 *
 * Entry layout: `{"v":1,"p":"<proposal id>","t":[[action,...],...]}` — one inner array per transaction.
 * Snapshot layout: `{"v":1,"index":N,"tables":{"nodes":[...],...}}` with objects sorted by id so that two
 * stores holding the same state produce byte-equal snapshots.
 */
import { AssertionFailure, TABLES, type StoreObject, type TableName } from '../api/index.js';

/** Format version written into every entry and snapshot. */
export const CODEC_VERSION = 1;

/**
 * One change of a transaction. `expectedVersion` is checked at apply time (see docs/store.md).
 *
 * An `update` built by a write transaction also carries `base`: the object it replaces, as the transaction
 * read it. `base` is never encoded; {@link encodeTx} uses it to write the update as a `patch` (only the
 * top-level fields whose values changed, plus removed field names), which every manager turns back into the
 * same object by applying it to the version `expectedVersion` names. A task assignment is ~150 bytes as a
 * patch instead of ~900 as a whole object. `patch`, when set, is that patch computed already by the transaction
 * (while adopting the object); it is never encoded as such either.
 */
export type Action =
  | { op: 'create'; table: TableName; object: StoreObject }
  | { op: 'update'; table: TableName; object: StoreObject; expectedVersion: number; base?: StoreObject; patch?: PatchAction }
  | { op: 'delete'; table: TableName; id: string; expectedVersion: number }
  | PatchAction;

/**
 * An update as it travels in an entry: apply to the current object (which must be the version named by
 * `expectedVersion`): remove the `unset` fields, assign the `set` fields (existing fields keep their position,
 * new ones are appended in order), and stamp `meta` from the stored createdAt and this `updatedAt`.
 */
export interface PatchAction {
  op: 'patch';
  table: TableName;
  id: string;
  expectedVersion: number;
  /** meta.updatedAt stamped by the proposer's clock, ms since epoch. */
  updatedAt: number;
  /** Changed or added top-level fields (never `id` or `meta`). */
  set: Record<string, unknown>;
  /** Removed top-level fields (omitted when none). */
  unset?: string[];
}

/** A decoded Raft entry: the proposing store's proposal id and its transactions, in order. */
export interface EntryPayload {
  proposal: string;
  txs: Action[][];
}

/** A decoded store snapshot: the applied index it was taken at and every table's objects. */
export interface SnapshotPayload {
  index: number;
  tables: Record<TableName, StoreObject[]>;
}

/** One transaction encoded on its own, so an entry's size is known before the entry is built. */
export interface EncodedTx {
  /** Encoded size in bytes (UTF-8). */
  readonly sizeBytes: number;
  readonly text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes one transaction's actions (part of an entry); updates that carry their `base` go as patches. */
export function encodeTx(actions: readonly Action[]): EncodedTx {
  let text = '[';
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    if (i > 0) text += ',';
    if (a.op === 'update') {
      const patch = a.patch ?? (a.base ? patchOf(a.table, a.base, a.object, a.expectedVersion) : undefined);
      text += patch ? JSON.stringify(patch) : JSON.stringify({ op: a.op, table: a.table, object: a.object, expectedVersion: a.expectedVersion });
    } else text += JSON.stringify(a);
  }
  text += ']';
  return { text, sizeBytes: Buffer.byteLength(text, 'utf8') };
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The patch that turns `base` into `next` under {@link applyPatch}, or undefined when `next`'s field order is
 * not the one applyPatch would produce (then the whole object is sent: every manager must end with the very
 * same bytes, field order included). Fields are compared by identity: an unchanged nested value is the same
 * frozen object the transaction read, a changed one is new.
 */
export function patchOf(table: TableName, base: StoreObject, next: StoreObject, expectedVersion: number): PatchAction | undefined {
  if (base.id !== next.id) return undefined;
  const b = base as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  const bk = Object.keys(b);
  const nk = Object.keys(n);
  const set: Record<string, unknown> = {};
  let unset: string[] | undefined;
  let i = 0;
  let added = false;
  for (const k of nk) {
    if (hasOwn(b, k)) {
      if (added) return undefined; // an old field after a new one: applyPatch would order them differently
      while (i < bk.length && bk[i] !== k) {
        const gone = bk[i++]!;
        if (hasOwn(n, gone)) return undefined; // present but moved
        (unset ??= []).push(gone);
      }
      i++;
      if (k !== 'meta' && k !== 'id' && b[k] !== n[k]) set[k] = n[k];
    } else {
      added = true;
      set[k] = n[k];
    }
  }
  for (; i < bk.length; i++) {
    const gone = bk[i]!;
    if (gone === 'meta' || gone === 'id') return undefined;
    (unset ??= []).push(gone);
  }
  const updatedAt = next.meta.updatedAt;
  return unset
    ? { op: 'patch', table, id: next.id, expectedVersion, updatedAt, set, unset }
    : { op: 'patch', table, id: next.id, expectedVersion, updatedAt, set };
}

/**
 * Applies a patch to the current object (unfrozen result; the caller freezes). Existing fields keep their
 * position; new fields are appended in the patch's order; meta gets the stored version `version`.
 */
export function applyPatch(cur: StoreObject, p: PatchAction, version: number): StoreObject {
  const o = { ...cur } as unknown as Record<string, unknown>;
  if (p.unset) for (const k of p.unset) delete o[k];
  for (const k of Object.keys(p.set)) o[k] = p.set[k];
  o.meta = { version, createdAt: cur.meta.createdAt, updatedAt: p.updatedAt };
  return o as unknown as StoreObject;
}

/** Bytes an entry adds around its transactions: header, brackets and one comma between transactions. */
export function entryOverheadBytes(proposal: string, txCount: number): number {
  return Buffer.byteLength(proposal, 'utf8') + 22 + Math.max(0, txCount - 1);
}

/** Builds an entry from transactions encoded with {@link encodeTx}. */
export function encodeEntry(proposal: string, txs: readonly EncodedTx[]): Uint8Array {
  let s = `{"v":${CODEC_VERSION},"p":${JSON.stringify(proposal)},"t":[`;
  for (let i = 0; i < txs.length; i++) s += (i ? ',' : '') + txs[i]!.text;
  return encoder.encode(s + ']}');
}

/** Encodes a whole entry payload (convenience over encodeTx + encodeEntry). */
export function encodeActions(payload: EntryPayload): Uint8Array {
  return encodeEntry(payload.proposal, payload.txs.map(encodeTx));
}

/** Decodes an entry written by {@link encodeActions}/{@link encodeEntry}. A malformed entry is a crash, not a skip. */
export function decodeActions(data: Uint8Array): EntryPayload {
  const raw = parse(data, 'entry') as { v?: unknown; p?: unknown; t?: unknown };
  if (raw.v !== CODEC_VERSION || typeof raw.p !== 'string' || !Array.isArray(raw.t)) {
    throw new AssertionFailure('store entry: not a version-1 entry {v, p, t}');
  }
  return { proposal: raw.p, txs: raw.t as Action[][] };
}

/** Encodes a snapshot; objects are sorted by id per table for byte-equal output from equal states. */
export function encodeSnapshot(snap: SnapshotPayload): Uint8Array {
  const tables: Record<string, StoreObject[]> = {};
  for (const t of TABLES) tables[t] = [...(snap.tables[t] ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return encoder.encode(JSON.stringify({ v: CODEC_VERSION, index: snap.index, tables }));
}

/** Decodes a snapshot written by {@link encodeSnapshot}. */
export function decodeSnapshot(data: Uint8Array): SnapshotPayload {
  const raw = parse(data, 'snapshot') as { v?: unknown; index?: unknown; tables?: Record<string, unknown> };
  if (raw.v !== CODEC_VERSION || typeof raw.index !== 'number' || typeof raw.tables !== 'object' || raw.tables === null) {
    throw new AssertionFailure('store snapshot: not a version-1 snapshot {v, index, tables}');
  }
  const tables = {} as Record<TableName, StoreObject[]>;
  for (const t of TABLES) {
    const list = raw.tables[t] ?? [];
    if (!Array.isArray(list)) throw new AssertionFailure(`store snapshot: table ${t} is not a list`);
    tables[t] = list as StoreObject[];
  }
  return { index: raw.index, tables };
}

function parse(data: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new AssertionFailure(`store ${what}: undecodable (${(e as Error).message})`);
  }
}

const ENTRY_PREFIX = encoder.encode(`{"v":${CODEC_VERSION},"p":"`);
/** Longest proposal id peekProposal looks for, in bytes. */
const MAX_PROPOSAL_ID_BYTES = 128;

/**
 * The proposal id of an entry without decoding the rest (undefined if the entry does not start the usual way).
 * Lets the proposing store recognise its own entries and apply them from memory.
 */
export function peekProposal(data: Uint8Array): string | undefined {
  if (data.length < ENTRY_PREFIX.length) return undefined;
  for (let i = 0; i < ENTRY_PREFIX.length; i++) if (data[i] !== ENTRY_PREFIX[i]) return undefined;
  const end = Math.min(data.length, ENTRY_PREFIX.length + MAX_PROPOSAL_ID_BYTES);
  for (let i = ENTRY_PREFIX.length; i < end; i++) {
    if (data[i] === 0x22) return decoder.decode(data.subarray(ENTRY_PREFIX.length, i));
    if (data[i] === 0x5c) return undefined; // an escape: not one of our ids
  }
  return undefined;
}
