// @ts-nocheck: AssemblyScript source (compiled by asc, not tsc).
// Deliberately broken strategy: its score calls abort() (imports env.abort, which the host allows and reports).
import { ABI_VERSION, evaluateWith, placeWith, heapBase } from "../../../../assembly/sdk/index";
function score(row: u32): f64 { if (row < 0xffffffff) abort("score exploded"); return 0; }
export function swarmhost_strategy_abi(): i32 { return ABI_VERSION; }
export function strategy_evaluate(t: usize, g: usize): i32 { return evaluateWith(t, g, score); }
export function strategy_place(t: usize, g: usize): i32 { return placeWith(t, g, score); }
export function strategy_heap_base(): usize { return heapBase(); }
