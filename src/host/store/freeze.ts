/**
 * Immutability of stored objects. The store hands out the very objects it holds (no copy per read), so they
 * are deep-frozen: a caller that tries to mutate one gets a TypeError in strict mode instead of silently
 * changing every manager's view on this process only.
 */
import { InvalidArgumentError } from '../api/index.js';

/** Deep-freezes a plain JSON-able value in place and returns it. Already-frozen sub-trees are skipped. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const v of value) deepFreeze(v);
  } else {
    for (const k in value) deepFreeze((value as Record<string, unknown>)[k]);
  }
  return value;
}

/** A mutable deep copy of a stored (frozen) object, for read-modify-write code. */
export function mutableCopy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Takes ownership of a value handed to a write transaction: checks that it is plain JSON data, normalises it
 * to exactly what a JSON round trip would give (object keys whose value is `undefined` are deleted, `-0`
 * becomes `0`), and deep-freezes it in place. This is what lets the proposing manager apply its own entry from
 * these in-memory objects instead of decoding the entry, while ending with the same state as every other
 * manager, which decodes. Sub-objects that are already frozen are taken to be store-owned (they came from a
 * read) and are not walked again (see also {@link adoptUpdate}). Throws InvalidArgumentError naming the path of
 * the first bad value.
 */
export function adoptJson<T>(value: T, path: string): T {
  return adopt(value, path, undefined);
}

/**
 * adoptJson for an update built from the stored object `like` (usually `{ ...like, field: x }`). Returns the
 * changed top-level fields (by identity; never `id` or `meta`) when `value` has exactly `like`'s fields in
 * `like`'s order — the patch the store will send — and undefined otherwise (the caller then computes the patch
 * the general way). Fields that are the very same values as in `like` are store-owned already and not walked;
 * the others are adopted as by adoptJson.
 */
export function adoptUpdate(value: object, path: string, like: object): Record<string, unknown> | undefined {
  if (Array.isArray(value) || Object.isFrozen(value)) {
    adopt(value, path, undefined);
    return undefined;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    adopt(value, path, undefined);
    return undefined;
  }
  const rec = value as Record<string, unknown>;
  const old = like as Record<string, unknown>;
  const lk = Object.keys(old);
  const nk = Object.keys(rec);
  let same = lk.length === nk.length;
  const set: Record<string, unknown> = {};
  for (let j = 0; j < nk.length; j++) {
    const k = nk[j]!;
    const v = rec[k];
    if (same && lk[j] !== k) same = false;
    if (v === old[k] && v !== undefined && !Object.is(v, -0)) continue;
    adoptField(rec, k, path, undefined);
    if (v === undefined) same = false; // removed: the general patch lists it in `unset`
    else if (k !== 'meta' && k !== 'id') set[k] = rec[k];
  }
  Object.freeze(value);
  return same ? set : undefined;
}

/** adoptJson with the path kept as (parent path, key) and only joined into a string for an error message. */
function adopt<T>(value: T, parent: string, key: string | number | undefined): T {
  if (value === null || typeof value !== 'object') {
    checkScalar(value, parent, key);
    return value;
  }
  if (Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    const here = () => joinPath(parent, key);
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === undefined) throw new InvalidArgumentError(`${here()}[${i}]: undefined is not allowed in a list`);
      if (typeof v === 'number') {
        if (Object.is(v, -0)) value[i] = 0;
        else checkScalar(v, here(), i);
      } else if (v !== null && typeof v === 'object') adopt(v, here(), i);
      else checkScalar(v, here(), i);
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidArgumentError(
        `${joinPath(parent, key)}: must be a plain object (got ${proto?.constructor?.name ?? 'an exotic object'})`,
      );
    }
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) adoptField(rec, k, parent, key);
  }
  return Object.freeze(value);
}

/**
 * One field of a plain object, in place: `undefined` deleted, `-0` made `0`, a nested value adopted. The path
 * (`parent` + `key` of the object) is joined only when the field is an object or array.
 */
function adoptField(rec: Record<string, unknown>, k: string, parent: string, key: string | number | undefined): void {
  const v = rec[k];
  if (v === undefined) delete rec[k];
  else if (typeof v === 'string' || typeof v === 'boolean' || v === null) return;
  else if (typeof v === 'number' && Object.is(v, -0)) rec[k] = 0;
  else adopt(v, joinPath(parent, key), k);
}

function joinPath(parent: string, key: string | number | undefined): string {
  return key === undefined ? parent : typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
}

function checkScalar(v: unknown, parent: string, key: string | number | undefined): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${joinPath(parent, key)}: must be a finite number (got ${v})`);
      return;
    case 'object':
      return; // null
    default:
      throw new InvalidArgumentError(`${joinPath(parent, key)}: ${typeof v} is not JSON data`);
  }
}
