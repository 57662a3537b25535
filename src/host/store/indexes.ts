/**
 * Secondary indexes and the `find` selectors. Each index maps a string key to the set of ids having that key;
 * `FindBy` selectors resolve to one index key (or to a scan for prefixes). The same selectors are evaluated
 * as predicates on single objects, so a write transaction can merge its uncommitted changes into results.
 */
import {
  InvalidArgumentError,
  type Node,
  type NodeMembership,
  type NodeRole,
  type StoreObject,
  type TableName,
  type Task,
  type TaskState,
} from '../api/index.js';

/** A `find` selector. Which selectors a table accepts is listed in {@link SELECTORS_BY_TABLE}. */
export type FindBy =
  | { name: string }
  | { namePrefix: string }
  | { idPrefix: string }
  | { serviceId: string; slot?: number }
  | { nodeId: string }
  | { desiredState: TaskState }
  | { role: NodeRole }
  | { membership: NodeMembership }
  | { hostname: string };

/** Names of the secondary indexes a table may keep. */
export type IndexName = 'name' | 'serviceId' | 'nodeId' | 'slot' | 'desiredState' | 'role' | 'membership' | 'hostname';

/** Singular kind names used in error messages ("service web not found"). */
export const KIND: Readonly<Record<TableName, string>> = {
  nodes: 'node',
  services: 'service',
  tasks: 'task',
  clusters: 'cluster',
  secrets: 'secret',
  configs: 'config',
  networks: 'network',
};

/** Tables whose names are unique case-insensitively (SwarmKit: node hostnames and task names are not). */
export const UNIQUE_NAME_TABLES: ReadonlySet<TableName> = new Set(['services', 'clusters', 'secrets', 'configs', 'networks']);

/** The object's name, lower-cased, as the name index keys it ('' when it has none). */
export function nameKey(table: TableName, obj: StoreObject): string {
  let name: string | undefined;
  if (table === 'tasks') name = (obj as Task).annotations?.name;
  else if (table === 'nodes') {
    const n = obj as Node;
    name = n.spec?.annotations?.name || n.description?.hostname;
  } else name = (obj as { spec?: { annotations?: { name?: string } } }).spec?.annotations?.name;
  return (name ?? '').toLowerCase();
}

/** Index keys of an object, per index; undefined = not in that index. */
export function indexKeys(table: TableName, obj: StoreObject): Partial<Record<IndexName, string>> {
  const keys: Partial<Record<IndexName, string>> = {};
  const name = nameKey(table, obj);
  if (name !== '') keys.name = name;
  if (table === 'tasks') {
    const t = obj as Task;
    keys.serviceId = t.serviceId;
    keys.nodeId = t.nodeId;
    keys.slot = slotKey(t.serviceId, t.slot);
    keys.desiredState = String(t.desiredState);
  } else if (table === 'nodes') {
    const n = obj as Node;
    keys.role = String(n.role);
    keys.membership = String(n.spec?.membership);
    if (n.description?.hostname !== undefined) keys.hostname = n.description.hostname;
  }
  return keys;
}

/**
 * True when every field the indexes of `table` are computed from (by {@link indexKeys}: keep the two in step) is the same in both objects (by identity for
 * nested values, which is exact for the store's frozen objects: an untouched nested value is the very same
 * object). A false "changed" only costs the recomputation.
 */
export function sameIndexInputs(table: TableName, a: StoreObject, b: StoreObject): boolean {
  if (table === 'tasks') {
    const x = a as Task;
    const y = b as Task;
    return x.annotations === y.annotations && x.serviceId === y.serviceId && x.nodeId === y.nodeId && x.slot === y.slot && x.desiredState === y.desiredState;
  }
  if (table === 'nodes') {
    const x = a as Node;
    const y = b as Node;
    return x.spec === y.spec && x.description === y.description && x.role === y.role;
  }
  return (a as { spec?: unknown }).spec === (b as { spec?: unknown }).spec;
}

