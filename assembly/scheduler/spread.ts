// SwarmKit's spread strategy over the column table: a decision tree per placement-preference level, leaves
// keeping the best <= n eligible nodes, SwarmKit's per-branch arithmetic, and the leaf filling rule.
// Deterministic orders (documented in docs/scheduler.md): tasks in group order, branches in order of first
// appearance in row order, equally good nodes by row.
import { T_ROWS, T_LIVE, T_FAIL, T_SCRATCH, T_SCRATCHLEN, G_N, G_PREFCOUNT, G_PREF, G_OUT, G_PRENODES } from './layout';
import { T, G, hdr, grp, svcCol, totalCol, process, addTask } from './filters';

const MAX_FAILURES: i32 = 5;
const TN_BYTES: usize = 52; // tree node: tasks, firstChild, nextSibling, lastChild, leafStart, leafLen, leafCap, collapsed, noRoom, count, heap, top, hash slot

let failCol: usize = 0;
let treeBase: usize = 0;
let treeCount: i32 = 0;
let hashBase: usize = 0;
let hashCap: u32 = 0;
let leafOf: usize = 0;
let leafNodes: usize = 0;
let failedStamp: usize = 0;
let stamp: i32 = 0;
let lastHashBase: usize = 0;
let lastHashCap: u32 = 0;
let lastStampBase: usize = 0;
let lastRows: u32 = 0;
let invocation: i32 = 0;
let nextTask: i32 = 0;
let groupN: i32 = 0;
let outBase: usize = 0;

@inline function tn(i: i32, field: i32): usize {
  return treeBase + <usize>i * TN_BYTES + (<usize>field << 2);
}
@inline function tget(i: i32, f: i32): i32 {
  return load<i32>(tn(i, f));
}
@inline function tset(i: i32, f: i32, v: i32): void {
  store<i32>(tn(i, f), v);
}
const F_TASKS = 0, F_FIRST = 1, F_NEXT = 2, F_LAST = 3, F_LSTART = 4, F_LLEN = 5, F_LCAP = 6, F_COLL = 7, F_NOROOM = 8, F_COUNT = 9, F_HEAP = 10, F_TOP = 11, F_SLOT = 12;

/** Scratch bytes one call needs for `rows` rows and `levels` preference levels. */
export function scratchBytes(rows: u32, levels: u32): u32 {
  const trees: u32 = 1 + rows * levels;
  let hc: u32 = 16;
  while (hc < trees * 2) hc <<= 1;
  return trees * <u32>TN_BYTES + hc * 12 + rows * 44 + 1024 + 64;
}

let key1: usize = 0; // u64 per row: (recent failures if >= 5, else 0) << 32 | tasks of the service
let key2: usize = 0; // u64 per row: total tasks << 32 | row
let sortA: usize = 0; // u64 per row: packed keys (radix sort)
let sortB: usize = 0; // u64 per row: radix sort buffer
let sortCounts: usize = 0; // u32[256]: radix sort digit counts

/** Recomputes a row's sort keys from the columns (after accounting a task on it). */
@inline function refreshKey(row: u32): void {
  const f = load<i32>(failCol + (<usize>row << 2));
  const fk: u64 = f >= MAX_FAILURES ? <u64>f : 0;
  store<u64>(key1 + (<usize>row << 3), (fk << 32) | <u64><u32>load<i32>(svcCol + (<usize>row << 2)));
  store<u64>(key2 + (<usize>row << 3), (<u64><u32>load<i32>(totalCol + (<usize>row << 2)) << 32) | <u64>row);
}

/** Go's nodeLess: failures (when either has >= 5), then tasks of the service, then total tasks. */
@inline function nodeLess(a: u32, b: u32): bool {
  const ka = load<u64>(key1 + (<usize>a << 3));
  const kb = load<u64>(key1 + (<usize>b << 3));
  if (ka != kb) return ka < kb;
  return (load<u64>(key2 + (<usize>a << 3)) >> 32) < (load<u64>(key2 + (<usize>b << 3)) >> 32);
}

/** nodeLess with the row as final tie-break: a total order. */
@inline function lessTotal(a: u32, b: u32): bool {
  const ka = load<u64>(key1 + (<usize>a << 3));
  const kb = load<u64>(key1 + (<usize>b << 3));
  if (ka != kb) return ka < kb;
  return load<u64>(key2 + (<usize>a << 3)) < load<u64>(key2 + (<usize>b << 3));
}

function newTree(): i32 {
  const i = treeCount++;
  memory.fill(tn(i, 0), 0, TN_BYTES);
  tset(i, F_FIRST, -1);
  tset(i, F_NEXT, -1);
  tset(i, F_LAST, -1);
  return i;
}

