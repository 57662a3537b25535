// swarmhost strategy SDK (ABI v1, docs/abi/strategy-v1.md). A strategy author writes one scoring function
// (higher score = preferred node) and exports the three ABI functions by delegating to this SDK:
//
//   import { ABI_VERSION, evaluateWith, placeWith, cpuFree } from "<path>/assembly/sdk";
//   function score(row: u32): f64 { return -cpuFree(row); }
//   export function swarmhost_strategy_abi(): i32 { return ABI_VERSION; }
//   export function strategy_evaluate(t: usize, g: usize): i32 { return evaluateWith(t, g, score); }
//   export function strategy_place(t: usize, g: usize): i32 { return placeWith(t, g, score); }
//
// The SDK brings SwarmKit's filter pipeline (ready, resources, constraints, platform, host ports, max replicas)
// so that every strategy honours the same hard rules; the score only orders feasible nodes.
import { T_ROWS, T_LIVE, T_CPU, T_MEM, T_TOTAL, T_SVC, G_N, G_OUT, G_CODES, G_BITMAP, G_SCORE } from '../scheduler/layout';
import { bind, firstFailure, process, addTask, resetCounters, hdr, grp } from '../scheduler/filters';

/** The ABI version this SDK implements; return it from `swarmhost_strategy_abi`. */
export const ABI_VERSION: i32 = 1;

/** Available nano-CPUs on a node row. */
export function cpuFree(row: u32): f64 {
  return load<f64>(hdr(T_CPU) + (<usize>row << 3));
}
/** Available memory bytes on a node row. */
export function memFree(row: u32): f64 {
  return load<f64>(hdr(T_MEM) + (<usize>row << 3));
}
/** Active tasks on a node row. */
export function tasksTotal(row: u32): i32 {
  return load<i32>(hdr(T_TOTAL) + (<usize>row << 2));
}
/** Active tasks of the group's service on a node row. */
export function tasksOfService(row: u32): i32 {
  return load<i32>(hdr(T_SVC) + (<usize>row << 2));
}

/** Fills the first failing filter per row, the feasibility bitmap and the score per row; returns feasible rows. */
export function evaluateWith(t: usize, g: usize, score: (row: u32) => f64): i32 {
  bind(t, g);
  const rows = <u32>hdr(T_ROWS);
  const live = hdr(T_LIVE);
  const codes = grp(G_CODES);
  const bitmap = grp(G_BITMAP);
  const scores = grp(G_SCORE);
  memory.fill(bitmap, 0, (rows + 7) >> 3);
  let feasible = 0;
  for (let r: u32 = 0; r < rows; r++) {
    if (load<u8>(live + r) == 0) {
      store<u8>(codes + r, 255);
      store<f64>(scores + (<usize>r << 3), -Infinity);
      continue;
    }
    const f = firstFailure(r);
    store<u8>(codes + r, <u8>f);
    store<f64>(scores + (<usize>r << 3), f == 0 ? score(r) : -Infinity);
    if (f == 0) {
      store<u8>(bitmap + (r >> 3), load<u8>(bitmap + (r >> 3)) | <u8>(<u32>1 << (r & 7)));
      feasible++;
    }
  }
  return feasible;
}

/**
 * Places the group's tasks one by one on the feasible node with the highest score (ties: lowest row),
 * re-checking and re-scoring only the chosen node after each placement. When nothing fits any more, every
 * node's first failing filter is counted so the host can explain the unplaced tasks. Returns tasks placed.
 */
export function placeWith(t: usize, g: usize, score: (row: u32) => f64): i32 {
  bind(t, g);
  const rows = <u32>hdr(T_ROWS);
  const live = hdr(T_LIVE);
  const n = <i32>grp(G_N);
  const out = grp(G_OUT);
  const scores = grp(G_SCORE);
  resetCounters();
  for (let k = 0; k < n; k++) store<i32>(out + (<usize>k << 2), -1);
  for (let r: u32 = 0; r < rows; r++) {
    const ok = load<u8>(live + r) != 0 && process(r);
    store<f64>(scores + (<usize>r << 3), ok ? score(r) : -Infinity);
  }
  let placed = 0;
  while (placed < n) {
    let best: i32 = -1;
    let bestScore: f64 = -Infinity;
    for (let r: u32 = 0; r < rows; r++) {
      const s = load<f64>(scores + (<usize>r << 3));
      if (s > bestScore) {
        bestScore = s;
        best = <i32>r;
      }
    }
    if (best < 0) {
      // Nothing fits any more: count every node's first failure so the host can explain the rest.
      resetCounters();
      for (let r: u32 = 0; r < rows; r++) if (load<u8>(live + r) != 0) process(r);
      break;
    }
    addTask(<u32>best);
    store<i32>(out + (<usize>placed << 2), best);
    placed++;
    const ok = process(<u32>best);
    store<f64>(scores + (<usize>best << 3), ok ? score(<u32>best) : -Infinity);
  }
  return placed;
}

/** The module's static data end; the host requires it below 64 KiB (the table starts there). */
export function heapBase(): usize {
  return __heap_base;
}
