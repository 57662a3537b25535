/**
 * `swarmctl service logs`: how a manager reads the output of tasks that run on other nodes.
 *
 *   swarmctl ──control socket──► any manager ──forward──► leader: TaskLogs{serviceId, cursors}
 *        leader ──HTTPS, mutual TLS (cluster CA)──► each task's node: POST /v1/task-logs {task, skip}
 *        node: executor.controller(task).logs({follow:false}) → the lines after the cursor
 *
 * Agents only dial managers, so a node that runs tasks also runs a small log server (TaskLogServer) on an
 * ephemeral port of its advertise host and publishes its address in its node description, as the engine label
 * `swarmhost.logs-addr`. The server answers only managers of its own cluster (client certificate with the
 * manager OU and the same cluster id); the leader checks that the answering certificate is the node the task is
 * on. Follow mode (`-f`) is polling: swarmctl repeats TaskLogs with the cursors of the previous answer. A cursor
 * counts lines per stream, so stdout and stderr advance independently.
 */
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '../api/errors.js';
import { NodeRole, type Node, type Service, type Task } from '../api/objects.js';
import type { Executor, LogLine } from '../agent/index.js';
import { parseNodeIdentity, type NodeTlsMaterial } from '../ca/index.js';
import type { Logger } from './logger.js';
import type { Manager } from './manager.js';
import { parseListenAddr } from './metrics.js';

/** Engine label under which a node publishes the host:port of its log server. */
export const LOGS_ADDR_LABEL = 'swarmhost.logs-addr';
/** Most lines one TaskLogs answer carries per task; the rest come with the next call. */
export const MAX_LOG_LINES_PER_TASK = 1_000;
/** Bound on one node's answer (read the task's logs, send them), ms. */
export const TASK_LOGS_CALL_TIMEOUT_MS = 10_000;
/** Bound on a log request body, bytes (it carries one Task object). */
export const MAX_LOG_REQUEST_BYTES = 1024 * 1024;

/** Lines already delivered, per stream. */
export interface LogCursor {
  stdout: number;
  stderr: number;
}

/** What a node's log server is asked. */
export interface NodeLogRequest {
  task: Task;
  skip: LogCursor;
  maxLines: number;
}

/** What it answers: the lines after the cursor, and whether more are waiting. */
export interface NodeLogResponse {
  lines: LogLine[];
  more: boolean;
}

/** TaskLogs (control API method handled by the node layer): the request. */
export interface TaskLogsRequest {
  serviceId: string;
  /** Cursor per task id from the previous answer (absent = from the start). */
  cursors?: Record<string, LogCursor>;
  /** Default and ceiling: MAX_LOG_LINES_PER_TASK. */
  maxLinesPerTask?: number;
}

/** One task's part of a TaskLogs answer. */
export interface TaskLogsChunk {
  taskId: string;
  slot: number;
  nodeId: string;
  /** Node hostname (or id when unknown). */
  nodeName: string;
  lines: LogLine[];
  cursor: LogCursor;
  more: boolean;
  /** Why the lines could not be read (node unreachable, no log server, ...); the other tasks still answer. */
  error?: string;
}

/** TaskLogs answer. */
export interface TaskLogsResponse {
  serviceName: string;
  tasks: TaskLogsChunk[];
}

// ---------------------------------------------------------------------------------------------- node side

/** Reads one task's lines after `skip` from the executor. */
export async function readTaskLogs(executor: Executor, req: NodeLogRequest, signal: AbortSignal): Promise<NodeLogResponse> {
  const c = executor.controller(req.task);
  if (c.logs === undefined) throw new InvalidArgumentError(`executor ${executor.name} cannot read task logs`);
  const seen = { stdout: 0, stderr: 0 };
  const lines: LogLine[] = [];
  let more = false;
  for await (const l of c.logs({ follow: false, signal })) {
    seen[l.stream]++;
    if (seen[l.stream] <= req.skip[l.stream]) continue;
    if (lines.length >= req.maxLines) {
      more = true;
      break;
    }
    lines.push(l);
  }
  return { lines, more };
}

