/**
 * Placement constraint expressions (`key op value`), parsed with SwarmKit's grammar, keys and error messages
 * (reference §7), plus the string-level matcher the TypeScript reference scheduler uses.
 */
import { InvalidArgumentError } from '../api/errors.js';
import type { Node } from '../api/objects.js';
import { NodeRole } from '../api/objects.js';
import { parseCidr, parseIp, ipEqual, cidrContains, type Cidr } from './ip.js';

/** Equality operator: the value matches (case-insensitively). */
export const OP_EQ = 0;
/** Inequality operator: the value does not match. */
export const OP_NE = 1;

/** One parsed constraint. `key` keeps the user's case (label names are case-sensitive). */
export interface Constraint {
  key: string;
  op: typeof OP_EQ | typeof OP_NE;
  value: string;
  /** The expression as written, for error messages. */
  expr: string;
}

/** The operators in the order they are tried: `==` first, then `!=`. */
const OPERATORS = ['==', '!='] as const;

/** Key syntax (case-insensitive, at least 2 characters). The `u` flag folds like Go's `(?i)` (K→k, ſ→s). */
const KEY_RE = /^[a-z_][a-z0-9\-_.]+$/iu;
/** Value syntax; whitespace is Go's `\s` class (tab, newline, form feed, carriage return, space) only. */
const VALUE_RE = /^[a-z0-9:\-_\t\n\f\r .*()?+[\]\\^$|/]+$/iu;

