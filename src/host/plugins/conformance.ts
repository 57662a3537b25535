/**
 * Conformance checks a candidate must pass before it serves: every recorded fixture (fixtures.ts) run through
 * the candidate, each answer required to be well formed (and, for restart policies, to respect a restart
 * condition of `none` / on-failure-after-complete). Throws {@link ConformanceError} naming the fixture and rule.
 */
import { TaskState, type Task } from '../api/index.js';
import type { OrchestratorPlugin, RestartPolicyPlugin } from '../../plugins/contracts.js';
import type { Plan } from '../../plugins/orchestrators/plan.js';
import { orchestratorFixtures, restartFixtures, ORCHESTRATOR_SLOT_KINDS } from './fixtures.js';

/** The longest restart delay a policy may ask for, ms (one day): anything longer is taken as a bug. */
export const MAX_RESTART_DELAY_MS = 86_400_000;

/** A candidate gave a malformed answer on a fixture. */
export class ConformanceError extends Error {}

const isStr = (x: unknown): x is string => typeof x === 'string';
const validState = (x: unknown): boolean => typeof x === 'number' && x in TaskState;

/** Checks one restart decision's shape; `mayRestart` false also requires "no restart". Throws ConformanceError. */
export function checkDecision(d: unknown, where: string, mayRestart = true): void {
  const bad = (rule: string): never => {
    throw new ConformanceError(`${where}: ${rule} (got ${JSON.stringify(d)})`);
  };
  if (typeof d !== 'object' || d === null) bad('decide must return an object');
  const r = d as Record<string, unknown>;
  if (r.restart === true) {
    if (typeof r.delayMs !== 'number' || !Number.isFinite(r.delayMs) || r.delayMs < 0 || r.delayMs > MAX_RESTART_DELAY_MS) {
      bad(`delayMs must be a number in [0, ${MAX_RESTART_DELAY_MS}]`);
    }
    if (typeof r.waitForOldTask !== 'boolean') bad('waitForOldTask must be a boolean');
    if (r.pruneBeforeMs !== undefined && (typeof r.pruneBeforeMs !== 'number' || !Number.isFinite(r.pruneBeforeMs))) bad('pruneBeforeMs must be a finite number');
    if (!mayRestart) bad('must not restart a task whose restart condition forbids it');
  } else if (r.restart === false) {
    if (!isStr(r.reason) || r.reason === '') bad('a "no restart" decision needs a non-empty reason');
  } else bad('restart must be true or false');
}

/** Runs the restart-policy fixtures through `p`. */
export function checkRestartPolicy(p: RestartPolicyPlugin): void {
  for (const f of restartFixtures()) {
    let d: unknown;
    try {
      d = p.decide(structuredClone(f.input));
    } catch (e) {
      throw new ConformanceError(`fixture "${f.name}": decide threw: ${(e as Error).message}`);
    }
    checkDecision(d, `fixture "${f.name}"`, f.mayRestart);
  }
}

/** Checks one plan against its input: arrays present, new ids unique and fresh, references to known tasks. */
export function checkPlan(plan: unknown, input: { serviceId: string; tasks: Task[]; service?: unknown }, where: string): void {
  const bad = (rule: string): never => {
    throw new ConformanceError(`${where}: ${rule}`);
  };
  if (typeof plan !== 'object' || plan === null) bad('reconcile must return a Plan object');
  const p = plan as Plan;
  for (const k of ['create', 'setDesired', 'remove', 'delayedStarts', 'restart'] as const) if (!Array.isArray(p[k])) bad(`plan.${k} must be an array`);
  const known = new Set(input.tasks.map((t) => t.id));
  const fresh = new Set<string>();
  for (const t of p.create) {
    if (typeof t !== 'object' || t === null || !isStr(t.id) || t.id === '') bad('plan.create: every task needs an id');
    if (known.has(t.id) || fresh.has(t.id)) bad(`plan.create: task id ${t.id} is not new`);
    fresh.add(t.id);
    if (t.serviceId !== input.serviceId) bad(`plan.create: task ${t.id} belongs to ${t.serviceId}, not ${input.serviceId}`);
    if (!validState(t.desiredState) || !validState(t.status?.state)) bad(`plan.create: task ${t.id} has an invalid state`);
    if (input.service === undefined) bad('plan.create: no task may be created for a deleted service');
  }
  for (const c of p.setDesired) {
    if (!isStr(c.taskId) || !(known.has(c.taskId) || fresh.has(c.taskId))) bad(`plan.setDesired: unknown task ${String(c.taskId)}`);
    if (!validState(c.desiredState)) bad(`plan.setDesired: invalid desired state for ${c.taskId}`);
    if (!isStr(c.reason)) bad(`plan.setDesired: reason of ${c.taskId} must be a string`);
  }
  for (const id of p.remove) if (!known.has(id)) bad(`plan.remove: unknown task ${String(id)}`);
  for (const r of p.restart) if (!isStr(r.taskId) || !known.has(r.taskId)) bad(`plan.restart: unknown task ${String(r.taskId)}`);
}

/** Runs the orchestrator fixtures of `slot` through `o`; also checks it owns exactly the slot's kinds. */
export function checkOrchestrator(o: OrchestratorPlugin, slot: 'replicated' | 'global' | 'jobs'): void {
  const want = ORCHESTRATOR_SLOT_KINDS[slot];
  if (!Array.isArray(o.kinds) || want.some((k) => !o.kinds.includes(k))) {
    throw new ConformanceError(`kinds must include ${want.join(', ')} (got ${JSON.stringify(o.kinds)})`);
  }
  let n = 0;
  const caps = { newId: () => `conf-${++n}`, constraintsMet: () => true };
  for (const f of orchestratorFixtures(slot)) {
    let plan: unknown;
    try {
      plan = o.reconcile(structuredClone(f.input), caps);
    } catch (e) {
      throw new ConformanceError(`fixture "${f.name}": reconcile threw: ${(e as Error).message}`);
    }
    checkPlan(plan, f.input, `fixture "${f.name}"`);
  }
}

