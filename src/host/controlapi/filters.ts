/**
 * List filters (reference §12): filters are AND-ed, values within one filter OR-ed; names match exactly, ids
 * by prefix, and a label filter `{k: ""}` only asks for the key to be present.
 */
import { InvalidArgumentError } from '../api/index.js';
import { asObj, numArr, strArr, strMap, type Obj } from './input.js';

/** One parsed filter set; empty lists and maps do not filter. */
export interface Filters {
  names: string[];
  namePrefixes: string[];
  idPrefixes: string[];
  labels: Record<string, string>;
  nodeLabels: Record<string, string>;
  memberships: number[];
  roles: number[];
  serviceIds: string[];
  nodeIds: string[];
  desiredStates: number[];
  runtimes: string[];
  upToDate: boolean;
}

const KEYS = new Set([
  'names',
  'namePrefixes',
  'idPrefixes',
  'labels',
  'nodeLabels',
  'memberships',
  'roles',
  'serviceIds',
  'nodeIds',
  'desiredStates',
  'runtimes',
  'upToDate',
]);

/** Parses `request.filters`, refusing keys the given list call does not know. */
export function parseFilters(req: Obj, allowed: readonly (keyof Filters)[]): Filters {
  const f = asObj(req.filters, 'filters', true);
  for (const k of Object.keys(f)) {
    if (!KEYS.has(k) || !allowed.includes(k as keyof Filters)) {
      throw new InvalidArgumentError(`filters.${k}: not a filter of this list (allowed: ${allowed.join(', ')})`);
    }
  }
  if (f.upToDate !== undefined && typeof f.upToDate !== 'boolean') throw new InvalidArgumentError('filters.upToDate: must be a boolean');
  return {
    names: strArr(f.names, 'filters.names'),
    namePrefixes: strArr(f.namePrefixes, 'filters.namePrefixes'),
    idPrefixes: strArr(f.idPrefixes, 'filters.idPrefixes'),
    labels: strMap(f.labels, 'filters.labels'),
    nodeLabels: strMap(f.nodeLabels, 'filters.nodeLabels'),
    memberships: numArr(f.memberships, 'filters.memberships'),
    roles: numArr(f.roles, 'filters.roles'),
    serviceIds: strArr(f.serviceIds, 'filters.serviceIds'),
    nodeIds: strArr(f.nodeIds, 'filters.nodeIds'),
    desiredStates: numArr(f.desiredStates, 'filters.desiredStates'),
    runtimes: strArr(f.runtimes, 'filters.runtimes'),
    upToDate: f.upToDate === true,
  };
}

/** True when `list` is empty or holds `v`. */
export function anyOf<T>(list: readonly T[], v: T): boolean {
  return list.length === 0 || list.includes(v);
}

/** True when `prefixes` is empty or one of them starts `v`. */
export function anyPrefix(prefixes: readonly string[], v: string): boolean {
  return prefixes.length === 0 || prefixes.some((p) => v.startsWith(p));
}

/** True when every wanted label is present with the wanted value ('' = any value). */
export function labelsMatch(want: Readonly<Record<string, string>>, have: Readonly<Record<string, string>> | undefined): boolean {
  for (const [k, v] of Object.entries(want)) {
    const h = have?.[k];
    if (h === undefined) return false;
    if (v !== '' && h !== v) return false;
  }
  return true;
}

/** The name/namePrefix/idPrefix part shared by every list. */
export function matchesNameAndId(f: Filters, name: string, id: string): boolean {
  return anyOf(f.names, name) && anyPrefix(f.namePrefixes, name) && anyPrefix(f.idPrefixes, id);
}
