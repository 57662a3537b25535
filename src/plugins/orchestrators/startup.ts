/**
 * Leader start-up fix-ups (reference §3.5) that are not covered by a normal reconcile: tasks whose service
 * vanished while no leader was watching are deleted. (Failure and invalid-node rules run in each service's
 * reconcile; delayed starts and restart history are rebuilt by `RestartSupervisor.rebuild`.)
 */
import type { Service, Task } from '../../host/api/index.js';
import { emptyPlan, type Plan } from './plan.js';

/** Deletes the records of tasks whose service no longer exists; the agents stop what they no longer see. */
export function startupFixups(services: Record<string, Service>, tasks: readonly Task[]): Plan {
  const plan = emptyPlan();
  for (const t of tasks) if (!services[t.serviceId]) plan.remove.push(t.id);
  return plan;
}
