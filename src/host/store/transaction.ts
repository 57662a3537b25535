/**
 * Read and write transactions. Reads go through a {@link Source}: the applied tables, optionally with layers
 * of not-yet-applied changes on top (the pending proposal's earlier transactions, then this transaction's own
 * changes). A write transaction records its changes as one collapsed action per object.
 */
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  TABLES,
  type ObjectsByTable,
  type StoreObject,
  type TableName,
} from '../api/index.js';
import type { Clock } from '../env/index.js';
import type { Action } from './codec.js';
import { adoptJson, adoptUpdate } from './freeze.js';
import { KIND, UNIQUE_NAME_TABLES, indexKeys, matches, nameKey, resolveFind, type FindBy, type IndexName } from './indexes.js';
import type { Tables } from './tables.js';

/** A stored object of table T, as handed out by reads (deep-frozen). */
export type Stored<T extends TableName> = Readonly<ObjectsByTable[T]>;

/** Consistent, synchronous reads. Valid only inside the callback that received it. */
export interface ReadTx {
  /** The object with this exact id, or undefined. */
  get<T extends TableName>(table: T, id: string): Stored<T> | undefined;
  /** Every object of a table; order unspecified. */
  list<T extends TableName>(table: T): Stored<T>[];
  /** Objects matching one selector (see {@link FindBy}); order unspecified. */
  find<T extends TableName>(table: T, by: FindBy): Stored<T>[];
  /**
   * Resolves what a user typed: exact id, then exact name (case-insensitive), then unique id prefix.
   * NotFoundError "<kind> <x> not found"; InvalidArgumentError "<x> is ambiguous (N matches found)".
   */
  lookup<T extends TableName>(table: T, idOrName: string): Stored<T>;
}

/**
 * A write transaction. Reads see the applied state plus the changes of earlier transactions of the same
 * proposal plus this transaction's own changes. Objects handed to create/update are shallow-copied with a new
 * `meta` and deep-frozen (their nested values become frozen too: ownership passes to the store). Objects
 * written by this or an earlier transaction of the same proposal carry a provisional negative `meta.version`
 * until applied (see docs/store.md, "versions inside a proposal").
 */
export interface WriteTx extends ReadTx {
  /** Adds an object (its `id` must be new; unique names checked). Returns the object as stored. */
  create<T extends TableName>(table: T, obj: ObjectsByTable[T]): Stored<T>;
  /** Replaces an object; `obj.meta.version` must equal the current version ("update out of sequence"). */
  update<T extends TableName>(table: T, obj: ObjectsByTable[T]): Stored<T>;
  /** Removes an object by id (NotFoundError when absent). */
  delete(table: TableName, id: string): void;
}

/** Where reads come from: the applied tables, or a layer over another source. */
export interface Source {
  get(table: TableName, id: string): StoreObject | undefined;
  list(table: TableName): StoreObject[];
  find(table: TableName, by: FindBy): StoreObject[];
}

/** A source over the applied tables. */
export function tablesSource(tables: Tables): Source {
  return {
    get: (table, id) => tables[table].objects.get(id),
    list: (table) => [...tables[table].objects.values()],
    find: (table, by) => tables[table].find(by),
  };
}

/** Changes not yet applied: per table, id -> new object, or null for deleted. */
export type Layer = Map<TableName, Map<string, StoreObject | null>>;

/** A source that shows `layer` over `base`. */
export class LayeredSource implements Source {
  constructor(
    private readonly base: Source,
    readonly layer: Layer = new Map(),
  ) {}

  /** Records a change in the layer. */
  set(table: TableName, id: string, obj: StoreObject | null): void {
    let m = this.layer.get(table);
    if (!m) this.layer.set(table, (m = new Map()));
    m.set(id, obj);
    if (this.indexes) this.reindex(table, id, obj);
  }

