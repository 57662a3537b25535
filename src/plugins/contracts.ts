/**
 * Plugin contracts for the manager-side plugins: orchestrators and restart policies. Small, JSON-in/JSON-out
 * shapes, so that the registry (built elsewhere) can run them in a worker pool and hot-swap them. The only
 * non-JSON inputs are the injected capabilities of `ReconcileCapabilities` (id generation and constraint
 * evaluation), which a worker-side runner would replace with a pre-generated id list and the compiled constraint
 * program.
 */
import type { Node, Service, Task } from '../host/api/index.js';
import type { ConstraintPredicate } from './orchestrators/dirty.js';
import type { NewId, Plan } from './orchestrators/plan.js';
import type { ServiceKind } from './orchestrators/slots.js';
import type { RestartDecision, RestartDecisionInput } from './restart/default.js';

/** Name and version of a plugin; a version is immutable (the registry pins units of work to it). */
export interface PluginIdentity {
  name: string;
  version: string;
}

/** What every orchestrator reconcile receives. JSON-only. */
export interface OrchestratorInput {
  serviceId: string;
  /** The service, or undefined when it was deleted (then every task goes to desired REMOVE). */
  service?: Service;
  /** Every task record of the service. */
  tasks: Task[];
  /** Every node by id (global kinds need all of them; replicated ones need those its tasks are on). */
  nodes: Record<string, Node>;
  /** Current time, ms since the epoch. */
  nowMs: number;
  /** Tasks whose replacement the restart supervisor refused (max attempts): their slot is held, not refilled. */
  noRestartTaskIds?: string[];
}

/** The non-JSON capabilities a reconcile may call. */
export interface ReconcileCapabilities {
  newId: NewId;
  constraintsMet: ConstraintPredicate;
}

/** An orchestrator: a pure reconcile from a service and its tasks to a Plan the host applies in one transaction. */
export interface OrchestratorPlugin extends PluginIdentity {
  /** Service modes this orchestrator owns. */
  kinds: readonly ServiceKind[];
  reconcile(input: OrchestratorInput, caps: ReconcileCapabilities): Plan;
}

/** A restart policy: a pure decision; the host's supervisor keeps history and timers so that a swap loses nothing. */
export interface RestartPolicyPlugin extends PluginIdentity {
  decide(input: RestartDecisionInput): RestartDecision;
}
