/**
 * Runs a `.wasm` scheduling strategy against a fixture cluster and prints its decisions and explanations.
 * Usage: npm run strategy:try -- build/strategy-binpack.wasm [--nodes 3] [--tasks 10] [--cpu 1]
 * (`--cpu` is the CPU reservation per task in cores; nodes have 4 cores each.)
 */
import { readFileSync } from 'node:fs';
import { RealTimers } from '../src/host/env/index.js';
import { tryStrategy } from '../src/host/plugins/index.js';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d/.test(a));
const num = (flag: string, d: number): number => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : d;
};
if (!file) {
  console.error('usage: strategy-try <module.wasm> [--nodes N] [--tasks N] [--cpu cores]');
  process.exit(2);
}
const timers = new RealTimers();
try {
  const r = await tryStrategy(new Uint8Array(readFileSync(file)), { nodes: num('--nodes', 3), tasks: num('--tasks', 10), nanoCpus: num('--cpu', 1) * 1e9, timers });
  for (const a of r.assignments) console.log(`${a.taskId} -> ${a.nodeId}`);
  for (const u of r.unplaceable) console.log(`${u.taskId}: ${u.err}`);
  console.log('evaluation of the first task (node, feasible, first failing filter, score):');
  for (const e of r.evaluation) console.log(`  ${e.nodeId} ${e.feasible ? 'feasible' : 'infeasible'} ${e.firstFailingFilter} ${e.score}`);
  for (const f of r.failures) console.log(`FAILURE ${f}`);
  process.exitCode = r.failures.length > 0 ? 1 : 0;
} catch (e) {
  console.error(`refused: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  timers.clearAll();
}
