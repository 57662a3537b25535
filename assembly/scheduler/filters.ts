// The filter pipeline over the column table: ready, resources, constraints, platform, host ports, max replicas.
// Only integers are compared; the host interned and folded every string.
import {
  T_CAP, T_READY, T_CPU, T_MEM, T_SVC, T_HASPLAT, T_ARCH, T_OS, T_IPKIND, T_IP, T_GEN, T_FOLD, T_ARCHNORM,
  T_PORTS, T_PORTCAP, T_TOTAL,
  G_MASK, G_CPU, G_MEM, G_GENCOUNT, G_GENKIND, G_GENREQ, G_PROGLEN, G_PROG, G_PLATCOUNT, G_PLAT, G_PORTCOUNT,
  G_PORT, G_MAXREP, G_COUNTERS,
  OP_CONST, OP_COL, OP_IP,
  F_PASS, F_READY, F_RESOURCES, F_CONSTRAINTS, F_PLATFORM, F_HOSTPORTS, F_MAXREP,
} from './layout';

export let T: usize = 0;
export let G: usize = 0;
export let cap: u32 = 0;
let mask: u32 = 0;
let readyCol: usize = 0;
let cpuCol: usize = 0;
let memCol: usize = 0;
export let svcCol: usize = 0;
export let totalCol: usize = 0;
let cpuReq: f64 = 0;
let memReq: f64 = 0;

@inline export function hdr(off: u32): usize {
  return <usize>load<u32>(T + off);
}
@inline export function grp(off: u32): usize {
  return <usize>load<u32>(G + off);
}

/** Binds the table and group headers for this call and caches hot column addresses. */
export function bind(t: usize, g: usize): void {
  T = t;
  G = g;
  cap = hdr(T_CAP);
  mask = grp(G_MASK);
  readyCol = hdr(T_READY);
  cpuCol = hdr(T_CPU);
  memCol = hdr(T_MEM);
  svcCol = hdr(T_SVC);
  totalCol = hdr(T_TOTAL);
  cpuReq = load<f64>(G + G_CPU);
  memReq = load<f64>(G + G_MEM);
}

@inline function portSlot(key: u32, capEntries: u32): u32 {
  return (key * 0x9e3779b1) & (capEntries - 1);
}

/** True when host port `key` is used on `row`. */
export function portUsed(row: u32, key: u32): bool {
  const base = hdr(T_PORTS);
  const n = hdr(T_PORTCAP);
  let s = portSlot(key ^ (row * 0x85ebca6b), n);
  for (let probes: u32 = 0; probes < n; probes++) {
    const e = base + (<usize>s << 3);
    const r = load<u32>(e);
    if (r == 0) return false;
    if (r == row + 1 && load<u32>(e + 4) == key) return true;
    s = (s + 1) & (n - 1);
  }
  return false;
}

/** Marks host port `key` used on `row` (the host sized the hash to hold every insertion of the call). */
export function portAdd(row: u32, key: u32): void {
  const base = hdr(T_PORTS);
  const n = hdr(T_PORTCAP);
  let s = portSlot(key ^ (row * 0x85ebca6b), n);
  for (let probes: u32 = 0; probes < n; probes++) {
    const e = base + (<usize>s << 3);
    const r = load<u32>(e);
    if (r == 0) {
      store<u32>(e, row + 1);
      store<u32>(e + 4, key);
      return;
    }
    if (r == row + 1 && load<u32>(e + 4) == key) return;
    s = (s + 1) & (n - 1);
  }
  unreachable();
}

function constraintsPass(row: u32): bool {
  const len = grp(G_PROGLEN);
  let p = <usize>grp(G_PROG);
  const fold = <usize>hdr(T_FOLD);
  for (let k: u32 = 0; k < len; k++, p += 16) {
    const op = load<u32>(p);
    const a = load<u32>(p + 4);
    const b = load<u32>(p + 8);
    const neg = load<u32>(p + 12) != 0;
    if (op == OP_CONST) {
      if (a == 0) return false;
    } else if (op == OP_COL) {
      const id = load<u32>(<usize>a + (<usize>row << 2));
      const m = load<u32>(fold + (<usize>id << 2)) == b;
      if (m == neg) return false;
    } else if (op == OP_IP) {
      if (a == 0) return false;
      const kind = <u32>load<u8>(hdr(T_IPKIND) + row);
      const ip = <usize>hdr(T_IP) + (<usize>row << 4);
      let m = false;
      if (kind != 0) {
        if (a == 1) {
          m = load<u64>(ip) == load<u64>(b) && load<u64>(ip + 8) == load<u64>(b + 8);
        } else if (a == kind) {
          m = (load<u64>(ip) & load<u64>(b + 16)) == load<u64>(b) && (load<u64>(ip + 8) & load<u64>(b + 24)) == load<u64>(b + 8);
        }
      }
      if (m == neg) return false;
    } else {
      unreachable();
    }
  }
  return true;
}