function child(parent: i32, value: u32): i32 {
  let s = ((<u32>parent * 0x9e3779b1) ^ (value * 0x85ebca6b)) & (hashCap - 1);
  for (;;) {
    const e = hashBase + <usize>s * 12;
    const p = load<i32>(e);
    if (p == 0) {
      const c = newTree();
      tset(c, F_SLOT, <i32>s);
      store<i32>(e, parent + 1);
      store<u32>(e + 4, value);
      store<i32>(e + 8, c);
      const last = tget(parent, F_LAST);
      if (last < 0) tset(parent, F_FIRST, c);
      else tset(last, F_NEXT, c);
      tset(parent, F_LAST, c);
      return c;
    }
    if (p == parent + 1 && load<u32>(e + 4) == value) return load<i32>(e + 8);
    s = (s + 1) & (hashCap - 1);
  }
  return -1;
}

/** The worst (largest by the total order) of a leaf's first `len` nodes. */
function worstOf(leaf: i32, len: i32): i32 {
  let w = load<u32>(hp(leaf, 0));
  for (let i = 1; i < len; i++) {
    const v = load<u32>(hp(leaf, i));
    if (lessTotal(w, v)) w = v;
  }
  return <i32>w;
}

@inline function hp(leaf: i32, k: i32): usize {
  return leafNodes + (<usize>(tget(leaf, F_LSTART) + k) << 2);
}

function siftDown(leaf: i32, i0: i32, len: i32): void {
  let i = i0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= len) return;
    let m = l;
    if (l + 1 < len && lessTotal(load<u32>(hp(leaf, l)), load<u32>(hp(leaf, l + 1)))) m = l + 1;
    const vi = load<u32>(hp(leaf, i));
    const vm = load<u32>(hp(leaf, m));
    if (!lessTotal(vi, vm)) return;
    store<u32>(hp(leaf, i), vm);
    store<u32>(hp(leaf, m), vi);
    i = m;
  }
}

function siftUp(leaf: i32, i0: i32): void {
  let i = i0;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const vp = load<u32>(hp(leaf, p));
    const vi = load<u32>(hp(leaf, i));
    if (!lessTotal(vp, vi)) return;
    store<u32>(hp(leaf, i), vp);
    store<u32>(hp(leaf, p), vi);
    i = p;
  }
}

/**
 * Sorts a leaf's nodes best first by radix-sorting one packed u64 key per node (failures 8 bits, service tasks
 * 20 bits, total tasks 20 bits, row 16 bits: the total order). Returns false, leaving the leaf untouched, when a
 * value does not fit; the caller then uses the heapsort.
 */
function sortLeafPacked(leaf: i32, len: i32): bool {
  for (let i = 0; i < len; i++) {
    const row = load<u32>(hp(leaf, i));
    const k1 = load<u64>(key1 + (<usize>row << 3));
    const k2 = load<u64>(key2 + (<usize>row << 3));
    const fk = k1 >> 32;
    const svc = k1 & 0xffffffff;
    const total = k2 >> 32;
    if (fk > 0xff || svc > 0xfffff || total > 0xfffff || <u64>row > 0xffff) return false;
    store<u64>(sortA + (<usize>i << 3), (fk << 56) | (svc << 36) | (total << 16) | <u64>row);
  }
  let a = sortA;
  let b = sortB;
  for (let shift: u64 = 0; shift < 64; shift += 8) {
    memory.fill(sortCounts, 0, 256 * 4);
    for (let i = 0; i < len; i++) {
      const d = <usize>((load<u64>(a + (<usize>i << 3)) >> shift) & 0xff);
      store<u32>(sortCounts + (d << 2), load<u32>(sortCounts + (d << 2)) + 1);
    }
    let skip = false;
    let sum: u32 = 0;
    for (let d: usize = 0; d < 256; d++) {
      const c = load<u32>(sortCounts + (d << 2));
      if (c == <u32>len) skip = true;
      store<u32>(sortCounts + (d << 2), sum);
      sum += c;
    }
    if (skip) continue;
    for (let i = 0; i < len; i++) {
      const k = load<u64>(a + (<usize>i << 3));
      const d = <usize>((k >> shift) & 0xff);
      const at = load<u32>(sortCounts + (d << 2));
      store<u32>(sortCounts + (d << 2), at + 1);
      store<u64>(b + (<usize>at << 3), k);
    }
    const t = a;
    a = b;
    b = t;
  }
  for (let i = 0; i < len; i++) store<u32>(hp(leaf, i), <u32>(load<u64>(a + (<usize>i << 3)) & 0xffff));
  return true;
}