/** Unicode white space as Go's `unicode.IsSpace` sees it (used by `strings.TrimSpace`). */
function isGoSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Trims white space the way Go's `strings.TrimSpace` does (JavaScript's `trim` differs on U+0085 and U+FEFF). */
export function goTrimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isGoSpace(s.charCodeAt(a))) a++;
  while (b > a && isGoSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/**
 * Case folding for comparisons, close to Go's `strings.EqualFold`: lower case, plus the long s (ſ) that Go folds
 * to `s`. Values are restricted to ASCII by the grammar, so this is exact for every value a constraint can hold.
 */
export function foldCase(s: string): string {
  const l = s.toLowerCase();
  return l.includes('ſ') ? l.replace(/ſ/g, 's') : l;
}

/**
 * Parses constraint expressions. Throws {@link InvalidArgumentError} naming the expression and the rule broken,
 * with SwarmKit's messages: "constraint expected one operator from ==, !=", "key '<k>' is invalid",
 * "value '<v>' is invalid".
 */
export function parseConstraints(exprs: readonly string[]): Constraint[] {
  const out: Constraint[] = [];
  for (const e of exprs) {
    let found = false;
    for (let i = 0; i < OPERATORS.length; i++) {
      const op = OPERATORS[i]!;
      const at = e.indexOf(op);
      if (at < 0) continue;
      const key = goTrimSpace(e.slice(0, at));
      if (!KEY_RE.test(key)) throw new InvalidArgumentError(`constraint '${e}': key '${key}' is invalid`);
      const value = goTrimSpace(e.slice(at + op.length));
      if (!VALUE_RE.test(value)) throw new InvalidArgumentError(`constraint '${e}': value '${value}' is invalid`);
      out.push({ key, op: i === 0 ? OP_EQ : OP_NE, value, expr: e });
      found = true;
      break;
    }
    if (!found) throw new InvalidArgumentError(`constraint '${e}': constraint expected one operator from ${OPERATORS.join(', ')}`);
  }
  return out;
}

/** Validates constraints at service create/update; throws {@link InvalidArgumentError} for a malformed one. */
export function validateConstraints(exprs: readonly string[]): void {
  parseConstraints(exprs);
}

/** Prefix of node-label keys and spread descriptors (compared case-insensitively). */
export const NODE_LABEL_PREFIX = 'node.labels.';
/** Prefix of engine-label keys and spread descriptors (compared case-insensitively). */
export const ENGINE_LABEL_PREFIX = 'engine.labels.';

/** Which node attribute a constraint key reads. */
export type ConstraintTarget =
  | { kind: 'id' | 'hostname' | 'ip' | 'role' | 'os' | 'arch' }
  | { kind: 'nodeLabel' | 'engineLabel'; label: string }
  | { kind: 'never' };

/** Resolves a key (any case; label names keep their case) to the attribute it reads. */
export function constraintTarget(key: string): ConstraintTarget {
  const k = key.toLowerCase();
  switch (k) {
    case 'node.id':
      return { kind: 'id' };
    case 'node.hostname':
      return { kind: 'hostname' };
    case 'node.ip':
      return { kind: 'ip' };
    case 'node.role':
      return { kind: 'role' };
    case 'node.platform.os':
      return { kind: 'os' };
    case 'node.platform.arch':
      return { kind: 'arch' };
  }
  if (key.length > NODE_LABEL_PREFIX.length && k.startsWith(NODE_LABEL_PREFIX)) {
    return { kind: 'nodeLabel', label: key.slice(NODE_LABEL_PREFIX.length) };
  }
  if (key.length > ENGINE_LABEL_PREFIX.length && k.startsWith(ENGINE_LABEL_PREFIX)) {
    return { kind: 'engineLabel', label: key.slice(ENGINE_LABEL_PREFIX.length) };
  }
  return { kind: 'never' };
}

/** The node role as SwarmKit prints it (`WORKER`/`MANAGER`), compared case-insensitively by constraints. */
export function roleName(role: NodeRole): string {
  return role === NodeRole.MANAGER ? 'MANAGER' : 'WORKER';
}

/** A `node.ip` constraint value: an address (equality), a network (containment), or malformed (never matches). */
export type IpOperand = { kind: 'ip'; bytes: Uint8Array } | { kind: 'cidr'; cidr: Cidr } | { kind: 'bad' };

/** Classifies a `node.ip` value: IP first, then CIDR, else malformed. */
export function ipOperand(value: string): IpOperand {
  const ip = parseIp(value);
  if (ip) return { kind: 'ip', bytes: ip };
  const c = parseCidr(value);
  if (c) return { kind: 'cidr', cidr: c };
  return { kind: 'bad' };
}

/** A label's value, or "" when the map is missing or lacks the key (own keys only: `constructor` is a label name). */
export function ownLabel(map: Record<string, string> | undefined, key: string): string {
  return map !== undefined && Object.hasOwn(map, key) ? map[key]! : '';
}

function matchString(c: Constraint, what: string): boolean {
  const eq = foldCase(c.value) === foldCase(what);
  return c.op === OP_EQ ? eq : !eq;
}

/** True when `node` satisfies every constraint (a list is an AND; empty matches all). String-level evaluation. */
export function nodeMatches(constraints: readonly Constraint[], node: Node): boolean {
  for (const c of constraints) {
    const t = constraintTarget(c.key);
    const d = node.description;
    switch (t.kind) {
      case 'id':
        if (!matchString(c, node.id)) return false;
        break;
      case 'hostname':
        if (!matchString(c, d ? d.hostname : '')) return false;
        break;
      case 'role':
        if (!matchString(c, roleName(node.role))) return false;
        break;
      case 'os':
        if (!matchString(c, d?.platform ? d.platform.os : '')) return false;
        break;
      case 'arch':
        if (!matchString(c, d?.platform ? d.platform.architecture : '')) return false;
        break;
      case 'nodeLabel':
        if (!matchString(c, ownLabel(node.spec.annotations.labels, t.label))) return false;
        break;
      case 'engineLabel':
        if (!matchString(c, ownLabel(d?.engine?.labels, t.label))) return false;
        break;
      case 'ip': {
        const operand = ipOperand(c.value);
        if (operand.kind === 'bad') return false;
        const nodeIp = parseIp(node.status.addr);
        const m = operand.kind === 'ip' ? nodeIp !== null && ipEqual(operand.bytes, nodeIp) : nodeIp !== null && cidrContains(operand.cidr, nodeIp);
        if (c.op === OP_EQ ? !m : m) return false;
        break;
      }
      case 'never':
        return false;
    }
  }
  return true;
}