/** One index key of an object (what {@link indexKeys} gives for `index`, without building the others). */
export function indexKey(table: TableName, obj: StoreObject, index: IndexName): string | undefined {
  switch (index) {
    case 'name': {
      const name = nameKey(table, obj);
      return name === '' ? undefined : name;
    }
    case 'serviceId':
      return table === 'tasks' ? (obj as Task).serviceId : undefined;
    case 'nodeId':
      return table === 'tasks' ? (obj as Task).nodeId : undefined;
    case 'slot':
      return table === 'tasks' ? slotKey((obj as Task).serviceId, (obj as Task).slot) : undefined;
    case 'desiredState':
      return table === 'tasks' ? String((obj as Task).desiredState) : undefined;
    case 'role':
      return table === 'nodes' ? String((obj as Node).role) : undefined;
    case 'membership':
      return table === 'nodes' ? String((obj as Node).spec?.membership) : undefined;
    case 'hostname':
      return table === 'nodes' ? (obj as Node).description?.hostname : undefined;
  }
}

/** Index names per table (name on all tables). */
export const INDEXES_BY_TABLE: Readonly<Record<TableName, readonly IndexName[]>> = {
  nodes: ['name', 'role', 'membership', 'hostname'],
  services: ['name'],
  tasks: ['name', 'serviceId', 'nodeId', 'slot', 'desiredState'],
  clusters: ['name'],
  secrets: ['name'],
  configs: ['name'],
  networks: ['name'],
};

/** Key of the (serviceId, slot) index. */
export function slotKey(serviceId: string, slot: number): string {
  return `${serviceId}\u0000${slot}`;
}

/** A selector resolved either to an index lookup or to a scan with a predicate. */
export type ResolvedFind = { kind: 'index'; index: IndexName; key: string } | { kind: 'scan' };

/** Resolves a selector for a table; unknown or inapplicable selectors are an InvalidArgumentError. */
export function resolveFind(table: TableName, by: FindBy): ResolvedFind {
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(by, k);
  const allowed = INDEXES_BY_TABLE[table];
  const need = (index: IndexName): void => {
    if (!allowed.includes(index)) {
      throw new InvalidArgumentError(`invalid find argument type: table ${table} has no ${index} index`);
    }
  };
  const keys = Object.keys(by).filter((k) => (by as Record<string, unknown>)[k] !== undefined);
  if ('serviceId' in by && has('slot') && by.slot !== undefined) {
    need('slot');
    if (!Number.isInteger(by.slot)) throw new InvalidArgumentError('find.slot: must be an integer');
    return { kind: 'index', index: 'slot', key: slotKey(by.serviceId, by.slot) };
  }
  if (keys.length !== 1) {
    throw new InvalidArgumentError(`invalid find argument type: expected one selector, got {${keys.join(', ')}}`);
  }
  if ('name' in by) return { kind: 'index', index: 'name', key: str(by.name, 'name').toLowerCase() };
  if ('namePrefix' in by) return str(by.namePrefix, 'namePrefix'), { kind: 'scan' };
  if ('idPrefix' in by) return str(by.idPrefix, 'idPrefix'), { kind: 'scan' };
  if ('serviceId' in by) return need('serviceId'), { kind: 'index', index: 'serviceId', key: str(by.serviceId, 'serviceId') };
  if ('nodeId' in by) return need('nodeId'), { kind: 'index', index: 'nodeId', key: str(by.nodeId, 'nodeId') };
  if ('desiredState' in by) return need('desiredState'), { kind: 'index', index: 'desiredState', key: String(by.desiredState) };
  if ('role' in by) return need('role'), { kind: 'index', index: 'role', key: String(by.role) };
  if ('membership' in by) return need('membership'), { kind: 'index', index: 'membership', key: String(by.membership) };
  if ('hostname' in by) return need('hostname'), { kind: 'index', index: 'hostname', key: str(by.hostname, 'hostname') };
  throw new InvalidArgumentError(`invalid find argument type: unknown selector {${keys.join(', ')}}`);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new InvalidArgumentError(`find.${field}: must be a string`);
  return v;
}

/** Whether one object matches a selector (already validated by {@link resolveFind}). */
export function matches(table: TableName, obj: StoreObject, by: FindBy, resolved: ResolvedFind): boolean {
  if (resolved.kind === 'index') return indexKey(table, obj, resolved.index) === resolved.key;
  if ('namePrefix' in by) return nameKey(table, obj).startsWith(by.namePrefix.toLowerCase());
  if ('idPrefix' in by) return obj.id.startsWith(by.idPrefix);
  return false;
}
