/**
 * One randomized orchestration run from one seed, and the properties checked on it. See docs/simulation.md
 * ("Orchestration simulation").
 */
import { NodeAvailability, NodeStatusState, TaskState, type Node, type Service, type Task } from '../../../src/host/api/objects.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { SimViolation } from '../cluster.js';
import { OrchSim, type SimWorker } from './orch-cluster.js';

/** Parameters of one run. */
export interface OrchScenarioOptions {
  seed: number;
  steps: number;
  /** Worker nodes; default 5..8 picked by the seed. */
  workers?: number;
  /** Bound on simulated time to converge after the faults stop, ms (default 240,000). */
  convergeBoundMs?: number;
  trace?: boolean;
}

/** What a passing run did. */
export interface OrchScenarioResult {
  seed: number;
  workers: number;
  simulatedMs: number;
  convergeMs: number;
  servicesCreated: number;
  servicesRemoved: number;
  scales: number;
  agentCrashes: number;
  managerCrashes: number;
  /** Sim processes killed (a task's process exits 137 under the agent). */
  taskKills: number;
  /** Node availability changes accepted (drain, pause, active). */
  availabilityChanges: number;
  /** Service spec changes accepted (rolling updates). */
  updates: number;
  leaderStarts: number;
  /** Tasks RUNNING in the store at the end. */
  runningTasks: number;
}

function isReplicated(s: Service): boolean {
  return 'replicated' in s.spec.mode;
}

function isGlobal(s: Service): boolean {
  return 'global' in s.spec.mode;
}

/** Continuous check on the leader's store: one live (desired ≤ RUNNING) task per replicated slot and per global node. */
export function checkDesiredUniqueness(tasks: readonly Task[], services: ReadonlyMap<string, Service>): string | undefined {
  const seen = new Map<string, string>();
  for (const t of tasks) {
    if (t.desiredState > TaskState.RUNNING) continue;
    const s = services.get(t.serviceId);
    if (s === undefined) continue;
    let key: string;
    if (isReplicated(s)) key = `${t.serviceId} slot ${t.slot}`;
    else if (isGlobal(s)) key = `${t.serviceId} node ${t.nodeId}`;
    else continue;
    const prev = seen.get(key);
    if (prev !== undefined) return `two tasks desired ≤ RUNNING in ${key}: ${prev} and ${t.id}`;
    seen.set(key, t.id);
  }
  return undefined;
}

/** Compact listing of tasks for a violation message: slot@node state/desired (message). */
function describeTasks(tasks: readonly Task[], nodes: ReadonlyMap<string, Node>): string {
  return tasks
    .map((t) => `${t.id.slice(0, 6)} ${t.slot}@${t.nodeId.slice(0, 8) || '-'}${t.nodeId ? `(${NodeStatusState[nodes.get(t.nodeId)?.status.state ?? 0]},${NodeAvailability[nodes.get(t.nodeId)?.spec.availability ?? 0]})` : ''} ${TaskState[t.status.state]}/${TaskState[t.desiredState]} "${t.status.message}${t.status.err ? ': ' + t.status.err : ''}" v${t.specVersion}`)
    .join('; ');
}

/**
 * The converged state's properties, on the leader's store and the live machines; returns the first one
 * broken (undefined = converged).
 */
