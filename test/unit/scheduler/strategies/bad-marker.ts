// @ts-nocheck: AssemblyScript source (compiled by asc, not tsc).
// Deliberately broken strategy: claims an ABI version the host does not speak.
import { ABI_VERSION, evaluateWith, placeWith, heapBase } from "../../../../assembly/sdk/index";
function score(row: u32): f64 { return <f64>row; }
export function swarmhost_strategy_abi(): i32 { return ABI_VERSION + 98; }
export function strategy_evaluate(t: usize, g: usize): i32 { return evaluateWith(t, g, score); }
export function strategy_place(t: usize, g: usize): i32 { return placeWith(t, g, score); }
export function strategy_heap_base(): usize { return heapBase(); }