  get(table: TableName, id: string): StoreObject | undefined {
    const m = this.layer.get(table);
    if (m && m.has(id)) return m.get(id) ?? undefined;
    return this.base.get(table, id);
  }

  list(table: TableName): StoreObject[] {
    const m = this.layer.get(table);
    const base = this.base.list(table);
    if (!m || m.size === 0) return base;
    const out = base.filter((o) => !m.has(o.id));
    for (const o of m.values()) if (o) out.push(o);
    return out;
  }

  find(table: TableName, by: FindBy): StoreObject[] {
    const m = this.layer.get(table);
    const base = this.base.find(table, by);
    if (!m || m.size === 0) return base;
    const r = resolveFind(table, by);
    const out = base.filter((o) => !m.has(o.id));
    if (r.kind === 'index' && m.size > LAYER_INDEX_MIN) {
      // A large layer (a proposal being filled with up to 200 changes): look the key up instead of testing
      // every changed object on every find (each create's unique-name check would otherwise be O(layer)).
      const ids = this.indexFor(table, m).get(r.index)?.get(r.key);
      if (ids) for (const id of ids) out.push(m.get(id)!);
      return out;
    }
    for (const o of m.values()) if (o && matches(table, o, by, r)) out.push(o);
    return out;
  }

  /** Index keys of the layer's objects of one table, built on first need and kept in step by set(). */
  private indexes: Map<TableName, LayerIndex> | undefined;

  private indexFor(table: TableName, m: Map<string, StoreObject | null>): LayerIndex['byKey'] {
    this.indexes ??= new Map();
    let ix = this.indexes.get(table);
    if (!ix) {
      ix = { byKey: new Map(), keysOf: new Map() };
      this.indexes.set(table, ix);
      for (const [id, obj] of m) indexLayerObject(table, ix, id, obj);
    }
    return ix.byKey;
  }

  /** Keeps a built layer index in step with a change (called by set). */
  private reindex(table: TableName, id: string, obj: StoreObject | null): void {
    const ix = this.indexes?.get(table);
    if (ix) indexLayerObject(table, ix, id, obj);
  }
}

/** Layers with more changed objects of a table than this get an index for `find`. */
const LAYER_INDEX_MIN = 16;

interface LayerIndex {
  byKey: Map<IndexName, Map<string, Set<string>>>;
  keysOf: Map<string, Partial<Record<IndexName, string>>>;
}

function indexLayerObject(table: TableName, ix: LayerIndex, id: string, obj: StoreObject | null): void {
  const old = ix.keysOf.get(id);
  if (old) {
    for (const k of Object.keys(old) as IndexName[]) ix.byKey.get(k)?.get(old[k]!)?.delete(id);
    ix.keysOf.delete(id);
  }
  if (!obj) return;
  const keys = indexKeys(table, obj);
  ix.keysOf.set(id, keys);
  for (const k of Object.keys(keys) as IndexName[]) {
    let byVal = ix.byKey.get(k);
    if (!byVal) ix.byKey.set(k, (byVal = new Map()));
    let ids = byVal.get(keys[k]!);
    if (!ids) byVal.set(keys[k]!, (ids = new Set()));
    ids.add(id);
  }
}

/** Throws unless `table` is one of the store's tables. */
export function checkTable(table: unknown): asserts table is TableName {
  if (!TABLES.includes(table as TableName)) {
    throw new InvalidArgumentError(`table: must be one of ${TABLES.join(', ')} (got ${String(table)})`);
  }
}

/** Throws AlreadyExistsError when `obj`'s name is taken by another object in a unique-name table. */
export function checkNameFree(src: Source, table: TableName, obj: StoreObject): void {
  if (!UNIQUE_NAME_TABLES.has(table)) return;
  const key = nameKey(table, obj);
  if (key === '') return;
  for (const other of src.find(table, { name: key })) {
    if (other.id !== obj.id) {
      throw new AlreadyExistsError(
        `name conflicts with an existing object: ${KIND[table]} ${(obj as { spec: { annotations: { name: string } } }).spec.annotations.name} already exists`,
      );
    }
  }
}

