import { SimCluster, type AppFactory } from './cluster.js';
import type { NetworkFaults } from './network.js';

/** Parameters of one randomized simulation run. */
export interface ScenarioOptions {
  seed: number;
  managers: 3 | 5;
  steps: number;
  app: AppFactory;
  /** Bound on simulated time to converge after faults stop. */
  convergeBoundMs?: number;
  trace?: boolean;
}

/** Outcome of a run that kept every invariant. */
export interface ScenarioResult {
  seed: number;
  simulatedMs: number;
  ackedWrites: number;
  convergeMs: number;
  delivered: number;
  dropped: number;
}

const faultyNetwork = (rngNext: () => number): NetworkFaults => ({
  dropRate: rngNext() * 0.2,
  duplicateRate: rngNext() * 0.1,
  minDelayMs: 1,
  maxDelayMs: 1 + Math.floor(rngNext() * 60),
});

/**
 * One randomized run from one seed: client writes (many in flight at once), crashes and restarts, partitions
 * and heals, lossy/duplicating/reordering links, membership changes and leadership transfers; then the
 * faults stop and the cluster must converge. Throws SimViolation (with the seed in the message) on any
 * broken invariant.
 */
export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const c = new SimCluster({
    seed: o.seed,
    managers: o.managers,
    faults: { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 10 },
    app: o.app,
    trace: o.trace ?? false,
  });
  const r = c.rng.fork();
  let writeNo = 0;
  try {
    await c.bootstrap();
    await c.run(3_000);
    for (let step = 0; step < o.steps; step++) {
      const roll = r.next();
      const ids = [...c.members.values()].filter((m) => !m.removed).map((m) => m.id);
      const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[r.int(xs.length)] : undefined);
      if (roll < 0.35) {
        await c.run(1 + r.int(300));
      } else if (roll < 0.65) {
        const n = 1 + r.int(8);
        for (let i = 0; i < n; i++) void c.write(`w${o.seed}-${writeNo++}`, `v${step}`);
        await c.run(1 + r.int(20));
      } else if (roll < 0.7) {
        const victim = pick(c.live().filter((m) => !m.removed).map((m) => m.id));
        if (victim !== undefined) c.crash(victim);
      } else if (roll < 0.76) {
        const dead = pick([...c.members.values()].filter((m) => !m.alive && !m.starting && !m.removed).map((m) => m.id));
        if (dead !== undefined) await c.startMember(dead);
      } else if (roll < 0.8) {
        const a = pick(ids);
        if (a !== undefined) c.net.isolate(a);
      } else if (roll < 0.83) {
        const shuffled = [...ids].sort(() => r.next() - 0.5);
        const cut = 1 + r.int(Math.max(1, shuffled.length - 1));
        c.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (roll < 0.88) {
        c.net.heal();
      } else if (roll < 0.91) {
        c.net.faults = faultyNetwork(() => r.next());
      } else if (roll < 0.93) {
        if (ids.length < 7) void c.addMember();
      } else if (roll < 0.95) {
        const victim = pick(ids);
        if (victim !== undefined && ids.length > 3) void c.removeMember(victim);
      } else {
        const l = c.leader();
        const to = pick(ids.filter((id) => id !== l?.id));
        if (l !== undefined && to !== undefined) void l.node!.transferLeadership(to).catch(() => undefined);
        await c.run(1 + r.int(50));
      }
    }
    const simulatedBefore = c.timers.now();
    const convergeMs = await c.converge(o.convergeBoundMs ?? 60_000);
    return {
      seed: o.seed,
      simulatedMs: simulatedBefore - 1_700_000_000_000,
      ackedWrites: c.acked.size,
      convergeMs,
      delivered: c.net.delivered,
      dropped: c.net.dropped,
    };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.message = `seed ${o.seed}: ${err.message}`;
    if (o.trace) err.message += `\ntrace (last 40 lines):\n${c.traceLines.slice(-40).join('\n')}`;
    throw err;
  } finally {
    c.shutdown();
  }
}
