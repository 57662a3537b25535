/**
 * Reading untyped JSON requests: small typed accessors that throw InvalidArgumentError naming the field and the
 * rule, so that every handler refuses malformed input the same way before touching the store.
 */
import { InvalidArgumentError } from '../api/index.js';

/** A JSON object (a request, or a nested part of one). */
export type Obj = Record<string, unknown>;

/** `v` as an object; `undefined`/`null` become `{}` when `optional`. */
export function asObj(v: unknown, field: string, optional = false): Obj {
  if ((v === undefined || v === null) && optional) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`${field}: must be an object`);
  return v as Obj;
}

/** A required non-empty string (SwarmKit answers a missing id with "invalid argument"). */
export function reqId(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`${key}: must be a non-empty string (invalid argument)`);
  return v;
}

/** A required object version (the caller's last-seen meta.version). */
export function reqVersion(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(`${key}: the object version last read must be given (invalid argument)`);
  }
  return v;
}

/** An optional string with a default. */
export function str(v: unknown, field: string, dflt = ''): string {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string') throw new InvalidArgumentError(`${field}: must be a string`);
  return v;
}

/** An optional boolean with a default. */
export function bool(v: unknown, field: string, dflt = false): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${field}: must be a boolean`);
  return v;
}

/** An optional finite number with a default. */
export function num(v: unknown, field: string, dflt = 0): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidArgumentError(`${field}: must be a finite number`);
  return v;
}

/** An optional safe integer with a default. */
export function int(v: unknown, field: string, dflt = 0): number {
  const n = num(v, field, dflt);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field}: must be an integer`);
  return n;
}

/** An optional non-negative safe integer with a default. */
export function nonNegInt(v: unknown, field: string, dflt = 0): number {
  const n = int(v, field, dflt);
  if (n < 0) throw new InvalidArgumentError(`${field}: must be a non-negative integer, got ${n}`);
  return n;
}

/** An optional array of strings. */
export function strArr(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InvalidArgumentError(`${field}: must be an array of strings`);
  return [...(v as string[])];
}

/** An optional string-to-string map. */
export function strMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = asObj(v, field);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'string') throw new InvalidArgumentError(`${field}.${k}: must be a string`);
    out[k] = x;
  }
  return out;
}

/** An optional array of numbers (enum values in list filters). */
export function numArr(v: unknown, field: string): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new InvalidArgumentError(`${field}: must be an array of numbers`);
  return [...(v as number[])];
}

/** An enum value (numeric, SwarmKit's numbers) that must be one of `e`'s members. */
export function enumVal<E extends Record<string, string | number>>(v: unknown, field: string, e: E, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || typeof e[v as unknown as keyof E] !== 'string') {
    const names = Object.keys(e).filter((k) => Number.isNaN(Number(k)));
    throw new InvalidArgumentError(`${field}: must be one of ${names.map((n) => `${n}=${String(e[n])}`).join(', ')}`);
  }
  return v;
}
