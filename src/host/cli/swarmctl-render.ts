/**
 * swarmctl's text output: the `ls` tables and the `inspect` blocks in the seed README's formats. Pure functions
 * of API objects and the current time (ms), so that tests compare whole outputs.
 */
import {
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  Reachability,
  RestartCondition,
  TaskState,
  UpdateState,
  type Cluster,
  type Config,
  type Node,
  type Service,
  type Task,
} from '../api/index.js';
import { goDuration, humanizeAge, table } from './format.js';

/** Space between an inspect key's longest name and its colon (the seed README's alignment). */
export const INSPECT_KEY_PADDING_CHARS = 8;
/** Space between columns of the task tables printed by inspect. */
export const TASK_TABLE_GAP_CHARS = 4;

/** One inspect line: `[key, value]`, or `[header]` for a section title printed bare. */
export type KeyLine = [string, string?];

/** Renders key lines aligned: every key padded to the longest key (section titles included) + 8. */
export function keyBlock(lines: KeyLine[]): string {
  const width = Math.max(0, ...lines.map((l) => l[0].length)) + INSPECT_KEY_PADDING_CHARS;
  return lines.map(([k, v]) => (v === undefined ? k : `${k.padEnd(width)}: ${v}`)).join('\n') + '\n';
}

/** The name swarmctl shows for a node: its spec name, else its hostname. */
export function nodeName(n: Node): string {
  return n.spec.annotations.name || n.description?.hostname || '';
}

/** "REACHABLE *" for the leader, the reachability otherwise, UNKNOWN for desired managers without status. */
export function managerStatusText(n: Node): string {
  if (n.managerStatus) return `${Reachability[n.managerStatus.reachability]}${n.managerStatus.leader ? ' *' : ''}`;
  if (n.spec.desiredRole === NodeRole.MANAGER) return 'UNKNOWN';
  return '';
}

/** `node ls`. */
export function renderNodeList(nodes: Node[]): string {
  const rows = [...nodes]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => [
      n.id,
      nodeName(n),
      NodeMembership[n.spec.membership] ?? '',
      NodeStatusState[n.status.state] ?? '',
      NodeAvailability[n.spec.availability] ?? '',
      managerStatusText(n),
    ]);
  return table(['ID', 'Name', 'Membership', 'Status', 'Availability', 'Manager Status'], rows);
}

/** Counts from ListServiceStatuses, by service id. */
export type StatusById = ReadonlyMap<string, { desiredTasks: number; runningTasks: number; completedTasks: number }>;

/** The Replicas cell: `running/desired`, or `global` for global services. */
export function replicasText(s: Service, statuses: StatusById): string {
  if ('global' in s.spec.mode) return 'global';
  const st = statuses.get(s.id) ?? { runningTasks: 0, desiredTasks: 0, completedTasks: 0 };
  if ('replicatedJob' in s.spec.mode) return `${st.completedTasks}/${s.spec.mode.replicatedJob.totalCompletions} completed`;
  if ('globalJob' in s.spec.mode) return `${st.completedTasks} completed`;
  return `${st.runningTasks}/${st.desiredTasks}`;
}

/** `service ls`. */
export function renderServiceList(services: Service[], statuses: StatusById): string {
  const rows = [...services]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((s) => [s.id, s.spec.annotations.name, s.spec.task.container.image, replicasText(s, statuses)]);
  return table(['ID', 'Name', 'Image', 'Replicas'], rows);
}

/** "RUNNING 28 seconds ago". */
export function lastStateText(t: Task, nowMs: number): string {
  return `${TaskState[t.status.state] ?? t.status.state} ${humanizeAge(t.status.timestamp, nowMs)}`;
}

/** Whether a task shows without `-a`: desired state RUNNING or below (or COMPLETE for jobs). */
export function isTaskShown(t: Task, all: boolean): boolean {
  return all || t.desiredState <= TaskState.RUNNING || t.desiredState === TaskState.COMPLETE;
}

/** The task table of `service inspect` / `node inspect` / `task inspect`: by slot, then newest first. */
export function renderTaskTable(tasks: Task[], nodes: ReadonlyMap<string, Node>, nowMs: number): string {
  const sorted = [...tasks].sort((a, b) => a.slot - b.slot || a.nodeId.localeCompare(b.nodeId) || b.status.timestamp - a.status.timestamp);
  const rows = sorted.map((t) => {
    const n = nodes.get(t.nodeId);
    return [
      t.id,
      t.serviceAnnotations.name,
      String(t.slot),
      t.spec.container.image,
      TaskState[t.desiredState] ?? String(t.desiredState),
      lastStateText(t, nowMs),
      n ? nodeName(n) : t.nodeId,
    ];
  });
  return table(['Task ID', 'Service', 'Slot', 'Image', 'Desired State', 'Last State', 'Node'], rows, TASK_TABLE_GAP_CHARS);
}