/** "object already exists" for a duplicate id. */
export function existsError(table: TableName, id: string): AlreadyExistsError {
  return new AlreadyExistsError(`object already exists: ${KIND[table]} ${id}`);
}

/** "object does not exist" for a missing id. */
export function missingError(table: TableName, id: string): NotFoundError {
  return new NotFoundError(`object does not exist: ${KIND[table]} ${id}`);
}

/** The optimistic-concurrency failure, same text as SwarmKit's ErrSequenceConflict. */
export function sequenceError(): FailedPreconditionError {
  return new FailedPreconditionError('update out of sequence');
}

/** lookup() over any source. */
export function lookupIn(src: Source, table: TableName, idOrName: string): StoreObject {
  checkTable(table);
  if (typeof idOrName !== 'string' || idOrName === '') {
    throw new InvalidArgumentError(`lookup: ${KIND[table]} id or name must be a non-empty string`);
  }
  const exact = src.get(table, idOrName);
  if (exact) return exact;
  const byName = src.find(table, { name: idOrName });
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new InvalidArgumentError(`${idOrName} is ambiguous (${byName.length} matches found)`);
  const byPrefix = src.find(table, { idPrefix: idOrName });
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new InvalidArgumentError(`${idOrName} is ambiguous (${byPrefix.length} matches found)`);
  throw new NotFoundError(`${KIND[table]} ${idOrName} not found`);
}

/** A ReadTx over a source that refuses use after its callback returned. */
export class ReadTxImpl implements ReadTx {
  /** Set false when the callback returns; later use throws (the view would no longer be consistent). */
  open = true;
  constructor(protected readonly src: Source) {}

  protected check(table: TableName): void {
    if (!this.open) throw new FailedPreconditionError('transaction used after its callback returned');
    checkTable(table);
  }
  get<T extends TableName>(table: T, id: string): Stored<T> | undefined {
    this.check(table);
    return this.src.get(table, id) as Stored<T> | undefined;
  }
  list<T extends TableName>(table: T): Stored<T>[] {
    this.check(table);
    return this.src.list(table) as Stored<T>[];
  }
  find<T extends TableName>(table: T, by: FindBy): Stored<T>[] {
    this.check(table);
    if (by === null || typeof by !== 'object') throw new InvalidArgumentError('find: selector must be an object');
    return this.src.find(table, by) as Stored<T>[];
  }
  lookup<T extends TableName>(table: T, idOrName: string): Stored<T> {
    this.check(table);
    return lookupIn(this.src, table, idOrName) as Stored<T>;
  }
}

interface Draft {
  table: TableName;
  id: string;
  op: 'create' | 'update' | 'delete';
  object: StoreObject | null;
  expectedVersion: number;
  /** For updates: the object as this transaction first read it (the version expectedVersion names). */
  base?: StoreObject;
  /** For a single update of `base` with the same field order: the changed fields (the patch to send). */
  patchSet?: Record<string, unknown>;
}

/**
 * A write transaction over `base` (applied state + earlier transactions of the same proposal). `position` is
 * this transaction's index within its proposal; its objects get provisional version -(position + 1).
 */
export class WriteTxImpl extends ReadTxImpl implements WriteTx {
  private readonly drafts = new Map<string, Draft>();
  private readonly view: LayeredSource;

  constructor(
    base: Source,
    private readonly position: number,
    private readonly clock: Clock,
  ) {
    const view = new LayeredSource(base);
    super(view);
    this.view = view;
  }

  /** The provisional version objects written by this transaction carry until applied. */
  get provisionalVersion(): number {
    return -(this.position + 1);
  }

  /** This transaction's changes (already layered over its base). */
  get layer(): Layer {
    return this.view.layer;
  }

