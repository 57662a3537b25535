// @ts-nocheck: AssemblyScript source (compiled by asc, not tsc).
// Deliberately broken strategy: its score never returns.
import { ABI_VERSION, evaluateWith, placeWith, heapBase } from "../../../../assembly/sdk/index";
let spins: u64 = 0;
function score(row: u32): f64 { while (row < 0xffffffff) { spins++; } return <f64>spins; }
export function swarmhost_strategy_abi(): i32 { return ABI_VERSION; }
export function strategy_evaluate(t: usize, g: usize): i32 { return evaluateWith(t, g, score); }
export function strategy_place(t: usize, g: usize): i32 { return placeWith(t, g, score); }
export function strategy_heap_base(): usize { return heapBase(); }