/** `task ls`: service shown as `name.slot` (`name.nodeId` for global tasks). */
export function renderTaskList(tasks: Task[], nodes: ReadonlyMap<string, Node>, nowMs: number): string {
  const label = (t: Task): string => `${t.serviceAnnotations.name}.${t.slot === 0 && t.nodeId !== '' ? t.nodeId : t.slot}`;
  const rows = [...tasks]
    .sort((a, b) => label(a).localeCompare(label(b), undefined, { numeric: true }) || b.status.timestamp - a.status.timestamp)
    .map((t) => {
      const n = nodes.get(t.nodeId);
      return [t.id, label(t), TaskState[t.desiredState] ?? '', lastStateText(t, nowMs), n ? nodeName(n) : t.nodeId];
    });
  return table(['ID', 'Service', 'Desired State', 'Last State', 'Node'], rows);
}

function cpus(nano: number): string {
  return String(nano / 1e9);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

/** The container template lines shared by service and task inspect (only what is set is shown). */
function templateLines(spec: Service['spec']['task']): KeyLine[] {
  const c = spec.container;
  const lines: KeyLine[] = [[' Container'], ['  Image', c.image]];
  if (c.command.length) lines.push(['  Command', c.command.join(' ')]);
  if (c.args.length) lines.push(['  Args', `[${c.args.join(', ')}]`]);
  if (c.env.length) lines.push(['  Env', `[${c.env.join(', ')}]`]);
  const { reservations: r, limits: l } = spec.resources;
  if (r.nanoCpus || r.memoryBytes || l.nanoCpus || l.memoryBytes) {
    lines.push([' Resources']);
    if (r.nanoCpus || r.memoryBytes) {
      lines.push(['  Reservations']);
      if (r.nanoCpus) lines.push(['   CPU', cpus(r.nanoCpus)]);
      if (r.memoryBytes) lines.push(['   Memory', bytes(r.memoryBytes)]);
    }
    if (l.nanoCpus || l.memoryBytes) {
      lines.push(['  Limits']);
      if (l.nanoCpus) lines.push(['   CPU', cpus(l.nanoCpus)]);
      if (l.memoryBytes) lines.push(['   Memory', bytes(l.memoryBytes)]);
    }
  }
  const p = spec.placement;
  if (p.constraints.length || p.maxReplicas) {
    lines.push([' Placement']);
    if (p.constraints.length) lines.push(['  Constraints', `[${p.constraints.join(', ')}]`]);
    if (p.maxReplicas) lines.push(['  Max Replicas Per Node', String(p.maxReplicas)]);
  }
  const rp = spec.restart;
  const dflt = rp.condition === RestartCondition.ANY && rp.delayMs === 5000 && rp.maxAttempts === 0 && rp.windowMs === 0;
  if (!dflt) {
    lines.push([' Restart Policy']);
    lines.push(['  Condition', (RestartCondition[rp.condition] ?? '').toLowerCase().replace('_', '-')]);
    lines.push(['  Delay', goDuration(rp.delayMs)]);
    if (rp.maxAttempts) lines.push(['  Max Attempts', String(rp.maxAttempts)]);
    if (rp.windowMs) lines.push(['  Window', goDuration(rp.windowMs)]);
  }
  return lines;
}

/** `service inspect`: key block, blank line, task table. */
export function renderServiceInspect(s: Service, replicas: string, tasks: Task[], nodes: ReadonlyMap<string, Node>, nowMs: number): string {
  const lines: KeyLine[] = [
    ['ID', s.id],
    ['Name', s.spec.annotations.name],
  ];
  const labels = Object.entries(s.spec.annotations.labels);
  if (labels.length) {
    lines.push(['Labels']);
    for (const [k, v] of labels) lines.push([` ${k}`, v]);
  }
  lines.push(['Replicas', replicas]);
  const us = s.updateStatus;
  if (us) {
    lines.push(['Update Status'], [' State', UpdateState[us.state] ?? String(us.state)]);
    if (us.startedAt) lines.push([' Started', humanizeAge(us.startedAt, nowMs)]);
    if (us.completedAt) lines.push([' Completed', humanizeAge(us.completedAt, nowMs)]);
    lines.push([' Message', us.message]);
  }
  lines.push(['Template'], ...templateLines(s.spec.task));
  return `${keyBlock(lines)}\n${renderTaskTable(tasks, nodes, nowMs)}`;
}

/** `cluster inspect`, as in the seed README. */
export function renderClusterInspect(c: Cluster): string {
  return (
    keyBlock([
      ['ID', c.id],
      ['Name', c.spec.annotations.name],
    ]) +
    [
      'Orchestration settings:',
      `  Task history entries: ${c.spec.orchestration.taskHistoryRetentionLimit}`,
      'Dispatcher settings:',
      `  Dispatcher heartbeat period: ${goDuration(c.spec.dispatcher.heartbeatPeriodMs)}`,
      'Certificate Authority settings:',
      `  Certificate Validity Duration: ${goDuration(c.spec.caConfig.nodeCertExpiryMs)}`,
      '  Join Tokens:',
      `    Worker: ${c.rootCA.joinTokens.worker}`,
      `    Manager: ${c.rootCA.joinTokens.manager}`,
    ].join('\n') +
    '\n'
  );
}

/** `cluster ls`. */
export function renderClusterList(clusters: Cluster[]): string {
  return table(['ID', 'Name'], [...clusters].sort((a, b) => a.id.localeCompare(b.id)).map((c) => [c.id, c.spec.annotations.name]));
}

/** `node inspect`: key block, blank line, the node's task table. */
export function renderNodeInspect(n: Node, tasks: Task[], nodes: ReadonlyMap<string, Node>, nowMs: number): string {
  const d = n.description;
  const lines: KeyLine[] = [['ID', n.id]];
  if (n.spec.annotations.name) lines.push(['Name', n.spec.annotations.name]);
  lines.push(['Hostname', d?.hostname ?? '']);
  const labels = Object.entries(n.spec.annotations.labels);
  if (labels.length) {
    lines.push(['Node Labels']);
    for (const [k, v] of labels) lines.push([` ${k}`, v]);
  }
  lines.push(
    ['Status'],
    [' State', NodeStatusState[n.status.state] ?? ''],
    [' Availability', NodeAvailability[n.spec.availability] ?? ''],
    [' Address', n.status.addr],
  );
  if (n.managerStatus) {
    lines.push(
      ['Manager status'],
      [' Address', n.managerStatus.addr],
      [' Raft Status', Reachability[n.managerStatus.reachability] ?? ''],
      [' Leader', n.managerStatus.leader ? 'yes' : 'no'],
    );
  }
  if (d) {
    lines.push(['Platform'], [' Operating System', d.platform.os], [' Architecture', d.platform.architecture]);
    lines.push(['Resources'], [' CPUs', cpus(d.resources.nanoCpus)], [' Memory', bytes(d.resources.memoryBytes)]);
    if (d.engine.plugins.length) {
      lines.push(['Plugins']);
      const byType = new Map<string, string[]>();
      for (const p of d.engine.plugins) byType.set(p.type, [...(byType.get(p.type) ?? []), p.name]);
      for (const [t, names] of [...byType].sort()) lines.push([`  ${t}`, `[${names.sort().join(', ')}]`]);
    }
    lines.push(['Engine Version', d.engine.engineVersion]);
    const el = Object.entries(d.engine.labels);
    if (el.length) {
      lines.push(['Engine Labels']);
      for (const [k, v] of el.sort()) lines.push([`  ${k}`, v]);
    }
    if (d.executor) lines.push(['Executor', d.executor]);
  }
  return `${keyBlock(lines)}\n${renderTaskTable(tasks, nodes, nowMs)}`;
}

/** `task inspect`: key block, then "===> Task Parents" with the other tasks of the same slot. */
export function renderTaskInspect(t: Task, parents: Task[], nodes: ReadonlyMap<string, Node>, nowMs: number): string {
  const n = nodes.get(t.nodeId);
  const lines: KeyLine[] = [
    ['ID', t.id],
    ['Slot', String(t.slot)],
    ['Service', t.serviceAnnotations.name],
    ['Status'],
    [' Desired State', TaskState[t.desiredState] ?? ''],
    [' Last State', TaskState[t.status.state] ?? ''],
    [' Timestamp', new Date(t.status.timestamp).toISOString()],
  ];
  if (t.status.message) lines.push([' Message', t.status.message]);
  if (t.status.err) lines.push([' Error', t.status.err]);
  if (t.status.container) {
    if (t.status.container.containerId) lines.push([' ContainerID', t.status.container.containerId]);
    if (t.status.container.pid) lines.push([' Pid', String(t.status.container.pid)]);
    if (t.status.state > TaskState.RUNNING) lines.push([' ExitCode', String(t.status.container.exitCode)]);
  }
  lines.push(['Node', n ? nodeName(n) : t.nodeId], ['Spec'], ...templateLines(t.spec));
  return `${keyBlock(lines)}\n===> Task Parents\n${renderTaskTable(parents, nodes, nowMs)}`;
}

/** `config ls`: newest first. */
export function renderConfigList(configs: Config[], nowMs: number): string {
  const rows = [...configs]
    .sort((a, b) => b.meta.createdAt - a.meta.createdAt || a.id.localeCompare(b.id))
    .map((c) => [c.id, c.spec.annotations.name, humanizeAge(c.meta.createdAt, nowMs)]);
  return table(['ID', 'Name', 'Created'], rows);
}

/** `config inspect` (the data itself is not printed; `--format json` has it). */
export function renderConfigInspect(c: Config, nowMs: number): string {
  const lines: KeyLine[] = [
    ['ID', c.id],
    ['Name', c.spec.annotations.name],
    ['Created', humanizeAge(c.meta.createdAt, nowMs)],
    ['Size', `${Buffer.byteLength(c.spec.data, 'utf8')}`],
  ];
  const labels = Object.entries(c.spec.annotations.labels);
  if (labels.length) {
    lines.push(['Labels']);
    for (const [k, v] of labels) lines.push([` ${k}`, v]);
  }
  return keyBlock(lines);
}
