/**
 * IP addresses for `node.ip` constraints, parsed like Go's `net.ParseIP`/`net.ParseCIDR` into 16-byte form
 * (IPv4 as `::ffff:a.b.c.d`) so that the WASM side compares integers only.
 */

/** A parsed network: 16-byte address already masked, 16-byte mask, and whether it is an IPv4 network. */
export interface Cidr {
  net: Uint8Array;
  mask: Uint8Array;
  v4: boolean;
}

function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return null;
    const v = Number(p);
    if (v > 255) return null;
    out.push(v);
  }
  return out;
}

/** Parses an IPv4 or IPv6 literal (no zone) into 16 bytes, or null when malformed. */
export function parseIp(s: string): Uint8Array | null {
  if (s.includes('%')) return null;
  const out = new Uint8Array(16);
  if (!s.includes(':')) {
    const v4 = parseV4(s);
    if (!v4) return null;
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  let tail: number[] = [];
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    body = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = body.indexOf('::');
  if (dbl >= 0 && body.indexOf('::', dbl + 1) >= 0) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const gs = part.split(':');
    const r: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  let groups: number[];
  if (dbl >= 0) {
    const a = groupsOf(body.slice(0, dbl));
    const b = groupsOf(body.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return null;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    const g = groupsOf(body);
    if (!g || g.length !== 8) return null;
    groups = g;
  }
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  if (tail.length) out.set(tail, 12);
  return out;
}

/** True when a 16-byte address is an IPv4 address (Go's `To4() != nil`). */
export function isV4(ip: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

/** Parses `addr/prefix` like Go's `net.ParseCIDR`; null when malformed. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addrText = s.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return null;
  const bitsText = s.slice(slash + 1);
  if (!/^[0-9]+$/.test(bitsText) || bitsText.length > 8) return null;
  const literalV4 = !addrText.includes(':');
  const n = Number(bitsText);
  if (n > (literalV4 ? 32 : 128)) return null;
  const totalBits = literalV4 ? 96 + n : n;
  const mask = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const b = Math.max(0, Math.min(8, totalBits - 8 * i));
    mask[i] = b === 0 ? 0 : (0xff << (8 - b)) & 0xff;
  }
  const net = new Uint8Array(16);
  for (let i = 0; i < 16; i++) net[i] = ip[i]! & mask[i]!;
  // A network whose address is IPv4 (or IPv4-mapped) compares IPv4 addresses on the last 4 bytes of the mask.
  return { net, mask, v4: isV4(ip) };
}

/** Address equality (Go's `IP.Equal` on two parsed addresses). */
export function ipEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Network containment (Go's `IPNet.Contains`): an IPv4 network holds only IPv4 addresses and vice versa. */
export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (c.v4 !== isV4(ip)) return false;
  const from = c.v4 ? 12 : 0;
  for (let i = from; i < 16; i++) if ((ip[i]! & c.mask[i]!) !== c.net[i]) return false;
  return true;
}
