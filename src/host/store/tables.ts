/**
 * The applied state: one {@link Table} per object kind, each a map by id plus its secondary indexes. Only the
 * apply path and restore write here; everything else reads.
 */
import { TABLES, type StoreObject, type TableName } from '../api/index.js';
import { INDEXES_BY_TABLE, indexKeys, matches, resolveFind, type FindBy, type IndexName } from './indexes.js';

/** One table: objects by id plus secondary indexes (key -> ids). Objects are stored frozen. */
export class Table {
  /** Objects by id. */
  readonly objects = new Map<string, StoreObject>();
  private readonly indexes = new Map<IndexName, Map<string, Set<string>>>();

  constructor(readonly name: TableName) {
    for (const ix of INDEXES_BY_TABLE[name]) this.indexes.set(ix, new Map());
  }

  /** Inserts or replaces an object, keeping every index in step. */
  put(obj: StoreObject): void {
    const old = this.objects.get(obj.id);
    if (old) this.unindex(old);
    this.objects.set(obj.id, obj);
    const keys = indexKeys(this.name, obj);
    for (const [ix, map] of this.indexes) {
      const k = keys[ix];
      if (k === undefined) continue;
      let set = map.get(k);
      if (!set) map.set(k, (set = new Set()));
      set.add(obj.id);
    }
  }

  /** Removes an object by id (no-op when absent). */
  remove(id: string): void {
    const old = this.objects.get(id);
    if (!old) return;
    this.unindex(old);
    this.objects.delete(id);
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

  private unindex(obj: StoreObject): void {
    const keys = indexKeys(this.name, obj);
    for (const [ix, map] of this.indexes) {
      const k = keys[ix];
      if (k === undefined) continue;
      const set = map.get(k);
      if (!set) continue;
      set.delete(obj.id);
      if (set.size === 0) map.delete(k);
    }
  }
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
