/**
 * Applying a committed entry: the deterministic half of a write. Every manager runs exactly this on the same
 * bytes in the same log order, so every manager ends with identical tables. Each transaction of the entry is
 * checked and applied atomically; a transaction whose check fails is skipped as a whole (on every manager) and
 * its error is reported back to the proposer.
 */
import { AssertionFailure, TABLES, type StoreObject, type SwarmError, type TableName } from '../api/index.js';
import { applyPatch, type Action, type EntryPayload, type PatchAction } from './codec.js';
import { deepFreeze } from './freeze.js';
import type { Tables } from './tables.js';
import { LayeredSource, checkNameFree, existsError, missingError, sequenceError, tablesSource } from './transaction.js';
import type { StoreEvent } from './watch.js';

/** Outcome of applying one entry: per transaction undefined (applied) or its error; events in order. */
export interface ApplyOutcome {
  errors: (SwarmError | undefined)[];
  events: StoreEvent[];
}

/**
 * Applies `payload` committed at Raft index `index` to `tables`. Stamps `meta.version = index` on every object
 * written; keeps `createdAt` from the stored object on update; takes `updatedAt`/`createdAt` from the action
 * (stamped by the proposer's clock) so that all managers store identical objects.
 */
export function applyEntry(tables: Tables, index: number, payload: EntryPayload): ApplyOutcome {
  const base = tablesSource(tables);
  const errors: (SwarmError | undefined)[] = [];
  const events: StoreEvent[] = [];
  // Which transaction of this entry last wrote each object: resolves "expects the version written by k".
  const lastWriter = new Map<string, number>();
  payload.txs.forEach((actions, k) => {
    if (!Array.isArray(actions)) throw new AssertionFailure(`store entry ${index}: transaction ${k} is not a list`);
    const view = new LayeredSource(base);
    const txEvents: StoreEvent[] = [];
    try {
      for (const a of actions) applyAction(view, index, a, lastWriter, txEvents);
    } catch (e) {
      if (e instanceof AssertionFailure || !(e instanceof Error) || !('code' in e)) throw e;
      errors.push(e as SwarmError);
      return;
    }
    for (const [table, changes] of view.layer) {
      const t = tables[table];
      for (const [id, obj] of changes) {
        if (obj) t.put(obj);
        else t.remove(id);
        lastWriter.set(`${table}\u0000${id}`, k);
      }
    }
    errors.push(undefined);
    events.push(...txEvents, { kind: 'commit', version: index });
  });
  return { errors, events };
}

function applyAction(
  view: LayeredSource,
  index: number,
  a: Action,
  lastWriter: ReadonlyMap<string, number>,
  events: StoreEvent[],
): void {
  if (!a || !TABLES.includes(a.table)) throw new AssertionFailure(`store entry ${index}: bad action table`);
  const table: TableName = a.table;
  if (a.op === 'create') {
    const obj = a.object;
    if (view.get(table, obj.id)) throw existsError(table, obj.id);
    checkNameFree(view, table, obj);
    const stored = freezeStored(obj, { version: index, createdAt: obj.meta.createdAt, updatedAt: obj.meta.updatedAt });
    view.set(table, obj.id, stored);
    events.push({ kind: 'create', table, object: stored } as StoreEvent);
    return;
  }
  const id = a.op === 'update' ? a.object.id : a.id;
  if (typeof id !== 'string') throw new AssertionFailure(`store entry ${index}: ${a.op} without an id`);
  const cur = view.get(table, id);
  if (!cur) throw missingError(table, id);
  checkExpected(cur, table, id, a.expectedVersion, lastWriter);
  if (a.op === 'patch') {
    checkPatch(a, index);
    const stored = deepFreeze(applyPatch(cur, a, index));
    checkNameFree(view, table, stored);
    view.set(table, id, stored);
    events.push({ kind: 'update', table, object: stored, old: cur } as StoreEvent);
  } else if (a.op === 'update') {
    const obj = a.object;
    checkNameFree(view, table, obj);
    const stored = freezeStored(obj, { version: index, createdAt: cur.meta.createdAt, updatedAt: obj.meta.updatedAt });
    view.set(table, id, stored);
    events.push({ kind: 'update', table, object: stored, old: cur } as StoreEvent);
  } else if (a.op === 'delete') {
    view.set(table, id, null);
    events.push({ kind: 'delete', table, object: cur } as StoreEvent);
  } else {
    throw new AssertionFailure(`store entry ${index}: unknown action op ${String((a as { op?: unknown }).op)}`);
  }
}

/**
 * `obj` with its final `meta`, frozen. An object adopted by this manager's own transaction is frozen all the way
 * down already (adoptJson), so only the new top level and meta need freezing; a decoded one is frozen deeply.
 */
function freezeStored(obj: StoreObject, meta: StoreObject['meta']): StoreObject {
  const out = { ...obj, meta: Object.freeze(meta) };
  return Object.isFrozen(obj) ? Object.freeze(out) : deepFreeze(out);
}

function checkPatch(a: PatchAction, index: number): void {
  const ok =
    typeof a.updatedAt === 'number' &&
    a.set !== null &&
    typeof a.set === 'object' &&
    !Array.isArray(a.set) &&
    !('id' in a.set) &&
    !('meta' in a.set) &&
    (a.unset === undefined || (Array.isArray(a.unset) && a.unset.every((k) => typeof k === 'string' && k !== 'id' && k !== 'meta')));
  if (!ok) throw new AssertionFailure(`store entry ${index}: malformed patch of ${a.table} ${a.id}`);
}

/**
 * expectedVersion >= 0: the stored version must equal it. expectedVersion = -(k + 1): the object must be exactly
 * as transaction k of this same entry left it, i.e. k applied and was the last writer of the object.
 */
function checkExpected(
  cur: StoreObject,
  table: TableName,
  id: string,
  expected: number,
  lastWriter: ReadonlyMap<string, number>,
): void {
  if (typeof expected !== 'number' || !Number.isInteger(expected)) throw new AssertionFailure('store entry: expectedVersion missing');
  if (expected >= 0) {
    if (cur.meta.version !== expected) throw sequenceError();
  } else if (lastWriter.get(`${table}\u0000${id}`) !== -expected - 1) {
    throw sequenceError();
  }
}
