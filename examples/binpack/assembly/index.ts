// @ts-nocheck: AssemblyScript source (compiled by asc, not tsc).
// binpack: fill the most-loaded feasible node first. The score prefers nodes with the least free CPU, then the
// least free memory (in GiB), so tasks pile onto busy nodes and leave empty ones free for large tasks.
import { ABI_VERSION, evaluateWith, placeWith, cpuFree, memFree, heapBase } from '../../../assembly/sdk/index';

function score(row: u32): f64 {
  return -(cpuFree(row) / 1e9) * 1024.0 - memFree(row) / 1073741824.0;
}

export function swarmhost_strategy_abi(): i32 {
  return ABI_VERSION;
}
export function strategy_evaluate(t: usize, g: usize): i32 {
  return evaluateWith(t, g, score);
}
export function strategy_place(t: usize, g: usize): i32 {
  return placeWith(t, g, score);
}
export function strategy_heap_base(): usize {
  return heapBase();
}