export function checkConverged(sim: OrchSim, nodes: readonly Node[], services: readonly Service[], tasks: readonly Task[]): string | undefined {
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const eligible = nodes.filter((n) => n.status.state === NodeStatusState.READY && n.spec.availability === NodeAvailability.ACTIVE);
  const eligibleIds = new Set(eligible.map((n) => n.id));
  const svcById = new Map(services.map((s) => [s.id, s]));
  // Every live worker must have registered again (the faults are over).
  for (const w of sim.workers.values()) {
    if (w.alive && nodeById.get(w.nodeId)?.status.state !== NodeStatusState.READY) return `worker ${w.nodeId} is running but its node is ${NodeStatusState[nodeById.get(w.nodeId)?.status.state ?? 0]}`;
    if (!w.alive && nodeById.get(w.nodeId)?.status.state !== NodeStatusState.DOWN) {
      return `worker ${w.nodeId} is down but its node is ${NodeStatusState[nodeById.get(w.nodeId)?.status.state ?? 0]}`;
    }
  }
  const running = tasks.filter((t) => t.status.state === TaskState.RUNNING);
  for (const s of services) {
    const mine = running.filter((t) => t.serviceId === s.id && t.desiredState === TaskState.RUNNING && eligibleIds.has(t.nodeId));
    const name = s.spec.annotations.name;
    if (isReplicated(s)) {
      const want = (s.spec.mode as { replicated: { replicas: number } }).replicated.replicas;
      if (mine.length !== want) return `service ${name}: ${mine.length} RUNNING tasks on eligible nodes, want ${want}; its tasks: ${describeTasks(tasks.filter((t) => t.serviceId === s.id), nodeById)}`;
      const slots = new Set(mine.map((t) => t.slot));
      if (slots.size !== want) return `service ${name}: RUNNING tasks share slots (${mine.map((t) => t.slot).join(',')})`;
    } else if (isGlobal(s)) {
      for (const n of eligible) {
        const k = mine.filter((t) => t.nodeId === n.id).length;
        if (k !== 1) return `global service ${name}: ${k} RUNNING tasks on eligible node ${n.id}, want 1`;
      }
    }
  }
  // A slot never has two running tasks (no start-first updates here), whatever their desired state.
  const perSlot = new Map<string, number>();
  for (const t of running) {
    const s = svcById.get(t.serviceId);
    if (s === undefined || !isReplicated(s)) continue;
    if (nodeById.get(t.nodeId)?.status.state === NodeStatusState.DOWN) continue;
    const k = `${s.spec.annotations.name} slot ${t.slot}`;
    perSlot.set(k, (perSlot.get(k) ?? 0) + 1);
    if (perSlot.get(k)! > 1) return `${k} has two RUNNING tasks`;
  }
  for (const t of tasks) {
    const n = nodeById.get(t.nodeId);
    // On a DOWN node the store keeps the last observed state (SwarmKit orphans such tasks only after 24 h); what
    // must hold is that the orchestrators gave up on them: nothing there is still meant to run.
    if (n?.status.state === NodeStatusState.DOWN && t.status.state <= TaskState.RUNNING && t.status.state >= TaskState.ASSIGNED && t.desiredState <= TaskState.RUNNING) {
      return `task ${t.id} (slot ${t.slot}) is ${TaskState[t.status.state]} and desired ${TaskState[t.desiredState]} on DOWN node ${t.nodeId}`;
    }
    // Nothing left behind: tasks of removed services are gone once the reaper ran, except on a DOWN node where
    // their stop cannot be observed.
    if (!svcById.has(t.serviceId) && n?.status.state !== NodeStatusState.DOWN) {
      return `task ${t.id} of removed service ${t.serviceId} is still in the store (${TaskState[t.status.state]}, desired ${TaskState[t.desiredState]})`;
    }
  }
  // The machines agree with the store: what runs is exactly what the store says runs there.
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const w of sim.workers.values()) {
    if (!w.alive) continue;
    for (const [taskId, p] of w.engine.procs) {
      if (p.phase !== 'running') continue;
      const t = byId.get(taskId);
      if (t === undefined) return `worker ${w.nodeId} still runs task ${taskId}, which is not in the store`;
      if (t.nodeId !== w.nodeId || t.desiredState !== TaskState.RUNNING || t.status.state !== TaskState.RUNNING) {
        return `worker ${w.nodeId} still runs task ${taskId} (store: node ${t.nodeId}, ${TaskState[t.status.state]}, desired ${TaskState[t.desiredState]})`;
      }
    }
    for (const t of running) {
      if (t.nodeId === w.nodeId && w.engine.procs.get(t.id)?.phase !== 'running') return `store says task ${t.id} RUNNING on ${w.nodeId}, which does not run it`;
    }
  }
  return undefined;
}