function checkLogRequest(v: unknown): NodeLogRequest {
  const r = v as Partial<NodeLogRequest> | null;
  if (r === null || typeof r !== 'object') throw new InvalidArgumentError('task logs request: body must be a JSON object');
  if (typeof r.task !== 'object' || r.task === null || typeof r.task.id !== 'string') throw new InvalidArgumentError('task logs request: task must be a Task object');
  const skip = r.skip ?? { stdout: 0, stderr: 0 };
  for (const k of ['stdout', 'stderr'] as const) {
    if (!Number.isSafeInteger(skip[k]) || skip[k] < 0) throw new InvalidArgumentError(`task logs request: skip.${k} must be a non-negative integer`);
  }
  const maxLines = r.maxLines ?? MAX_LOG_LINES_PER_TASK;
  if (!Number.isSafeInteger(maxLines) || maxLines < 1 || maxLines > MAX_LOG_LINES_PER_TASK) {
    throw new InvalidArgumentError(`task logs request: maxLines must be 1..${MAX_LOG_LINES_PER_TASK}`);
  }
  return { task: r.task as Task, skip, maxLines };
}

/** Options of a {@link TaskLogServer}. */
export interface TaskLogServerOptions {
  executor: Executor;
  /** This node's certificate, key and the cluster root (read per connection, so a renewal takes effect). */
  material: () => NodeTlsMaterial;
  /** host:port to listen on (port 0 = any free port). */
  listen: string;
  logger: Logger;
}

/** A node's log server (see the file comment). */
export class TaskLogServer {
  private server: Server | undefined;
  private pem = '';
  /** host:port bound (valid after start). */
  addr = '';

  constructor(private readonly o: TaskLogServerOptions) {}