/** The first failing filter's code for `row`, or F_PASS. Does not touch the counters. */
export function firstFailure(row: u32): i32 {
  if (load<u8>(readyCol + row) == 0) return F_READY;
  if (mask & (1 << F_RESOURCES)) {
    if (cpuReq > load<f64>(cpuCol + (<usize>row << 3))) return F_RESOURCES;
    if (memReq > load<f64>(memCol + (<usize>row << 3))) return F_RESOURCES;
    const gc = grp(G_GENCOUNT);
    if (gc != 0) {
      const kinds = <usize>grp(G_GENKIND);
      const reqs = <usize>grp(G_GENREQ);
      const gen = <usize>hdr(T_GEN);
      for (let j: u32 = 0; j < gc; j++) {
        const k = load<u32>(kinds + (<usize>j << 2));
        if (load<f64>(reqs + (<usize>j << 3)) > load<f64>(gen + ((<usize>k * cap + row) << 3))) return F_RESOURCES;
      }
    }
  }
  if (mask & (1 << F_CONSTRAINTS)) {
    if (!constraintsPass(row)) return F_CONSTRAINTS;
  }
  if (mask & (1 << F_PLATFORM)) {
    if (load<u8>(hdr(T_HASPLAT) + row) == 0) return F_PLATFORM;
    const norm = <usize>hdr(T_ARCHNORM);
    const arch = load<u32>(norm + (<usize>load<u32>(hdr(T_ARCH) + (<usize>row << 2)) << 2));
    const os = load<u32>(hdr(T_OS) + (<usize>row << 2));
    const pc = grp(G_PLATCOUNT);
    const pp = <usize>grp(G_PLAT);
    let ok = false;
    for (let j: u32 = 0; j < pc; j++) {
      const wa = load<u32>(pp + (<usize>j << 3));
      const wo = load<u32>(pp + (<usize>j << 3) + 4);
      if ((wa == 0xffffffff || wa == arch) && (wo == 0xffffffff || wo == os)) {
        ok = true;
        break;
      }
    }
    if (!ok) return F_PLATFORM;
  }
  if (mask & (1 << F_HOSTPORTS)) {
    const pc = grp(G_PORTCOUNT);
    const pp = <usize>grp(G_PORT);
    for (let j: u32 = 0; j < pc; j++) if (portUsed(row, load<u32>(pp + (<usize>j << 2)))) return F_HOSTPORTS;
  }
  if (mask & (1 << F_MAXREP)) {
    if (<u32>load<i32>(svcCol + (<usize>row << 2)) >= grp(G_MAXREP)) return F_MAXREP;
  }
  return F_PASS;
}

/** Clears the failure counters. */
export function resetCounters(): void {
  memory.fill(<usize>grp(G_COUNTERS), 0, 9 * 4);
}

/** SwarmKit's Process: count the first failure, or reset every counter when the node passes. */
export function process(row: u32): bool {
  const f = firstFailure(row);
  const c = <usize>grp(G_COUNTERS);
  if (f == F_PASS) {
    memory.fill(c, 0, 9 * 4);
    return true;
  }
  const at = c + (<usize>f << 2);
  store<i32>(at, load<i32>(at) + 1);
  return false;
}

/** Accounts one task of the group on `row`: reservations, generic claims, host ports, task counts. */
export function addTask(row: u32): void {
  if (mask & (1 << F_RESOURCES)) {
    const ci = cpuCol + (<usize>row << 3);
    store<f64>(ci, load<f64>(ci) - cpuReq);
    const mi = memCol + (<usize>row << 3);
    store<f64>(mi, load<f64>(mi) - memReq);
    const gc = grp(G_GENCOUNT);
    const kinds = <usize>grp(G_GENKIND);
    const reqs = <usize>grp(G_GENREQ);
    const gen = <usize>hdr(T_GEN);
    for (let j: u32 = 0; j < gc; j++) {
      const k = load<u32>(kinds + (<usize>j << 2));
      const at = gen + ((<usize>k * cap + row) << 3);
      const left = load<f64>(at) - load<f64>(reqs + (<usize>j << 3));
      store<f64>(at, left <= 0 ? 0 : left);
    }
  }
  const pc = grp(G_PORTCOUNT);
  const pp = <usize>grp(G_PORT);
  for (let j: u32 = 0; j < pc; j++) portAdd(row, load<u32>(pp + (<usize>j << 2)));
  const s = svcCol + (<usize>row << 2);
  store<i32>(s, load<i32>(s) + 1);
  const t = totalCol + (<usize>row << 2);
  store<i32>(t, load<i32>(t) + 1);
}