/** Sorts a leaf's nodes best first (heapsort over the max-heap by the total order). */
function sortLeaf(leaf: i32): void {
  const len = tget(leaf, F_LLEN);
  for (let i = (len >> 1) - 1; i >= 0; i--) siftDown(leaf, i, len);
  for (let end = len - 1; end > 0; end--) {
    const top = load<u32>(hp(leaf, 0));
    store<u32>(hp(leaf, 0), load<u32>(hp(leaf, end)));
    store<u32>(hp(leaf, end), top);
    siftDown(leaf, 0, end);
  }
}

function orderedNodes(leaf: i32): i32 {
  if (tget(leaf, F_COLL) != 0) {
    let len = tget(leaf, F_LLEN);
    let j = 0;
    for (let i = 0; i < len; i++) {
      const r = load<u32>(hp(leaf, i));
      if (process(r)) {
        store<u32>(hp(leaf, j), r);
        j++;
      }
    }
    tset(leaf, F_LLEN, j);
  }
  tset(leaf, F_COLL, 1);
  const len = tget(leaf, F_LLEN);
  let sorted = true;
  for (let i = 1; i < len; i++) {
    if (lessTotal(load<u32>(hp(leaf, i)), load<u32>(hp(leaf, i - 1)))) {
      sorted = false;
      break;
    }
  }
  if (!sorted && !sortLeafPacked(leaf, len)) sortLeaf(leaf);
  return len;
}

function onNodes(leaf: i32, count: i32, n: i32): i32 {
  let scheduled = 0;
  stamp++;
  let iter = 0;
  while (nextTask < groupN) {
    const row = load<u32>(hp(leaf, iter % count));
    addTask(row);
    refreshKey(row);
    store<i32>(outBase + (<usize>nextTask << 2), <i32>row);
    nextTask++;
    scheduled++;
    if (scheduled == n) return scheduled;
    if (iter + 1 < count) {
      if (nodeLess(load<u32>(hp(leaf, iter + 1)), row)) iter++;
    } else {
      iter++;
    }
    const orig = iter;
    for (;;) {
      const k = iter % count;
      const fs = failedStamp + (<usize>k << 2);
      if (load<i32>(fs) != stamp && process(load<u32>(hp(leaf, k)))) break;
      store<i32>(fs, stamp);
      iter++;
      if (iter - orig == count) return scheduled;
    }
  }
  return scheduled;
}

function onSubtree(tree: i32, n: i32): i32 {
  if (tget(tree, F_FIRST) < 0) {
    const count = orderedNodes(tree);
    if (count == 0) return 0;
    return onNodes(tree, count, n);
  }
  const inv = ++invocation;
  let scheduled = 0;
  let usable = tget(tree, F_TASKS);
  let branches = 0;
  for (let c = tget(tree, F_FIRST); c >= 0; c = tget(c, F_NEXT)) branches++;
  let noRoom = 0;
  while (scheduled != n && noRoom != branches) {
    const b = branches - noRoom;
    const total = usable + n - scheduled;
    const desired = total / b;
    let remainder = total % b;
    for (let c = tget(tree, F_FIRST); c >= 0; c = tget(c, F_NEXT)) {
      if (scheduled == n) break;
      if (tget(c, F_NOROOM) == inv) continue;
      const ct = tget(c, F_TASKS);
      if (ct < desired || (ct == desired && remainder > 0)) {
        let toAssign = desired - ct;
        if (remainder > 0) toAssign++;
        if (toAssign > n - scheduled) toAssign = n - scheduled;
        const res = onSubtree(c, toAssign);
        if (res < toAssign) {
          tset(c, F_NOROOM, inv);
          noRoom++;
          usable -= ct;
        } else if (remainder > 0) {
          remainder--;
        }
        scheduled += res;
      }
    }
  }
  return scheduled;
}