  async start(): Promise<void> {
    const { host, port } = parseListenAddr(this.o.listen, '--listen-logs-api');
    const m = this.o.material();
    this.pem = m.certPem;
    const clusterId = parseNodeIdentity(m.certPem).clusterId;
    const server = createServer({ cert: m.certPem, key: m.keyPem, ca: m.rootPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => {
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      void (async () => {
        try {
          const peer = (req.socket as TLSSocket).getPeerX509Certificate();
          const id = peer ? parseNodeIdentity(peer) : undefined;
          if (id === undefined || id.role !== NodeRole.MANAGER || id.clusterId !== clusterId) {
            throw new PermissionDeniedError('task logs: only managers of this cluster may read task logs');
          }
          if (req.method !== 'POST' || req.url !== '/v1/task-logs') throw new NotFoundError(`task logs: no ${req.method} ${req.url}`);
          const chunks: Buffer[] = [];
          let size = 0;
          for await (const c of req) {
            size += (c as Buffer).length;
            if (size > MAX_LOG_REQUEST_BYTES) throw new InvalidArgumentError(`task logs request: body exceeds ${MAX_LOG_REQUEST_BYTES} bytes`);
            chunks.push(c as Buffer);
          }
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            throw new InvalidArgumentError('task logs request: body is not JSON');
          }
          const ac = new AbortController();
          const t = setTimeout(() => ac.abort(), TASK_LOGS_CALL_TIMEOUT_MS);
          try {
            reply(200, await readTaskLogs(this.o.executor, checkLogRequest(body), ac.signal));
          } finally {
            clearTimeout(t);
          }
        } catch (e) {
          const status = e instanceof PermissionDeniedError ? 403 : e instanceof NotFoundError ? 404 : e instanceof InvalidArgumentError ? 400 : 500;
          reply(status, { error: e instanceof Error ? e.message : String(e) });
        }
      })();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address();
    this.addr = `${host}:${typeof a === 'object' && a !== null ? a.port : port}`;
    this.server = server;
  }

  /** Picks up renewed node certificates (call after a renewal; cheap when nothing changed). */
  refreshTls(): void {
    const m = this.o.material();
    if (this.server === undefined || m.certPem === this.pem) return;
    this.pem = m.certPem;
    this.server.setSecureContext({ cert: m.certPem, key: m.keyPem, ca: m.rootPem });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

// ---------------------------------------------------------------------------------------------- leader side

/** POSTs one request to a node's log server; the answering certificate must be `nodeId`'s. */
export function fetchNodeLogs(addr: string, nodeId: string, m: NodeTlsMaterial, body: NodeLogRequest): Promise<NodeLogResponse> {
  const { host, port } = parseListenAddr(addr, LOGS_ADDR_LABEL);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        method: 'POST',
        path: '/v1/task-logs',
        cert: m.certPem,
        key: m.keyPem,
        ca: m.rootPem,
        // Chain verification stays on; the name check is the node-id check below (certificates carry ids).
        checkServerIdentity: () => undefined,
        timeout: TASK_LOGS_CALL_TIMEOUT_MS,
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate();
        let peerId = '';
        try {
          peerId = peer ? parseNodeIdentity(peer).nodeId : '';
        } catch {
          peerId = '';
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          if (peerId !== nodeId) return reject(new PermissionDeniedError(`log server at ${addr} is node ${peerId || '?'}, not ${nodeId}`));
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new Error(`log server at ${addr}: answer is not JSON`));
          }
          if (res.statusCode !== 200) return reject(new Error(`log server at ${addr}: ${(parsed as { error?: string }).error ?? `HTTP ${res.statusCode}`}`));
          resolve(parsed as NodeLogResponse);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`log server at ${addr}: no answer within ${TASK_LOGS_CALL_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Tasks whose logs are shown: placed on a node, oldest slot first, then by creation. */
function taskOrder(a: Task, b: Task): number {
  return a.slot - b.slot || a.meta.createdAt - b.meta.createdAt || a.id.localeCompare(b.id);
}

/**
 * TaskLogs on the leader: for every task of the service that was placed on a node, asks that node's log
 * server for the lines after the caller's cursor (in parallel, each bounded by TASK_LOGS_CALL_TIMEOUT_MS).
 */
export async function taskLogs(manager: Manager, material: NodeTlsMaterial, raw: unknown): Promise<TaskLogsResponse> {
  const req = (raw ?? {}) as Partial<TaskLogsRequest>;
  if (typeof req.serviceId !== 'string' || req.serviceId === '') throw new InvalidArgumentError('TaskLogs: serviceId must be a non-empty string');
  const maxLines = req.maxLinesPerTask ?? MAX_LOG_LINES_PER_TASK;
  if (!Number.isSafeInteger(maxLines) || maxLines < 1 || maxLines > MAX_LOG_LINES_PER_TASK) {
    throw new InvalidArgumentError(`TaskLogs: maxLinesPerTask must be 1..${MAX_LOG_LINES_PER_TASK}`);
  }
  const { service, tasks, nodes } = manager.store.view((tx) => ({
    service: tx.get('services', req.serviceId!) as Service | undefined,
    tasks: (tx.find('tasks', { serviceId: req.serviceId! }) as Task[]).filter((t) => t.nodeId !== ''),
    nodes: new Map((tx.list('nodes') as Node[]).map((n) => [n.id, n])),
  }));
  if (service === undefined) throw new NotFoundError(`service ${req.serviceId} not found`);
  tasks.sort(taskOrder);
  const chunks = await Promise.all(
    tasks.map(async (t): Promise<TaskLogsChunk> => {
      const node = nodes.get(t.nodeId);
      const cursor: LogCursor = { ...{ stdout: 0, stderr: 0 }, ...req.cursors?.[t.id] };
      const base = { taskId: t.id, slot: t.slot, nodeId: t.nodeId, nodeName: node?.description?.hostname || t.nodeId };
      const addr = node?.description?.engine.labels[LOGS_ADDR_LABEL];
      if (addr === undefined || addr === '') {
        return { ...base, lines: [], cursor, more: false, error: `node ${base.nodeName} publishes no log server` };
      }
      try {
        const res = await fetchNodeLogs(addr, t.nodeId, material, { task: t, skip: cursor, maxLines });
        const next = { ...cursor };
        for (const l of res.lines) next[l.stream]++;
        return { ...base, lines: res.lines, cursor: next, more: res.more };
      } catch (e) {
        return { ...base, lines: [], cursor, more: false, error: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  return { serviceName: service.spec.annotations.name, tasks: chunks };
}
