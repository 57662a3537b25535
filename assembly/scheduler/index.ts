// The built-in scheduler module: SwarmKit's filter pipeline and spread strategy over a node table kept as
// columns in linear memory. One call per task group.
import { bind, firstFailure, addTask } from './filters';
import { scheduleGroup, schedulePreassigned, scratchBytes } from './spread';
import { G_CODES, G_BITMAP, G_OUT } from './layout';
import { T, G, hdr, grp } from './filters';
import { T_ROWS, T_LIVE } from './layout';

/** Scratch bytes the host must provide for `rows` rows and `levels` preference levels. */
export function sched_scratch_bytes(rows: u32, levels: u32): u32 {
  return scratchBytes(rows, levels);
}

/** Schedules the group described at `g` over the table at `t`; returns tasks placed. */
export function sched_group(t: usize, g: usize): i32 {
  bind(t, g);
  return scheduleGroup();
}

/** Checks preassigned tasks of one group against their nodes. */
export function sched_preassigned(t: usize, g: usize): void {
  bind(t, g);
  schedulePreassigned(firstFailure);
}

/** Fills the first failing filter per row and the feasibility bitmap (no counters, no accounting). */
export function sched_evaluate(t: usize, g: usize): i32 {
  bind(t, g);
  const rows = hdr(T_ROWS);
  const codes = <usize>grp(G_CODES);
  const bitmap = <usize>grp(G_BITMAP);
  memory.fill(bitmap, 0, (rows + 7) >> 3);
  let feasible = 0;
  for (let r: u32 = 0; r < rows; r++) {
    if (load<u8>(hdr(T_LIVE) + r) == 0) {
      store<u8>(codes + r, 255);
      continue;
    }
    const f = firstFailure(r);
    store<u8>(codes + r, <u8>f);
    if (f == 0) {
      store<u8>(bitmap + (r >> 3), load<u8>(bitmap + (r >> 3)) | <u8>(<u32>1 << (r & 7)));
      feasible++;
    }
  }
  return feasible;
}

/** Lowest address the host may use: everything below belongs to the module's static data. */
export function sched_heap_base(): usize {
  return __heap_base;
}

export { T, G };

/**
 * Applies decisions made elsewhere (a strategy module): each row in G_OUT is re-checked against the pipeline
 * and accounted. Stops at the first invalid or infeasible row; returns how many were applied.
 */
export function sched_apply(t: usize, g: usize, placed: i32): i32 {
  bind(t, g);
  const out = grp(G_OUT);
  const rows = <i32>hdr(T_ROWS);
  for (let k = 0; k < placed; k++) {
    const r = load<i32>(out + (<usize>k << 2));
    if (r < 0 || r >= rows || load<u8>(hdr(T_LIVE) + <u32>r) == 0) return k;
    if (firstFailure(<u32>r) != 0) return k;
    addTask(<u32>r);
  }
  return placed;
}