/** Schedules one task group; writes the row per task to G_OUT (-1 = unplaced) and returns how many were placed. */
export function scheduleGroup(): i32 {
  groupN = <i32>grp(G_N);
  outBase = <usize>grp(G_OUT);
  failCol = <usize>hdr(T_FAIL);
  const rows = hdr(T_ROWS);
  const levels = grp(G_PREFCOUNT);
  const live = <usize>hdr(T_LIVE);
  const need = scratchBytes(rows, levels);
  if (hdr(T_SCRATCHLEN) < need) unreachable();
  // scratch: tree nodes | hash | leafOf | leafNodes | failedStamp
  const trees: u32 = 1 + rows * levels;
  hashCap = 16;
  while (hashCap < trees * 2) hashCap <<= 1;
  treeBase = <usize>hdr(T_SCRATCH);
  hashBase = treeBase + <usize>trees * TN_BYTES;
  leafOf = hashBase + <usize>hashCap * 12;
  leafNodes = leafOf + (<usize>rows << 2);
  failedStamp = leafNodes + (<usize>rows << 2);
  key1 = (failedStamp + (<usize>rows << 2) + 7) & ~(<usize>7);
  key2 = key1 + (<usize>rows << 3);
  sortA = key2 + (<usize>rows << 3);
  sortB = sortA + (<usize>rows << 3);
  sortCounts = sortB + (<usize>rows << 3);
  // The child hash and the failed-node stamps are left clean by the previous call; clear them only when the
  // scratch layout moved (or the stamp counter nears overflow).
  if (hashBase != lastHashBase || hashCap != lastHashCap || failedStamp != lastStampBase || rows != lastRows || stamp > 0x3fffffff) {
    memory.fill(hashBase, 0, <usize>hashCap * 12);
    memory.fill(failedStamp, 0, <usize>rows << 2);
    lastHashBase = hashBase;
    lastHashCap = hashCap;
    lastStampBase = failedStamp;
    lastRows = rows;
    stamp = 0;
  }
  treeCount = 0;
  invocation = 0;
  nextTask = 0;
  for (let k = 0; k < groupN; k++) store<i32>(outBase + (<usize>k << 2), -1);
  if (groupN == 0) return 0;

  const root = newTree();
  const prefs = <usize>grp(G_PREF);
  for (let r: u32 = 0; r < rows; r++) {
    if (load<u8>(live + r) == 0) continue;
    const own = load<i32>(svcCol + (<usize>r << 2));
    let t = root;
    tset(t, F_TASKS, tget(t, F_TASKS) + own);
    for (let l: u32 = 0; l < levels; l++) {
      const col = <usize>load<u32>(prefs + (<usize>l << 2));
      const v = col == 0 ? 0 : load<u32>(col + (<usize>r << 2));
      t = child(t, v);
      tset(t, F_TASKS, tget(t, F_TASKS) + own);
    }
    store<i32>(leafOf + (<usize>r << 2), t);
    tset(t, F_COUNT, tget(t, F_COUNT) + 1);
  }
  let start = 0;
  for (let i = 0; i < treeCount; i++) {
    if (tget(i, F_FIRST) >= 0) continue;
    const c = tget(i, F_COUNT);
    const capN = c < groupN ? c : groupN;
    tset(i, F_LSTART, start);
    tset(i, F_LCAP, capN);
    start += capN;
  }
  for (let r: u32 = 0; r < rows; r++) if (load<u8>(live + r) != 0) refreshKey(r);
  // Each leaf keeps the best <= n nodes by the total order. It starts as a plain list in row order and becomes
  // a max-heap (worst on top) only when a better node must replace the worst kept one.
  for (let r: u32 = 0; r < rows; r++) {
    if (load<u8>(live + r) == 0) continue;
    const leaf = load<i32>(leafOf + (<usize>r << 2));
    const len = tget(leaf, F_LLEN);
    const capN = tget(leaf, F_LCAP);
    if (len < capN) {
      if (process(r)) {
        store<u32>(hp(leaf, len), r);
        tset(leaf, F_LLEN, len + 1);
        if (len + 1 == capN) tset(leaf, F_TOP, worstOf(leaf, capN));
      }
    } else if (len > 0) {
      const heap = tget(leaf, F_HEAP) != 0;
      const top = heap ? load<u32>(hp(leaf, 0)) : <u32>tget(leaf, F_TOP);
      if (lessTotal(r, top) && process(r)) {
        if (!heap) {
          for (let i = (len >> 1) - 1; i >= 0; i--) siftDown(leaf, i, len);
          tset(leaf, F_HEAP, 1);
        }
        store<u32>(hp(leaf, 0), r);
        siftDown(leaf, 0, len);
      }
    }
  }
  const placed = onSubtree(root, groupN);
  // Leave the child hash clean for the next call: clear the slot of every tree node but the root.
  for (let i = 1; i < treeCount; i++) memory.fill(hashBase + <usize>tget(i, F_SLOT) * 12, 0, 12);
  return placed;
}

/** Checks preassigned tasks, each against its own row: decision = row on success, -code on failure. */
export function schedulePreassigned(firstFailureOf: (row: u32) => i32): void {
  const n = <i32>grp(G_N);
  const out = <usize>grp(G_OUT);
  const pre = <usize>grp(G_PRENODES);
  for (let k = 0; k < n; k++) {
    const row = load<u32>(pre + (<usize>k << 2));
    const f = firstFailureOf(row);
    if (f == 0) {
      addTask(row);
      store<i32>(out + (<usize>k << 2), <i32>row);
    } else {
      store<i32>(out + (<usize>k << 2), -f);
    }
  }
}
