/**
 * Immutability of stored objects. The store hands out the very objects it holds (no copy per read), so they
 * are deep-frozen: a caller that tries to mutate one gets a TypeError in strict mode instead of silently
 * changing every manager's view on this process only.
 */

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