/**
 * One run: bootstrap, `steps` random operations (service creates/scales/removes through the control API,
 * agent and machine crashes and returns, workers cut off, leader and manager crashes and restarts, manager
 * isolation), then the faults stop and the swarm must converge within a bound of simulated time. Throws
 * (message starting with the seed) on any violation.
 */
export async function runOrchScenario(o: OrchScenarioOptions): Promise<OrchScenarioResult> {
  // The worker count comes from the seed too (5..8) unless given.
  const workers = o.workers ?? 5 + new SeededRng(o.seed * 7919 + 1).int(4);
  const sim = new OrchSim({ seed: o.seed, workers, trace: o.trace ?? false });
  const r = sim.cluster.rng.fork();
  const res: OrchScenarioResult = {
    seed: o.seed,
    workers,
    simulatedMs: 0,
    convergeMs: 0,
    servicesCreated: 0,
    servicesRemoved: 0,
    scales: 0,
    agentCrashes: 0,
    managerCrashes: 0,
    taskKills: 0,
    availabilityChanges: 0,
    updates: 0,
    leaderStarts: 0,
    runningTasks: 0,
  };
  let svcNo = 0;
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[r.int(xs.length)] : undefined);
  const setAvailability = (n: Node, availability: NodeAvailability): void => {
    control('UpdateNode', { nodeId: n.id, nodeVersion: n.meta.version, spec: { ...structuredClone(n.spec), availability } }, `node ${n.id} ${NodeAvailability[availability]}`, 'availabilityChanges');
  };
  const leaderView = () => {
    const l = sim.leaderServices();
    if (l === undefined) return undefined;
    return l.store.view((tx) => ({ nodes: tx.list('nodes') as Node[], services: tx.list('services') as Service[], tasks: tx.list('tasks') as Task[] }));
  };
  const continuous = (): void => {
    const v = leaderView();
    if (v === undefined) return;
    const bad = checkDesiredUniqueness(v.tasks, new Map(v.services.map((s) => [s.id, s])));
    if (bad !== undefined) {
      const ids = new Set(bad.match(/[a-z0-9]{25}/g) ?? []);
      const involved = v.tasks.filter((t) => ids.has(t.serviceId));
      throw new SimViolation(`t=${sim.nowMs()}ms: ${bad}; the service's tasks: ${describeTasks(involved, new Map(v.nodes.map((n) => [n.id, n])))}`);
    }
  };
  const control = (method: string, req: unknown, what: string, counter: 'servicesCreated' | 'servicesRemoved' | 'scales' | 'availabilityChanges' | 'updates'): void => {
    void sim.control(method, req).then(
      () => {
        res[counter]++;
        sim.trace(`control ${what} ok`);
      },
      (e: unknown) => sim.trace(`control ${what} failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  };
  try {
    await sim.bootstrap();
    await sim.run(2_000);
    for (let step = 0; step < o.steps; step++) {
      const roll = r.next();
      const workersList = [...sim.workers.values()];
      const managers = [...sim.cluster.members.values()];
      const services = leaderView()?.services ?? [];
      if (roll < 0.3 || (roll >= 0.91 && roll < 0.93)) {
        await sim.run(1 + r.int(2_000));
      } else if (roll < 0.42) {
        if (services.length < 8) {
          const name = `svc${svcNo++}`;
          const replicas = r.int(7);
          control('CreateService', { spec: { annotations: { name, labels: {} }, task: { container: { image: 'busybox' } }, mode: { replicated: { replicas } } } }, `create ${name} x${replicas}`, 'servicesCreated');
        }
        await sim.run(1 + r.int(50));
      } else if (roll < 0.47) {
        if (services.length < 8) {
          const name = `svc${svcNo++}`;
          control('CreateService', { spec: { annotations: { name, labels: {} }, task: { container: { image: 'busybox' } }, mode: { global: {} } } }, `create global ${name}`, 'servicesCreated');
        }
        await sim.run(1 + r.int(50));
      } else if (roll < 0.59) {
        const s = pick(services.filter(isReplicated));
        if (s !== undefined) {
          const replicas = r.int(9);
          const spec = structuredClone(s.spec) as Service['spec'];
          (spec.mode as { replicated: { replicas: number } }).replicated.replicas = replicas;
          control('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec }, `scale ${s.spec.annotations.name} to ${replicas}`, 'scales');
        }
        await sim.run(1 + r.int(50));
      } else if (roll < 0.65) {
        const s = pick(services);
        if (s !== undefined) {
          control('RemoveService', { serviceId: s.id }, `remove ${s.spec.annotations.name}`, 'servicesRemoved');
        }
        await sim.run(1 + r.int(50));
      } else if (roll < 0.73) {
        const w = pick(workersList.filter((x) => x.alive));
        if (w !== undefined) {
          res.agentCrashes++;
          await sim.crashAgent(w, r.next() < 0.5);
        }
      } else if (roll < 0.81) {
        const w = pick(workersList.filter((x) => !x.alive));
        if (w !== undefined) await sim.startAgent(w);
      } else if (roll < 0.84) {
        const w = pick(workersList.filter((x) => x.alive && !x.cut));
        if (w !== undefined) sim.setCut(w, true);
      } else if (roll < 0.87) {
        const w = pick(workersList.filter((x) => x.cut));
        if (w !== undefined) sim.setCut(w, false);
      } else if (roll < 0.9) {
        const l = sim.cluster.leader();
        if (l !== undefined) {
          res.managerCrashes++;
          sim.crashManager(l.id);
        }
      } else if (roll < 0.91) {
        const m = pick(managers.filter((x) => x.alive));
        if (m !== undefined) {
          res.managerCrashes++;
          sim.crashManager(m.id);
        }
      } else if (roll < 0.97) {
        const m = pick(managers.filter((x) => !x.alive && !x.starting));
        if (m !== undefined) await sim.restartManager(m.id);
      } else if (roll < 0.985) {
        const m = pick(managers.filter((x) => x.alive));
        if (m !== undefined) sim.isolateManager(m.id);
      } else if (roll < 0.99) {
        sim.healAll();
      } else {
        // Lossy, duplicating, slow links between managers for a while.
        sim.cluster.net.faults = { dropRate: r.next() * 0.2, duplicateRate: r.next() * 0.1, minDelayMs: 1, maxDelayMs: 1 + r.int(60) };
      }
      // Second roll, for the faults that mostly matter to the orchestrators.
      const roll2 = r.next();
      if (roll2 < 0.06) {
        const w = pick(workersList.filter((x) => x.alive));
        const id = w ? pick([...w.engine.procs.values()].filter((p) => p.phase === 'running').map((p) => p.taskId)) : undefined;
        if (w && id !== undefined) {
          res.taskKills++;
          w.engine.kill(id, 137, 'killed by the simulation');
        }
      } else if (roll2 < 0.1) {
        const n = pick(leaderView()?.nodes ?? []);
        if (n !== undefined) setAvailability(n, pick([NodeAvailability.DRAIN, NodeAvailability.PAUSE, NodeAvailability.ACTIVE, NodeAvailability.ACTIVE])!);
        await sim.run(1 + r.int(50));
      } else if (roll2 < 0.12) {
        sim.cluster.net.faults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 10 };
      } else if (roll2 < 0.16) {
        // A spec change (env): a rolling update, stop-first (the default), one task at a time.
        const s = pick(services);
        if (s !== undefined) {
          const spec = structuredClone(s.spec) as Service['spec'];
          spec.task.container.env = [`GEN=${step}`];
          control('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec }, `update ${s.spec.annotations.name} env`, 'updates');
        }
        await sim.run(1 + r.int(50));
      } else if (roll2 < 0.18) {
        // A graceful leader change: the old leader's process lives on, its leader components stop.
        const l = sim.cluster.leader();
        const to = pick(managers.filter((m) => m.alive && m !== l).map((m) => m.id));
        if (l !== undefined && to !== undefined) void l.node!.transferLeadership(to).catch(() => undefined);
        await sim.run(1 + r.int(50));
      } else if (roll2 < 0.2) {
        // Managers split 1 | 2 (agents still reach every manager): a minority leader lingers until check-quorum.
        const ids = managers.map((m) => m.id);
        const lone = pick(ids)!;
        sim.partitionManagers([[lone], ids.filter((x) => x !== lone)]);
      }
      continuous();
    }
    // The faults stop: heal, restart every manager and every agent but (in a third of the runs) one, which
    // stays down so that the DOWN-node properties are checked too.
    res.simulatedMs = sim.nowMs();
    sim.healAll();
    // In a third of the runs one manager stays down (two of three keep quorum): agents must find the others.
    const managerDown = r.next() < 1 / 3 ? pick([...sim.cluster.members.values()]) : undefined;
    for (const m of sim.cluster.members.values()) {
      if (m === managerDown) sim.crashManager(m.id);
      else if (!m.alive) await sim.restartManager(m.id);
    }
    const keepDown = r.next() < 1 / 3 ? pick([...sim.workers.values()]) : undefined;
    for (const w of sim.workers.values()) {
      if (w === keepDown) await sim.crashAgent(w, true);
      else await sim.startAgent(w);
    }
    sim.cluster.net.faults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 10 };
    // Availability settles: every node ACTIVE except (in a third of the runs) one drained node, whose tasks must
    // all move. Retried until the leader accepted it (the control call may meet a leader change).
    const drained = r.next() < 1 / 3 ? pick([...sim.workers.keys()]) : undefined;
    for (let attempt = 0; ; attempt++) {
      const v = leaderView();
      const wrong = v?.nodes.filter((n) => n.spec.availability !== (n.id === drained ? NodeAvailability.DRAIN : NodeAvailability.ACTIVE)) ?? [];
      if (v !== undefined && wrong.length === 0) break;
      if (attempt >= 100) throw new SimViolation('node availability could not be settled within 100 s after the faults stopped');
      for (const n of wrong) setAvailability(n, n.id === drained ? NodeAvailability.DRAIN : NodeAvailability.ACTIVE);
      await sim.run(1_000);
    }
    const start = sim.timers.now();
    const bound = o.convergeBoundMs ?? 240_000;
    let last = 'no leader';
    for (;;) {
      await sim.run(1_000);
      continuous();
      const v = leaderView();
      if (v === undefined) last = 'no leader with running leader components';
      else {
        const bad = checkConverged(sim, v.nodes, v.services, v.tasks);
        if (bad === undefined) {
          res.runningTasks = v.tasks.filter((t) => t.status.state === TaskState.RUNNING).length;
          break;
        }
        last = bad;
      }
      if (sim.timers.now() - start >= bound) {
        throw new SimViolation(`no convergence within ${bound} ms of simulated time after the faults stopped: ${last}`);
      }
    }
    res.convergeMs = sim.timers.now() - start;
    res.leaderStarts = sim.leaderStarts;
    return res;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.message = `seed ${o.seed}: ${err.message}`;
    if (o.trace) err.message += `\ntrace (last 80 lines):\n${sim.cluster.traceLines.slice(-Number(process.env.SIM_TRACE_LINES ?? 80)).join('\n')}`;
    throw err;
  } finally {
    await sim.shutdown();
  }
}

/** Worker helper re-exported for tests. */
export type { SimWorker };
