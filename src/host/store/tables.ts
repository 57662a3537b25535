/**
 * The applied state: one {@link Table} per object kind, each a map by id plus its secondary indexes. Only the
 * apply path and restore write here; everything else reads.
 */
import { TABLES, type StoreObject, type TableName } from '../api/index.js';
import { INDEXES_BY_TABLE, indexKeys, matches, resolveFind, sameIndexInputs, type FindBy, type IndexName } from './indexes.js';

/** One table: objects by id plus secondary indexes (key -> ids). Objects are stored frozen. */
export class Table {
  /** Objects by id. */
  readonly objects = new Map<string, StoreObject>();
  private readonly indexes = new Map<IndexName, Map<string, Set<string>>>();
  /** Index keys each stored object was filed under, so an update only touches the keys that changed. */
  private readonly keys = new Map<string, Partial<Record<IndexName, string>>>();

  constructor(readonly name: TableName) {
    for (const ix of INDEXES_BY_TABLE[name]) this.indexes.set(ix, new Map());
  }

  /** Inserts or replaces an object, keeping every index in step (only keys that changed are touched). */
  put(obj: StoreObject): void {
    const oldKeys = this.keys.get(obj.id);
    const prev = oldKeys && this.objects.get(obj.id);
    if (prev && sameIndexInputs(this.name, prev, obj)) {
      // Most updates (task status changes) touch no indexed field: keep the keys, skip the index work.
      this.objects.set(obj.id, obj);
      return;
    }
    const keys = indexKeys(this.name, obj);
    this.objects.set(obj.id, obj);
    this.keys.set(obj.id, keys);
    for (const [ix, map] of this.indexes) {
      const k = keys[ix];
      const ok = oldKeys?.[ix];
      if (k === ok) continue;
      if (ok !== undefined) dropFrom(map, ok, obj.id);
      if (k === undefined) continue;
      let set = map.get(k);
      if (!set) map.set(k, (set = new Set()));
      set.add(obj.id);
    }
  }

  /** Removes an object by id (no-op when absent). */
  remove(id: string): void {
    const keys = this.keys.get(id);
    if (!keys) return;
    for (const [ix, map] of this.indexes) {
      const k = keys[ix];
      if (k !== undefined) dropFrom(map, k, id);
    }
    this.objects.delete(id);
    this.keys.delete(id);
  }

  /** Ids under one index key (empty when none). */
  idsBy(index: IndexName, key: string): ReadonlySet<string> {
    return this.indexes.get(index)?.get(key) ?? EMPTY;
  }

  /** Objects matching a selector. Order is unspecified. */
  find(by: FindBy): StoreObject[] {
    const r = resolveFind(this.name, by);
    const out: StoreObject[] = [];
    if (r.kind === 'index') {
      for (const id of this.idsBy(r.index, r.key)) out.push(this.objects.get(id)!);
    } else {
      for (const obj of this.objects.values()) if (matches(this.name, obj, by, r)) out.push(obj);
    }
    return out;
  }
}

function dropFrom(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) map.delete(key);
}

const EMPTY: ReadonlySet<string> = new Set();

/** Every table of the store. */
export type Tables = Record<TableName, Table>;

/** Fresh, empty tables. */
export function emptyTables(): Tables {
  const t = {} as Tables;
  for (const name of TABLES) t[name] = new Table(name);
  return t;
}
