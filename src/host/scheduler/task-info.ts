/**
 * What the filter pipeline needs from a task, derived once per task group (every task of a group shares the
 * service spec version, so any one task configures the filters), and which tasks count on a node.
 */
import type { Platform, Task } from '../api/objects.js';
import { PublishMode, TaskState } from '../api/objects.js';
import { ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX, parseConstraints, type Constraint } from './constraint.js';

/** A placement preference level the scheduler honours: spread over a node label or an engine label. */
export interface SpreadLevel {
  source: 'node' | 'engine';
  /** Label name, case-sensitive. */
  label: string;
}

/** The pipeline configuration for one task group. */
export interface TaskRequirements {
  serviceId: string;
  specVersion: number;
  /** Reserved CPU in nano-CPUs. */
  nanoCpus: number;
  /** Reserved memory in bytes. */
  memoryBytes: number;
  /** Discrete generic resources requested, `[kind, count]` with count > 0. */
  generic: [string, number][];
  /** Parsed constraints; null when there are none or they do not parse (the filter is then off). */
  constraints: Constraint[] | null;
  platforms: Platform[];
  /** Host-mode published ports as `protocol * 65536 + port`. */
  hostPorts: number[];
  /** 0 = no limit. */
  maxReplicas: number;
  /** Spread levels in order; descriptors other than node/engine labels are dropped. */
  spread: SpreadLevel[];
}

/** Host-mode published ports of a task as `protocol * 65536 + port` (published port 0 is not a host port). */
export function hostPortKeys(task: Task): number[] {
  const out: number[] = [];
  for (const p of task.endpoint?.ports ?? []) {
    if (p.publishMode === PublishMode.HOST && p.publishedPort !== 0) out.push(p.protocol * 65536 + p.publishedPort);
  }
  return out;
}

/** Reads the filter configuration from a task. */
export function taskRequirements(task: Task): TaskRequirements {
  const r = task.spec.resources?.reservations;
  const generic: [string, number][] = [];
  for (const [k, v] of Object.entries(r?.generic ?? {})) if (v > 0) generic.push([k, v]);
  const pl = task.spec.placement;
  let constraints: Constraint[] | null = null;
  if (pl && pl.constraints.length > 0) {
    try {
      constraints = parseConstraints(pl.constraints);
    } catch {
      constraints = null;
    }
  }
  const spread: SpreadLevel[] = [];
  for (const p of pl?.preferences ?? []) {
    const d = p.spreadDescriptor;
    const lower = d.toLowerCase();
    if (d.length > NODE_LABEL_PREFIX.length && lower.startsWith(NODE_LABEL_PREFIX)) {
      spread.push({ source: 'node', label: d.slice(NODE_LABEL_PREFIX.length) });
    } else if (d.length > ENGINE_LABEL_PREFIX.length && lower.startsWith(ENGINE_LABEL_PREFIX)) {
      spread.push({ source: 'engine', label: d.slice(ENGINE_LABEL_PREFIX.length) });
    }
  }
  return {
    serviceId: task.serviceId,
    specVersion: task.specVersion,
    nanoCpus: r?.nanoCpus ?? 0,
    memoryBytes: r?.memoryBytes ?? 0,
    generic,
    constraints,
    platforms: pl?.platforms ?? [],
    hostPorts: hostPortKeys(task),
    maxReplicas: pl?.maxReplicas ?? 0,
    spread,
  };
}

/** True for tasks the scheduler tracks: observed PENDING..RUNNING, except PENDING ones no longer wanted. */
export function isTracked(t: Task): boolean {
  if (t.status.state < TaskState.PENDING || t.status.state > TaskState.RUNNING) return false;
  return !(t.status.state === TaskState.PENDING && t.desiredState > TaskState.COMPLETE);
}

/** True for tasks whose reservations count on their node: tracked, assigned (not PENDING) and on a node. */
export function countsOnNode(t: Task): boolean {
  return isTracked(t) && t.status.state !== TaskState.PENDING && t.nodeId !== '';
}

/** True for tasks counted as active (desired state at most COMPLETE). */
export function isActive(t: Task): boolean {
  return t.desiredState <= TaskState.COMPLETE;
}

/** Normalizes an architecture name for the platform filter (`x86_64`→`amd64`, `aarch64`→`arm64`). */
export function normalizeArch(a: string): string {
  return a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a;
}
