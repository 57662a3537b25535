/**
 * For strategy authors: run a `.wasm` strategy (ABI v1) against a fixture cluster without the host, and get
 * its decisions, the explanation of what it could not place, and its per-node evaluation of one task (first
 * failing filter, feasibility, score). `scripts/strategy-try.ts` prints this; tests call it directly.
 */
import type { Timers } from '../env/index.js';
import { StrategyRunner } from '../scheduler/strategy.js';
import { fixtureNodeTable, fixturePendingTasks } from './conformance-strategy.js';

/** Fixture shape: `nodes` 4-CPU nodes, `tasks` pending tasks of one service reserving `nanoCpus` each. */
export interface StrategyTryOptions {
  nodes: number;
  tasks: number;
  /** CPU reservation per task, nano-CPUs (1e9 = one core). */
  nanoCpus: number;
  timers: Timers;
  callTimeoutMs?: number;
}

/** What the strategy did on the fixture. */
export interface StrategyTryResult {
  assignments: { taskId: string; nodeId: string }[];
  unplaceable: { taskId: string; err: string }[];
  /** Evaluation of the first task against every node, in node order. */
  evaluation: { nodeId: string; feasible: boolean; firstFailingFilter: number; score: number }[];
  /** Failures the runner recorded (trap, timeout, ...): a non-empty list means the host would fall back. */
  failures: string[];
}

/** Loads the module, runs one pass and one evaluation on the fixture, closes the runner. */
export async function tryStrategy(bytes: Uint8Array, o: StrategyTryOptions): Promise<StrategyTryResult> {
  const lines: string[] = [];
  const opts: Parameters<typeof StrategyRunner.load>[1] = { name: 'try', timers: o.timers, logger: (l) => lines.push(l) };
  if (o.callTimeoutMs !== undefined) opts.callTimeoutMs = o.callTimeoutMs;
  const r = await StrategyRunner.load(bytes, opts);
  try {
    const tasks = fixturePendingTasks('svc', o.tasks, o.nanoCpus);
    const pass = await r.schedulePass(fixtureNodeTable(o.nodes), tasks);
    const evaluation: StrategyTryResult['evaluation'] = [];
    if (tasks.length > 0 && r.status().failures === 0) {
      const ev = await r.evaluate(fixtureNodeTable(o.nodes), tasks[0]!);
      ev.nodeIds.forEach((id, i) => evaluation.push({ nodeId: id, feasible: ev.feasible[i]!, firstFailingFilter: ev.codes[i]!, score: ev.scores[i]! }));
    }
    return {
      assignments: pass.assignments.map((a) => ({ taskId: a.taskId, nodeId: a.nodeId })),
      unplaceable: pass.unplaceable.map((u) => ({ taskId: u.taskId, err: u.err })),
      evaluation,
      failures: lines,
    };
  } finally {
    await r.close();
  }
}