  create<T extends TableName>(table: T, obj: ObjectsByTable[T]): Stored<T> {
    this.check(table);
    checkObject(table, obj);
    if (this.view.get(table, obj.id)) throw existsError(table, obj.id);
    checkNameFree(this.view, table, obj);
    const now = this.clock.now();
    const stored = adoptJson({ ...obj, meta: { version: this.provisionalVersion, createdAt: now, updatedAt: now } }, KIND[table]);
    const key = draftKey(table, obj.id);
    const d = this.drafts.get(key);
    if (d && d.op === 'delete') {
      // Deleted then re-created in one transaction: an update of the original object.
      d.op = 'update';
      d.object = stored;
    } else {
      this.drafts.set(key, { table, id: obj.id, op: 'create', object: stored, expectedVersion: 0 });
    }
    this.view.set(table, obj.id, stored);
    return stored as Stored<T>;
  }

  update<T extends TableName>(table: T, obj: ObjectsByTable[T]): Stored<T> {
    this.check(table);
    checkObject(table, obj);
    const cur = this.view.get(table, obj.id);
    if (!cur) throw missingError(table, obj.id);
    if (typeof obj.meta !== 'object' || obj.meta === null || obj.meta.version !== cur.meta.version) throw sequenceError();
    checkNameFree(this.view, table, obj);
    const stored = { ...obj, meta: { version: this.provisionalVersion, createdAt: cur.meta.createdAt, updatedAt: this.clock.now() } };
    const set = adoptUpdate(stored, KIND[table], cur);
    const key = draftKey(table, obj.id);
    const d = this.drafts.get(key);
    if (d) {
      d.object = stored;
      delete d.patchSet; // the patch must be against the first version read (d.base): computed at encode time
    } else {
      const draft: Draft = { table, id: obj.id, op: 'update', object: stored, expectedVersion: cur.meta.version, base: cur };
      if (set) draft.patchSet = set;
      this.drafts.set(key, draft);
    }
    this.view.set(table, obj.id, stored);
    return stored as Stored<T>;
  }

  delete(table: TableName, id: string): void {
    this.check(table);
    if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`delete: ${KIND[table]} id must be a non-empty string`);
    const cur = this.view.get(table, id);
    if (!cur) throw missingError(table, id);
    const key = draftKey(table, id);
    const d = this.drafts.get(key);
    if (d && d.op === 'create') this.drafts.delete(key);
    else if (d) {
      d.op = 'delete';
      d.object = null;
    } else this.drafts.set(key, { table, id, op: 'delete', object: null, expectedVersion: cur.meta.version, base: cur });
    this.view.set(table, id, null);
  }

  /** The collapsed actions, one per touched object, in first-touch order. */
  actions(): Action[] {
    const out: Action[] = [];
    for (const d of this.drafts.values()) {
      if (d.op === 'create') out.push({ op: 'create', table: d.table, object: d.object! });
      else if (d.op === 'update') {
        const a: Action = d.base
          ? { op: 'update', table: d.table, object: d.object!, expectedVersion: d.expectedVersion, base: d.base }
          : { op: 'update', table: d.table, object: d.object!, expectedVersion: d.expectedVersion };
        if (d.patchSet && a.op === 'update') {
          a.patch = { op: 'patch', table: d.table, id: d.id, expectedVersion: d.expectedVersion, updatedAt: d.object!.meta.updatedAt, set: d.patchSet };
        }
        out.push(a);
      }
      else out.push({ op: 'delete', table: d.table, id: d.id, expectedVersion: d.expectedVersion });
    }
    return out;
  }
}

function draftKey(table: TableName, id: string): string {
  return `${table}\u0000${id}`;
}

function checkObject(table: TableName, obj: unknown): asserts obj is StoreObject {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new InvalidArgumentError(`${KIND[table]}: must be an object`);
  }
  const id = (obj as { id?: unknown }).id;
  if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`${KIND[table]}.id: must be a non-empty string`);
}
