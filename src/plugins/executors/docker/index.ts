/**
 * The `docker` executor (dockerode): one container per task, the default executor where a Docker engine
 * answers. The container is built from the task's container spec: image, command (→ Entrypoint), args (→ Cmd),
 * env, labels, hostname, working dir, user, tty, CPU and memory limits (resources.limits), stop signal and
 * stop timeout (grace period, rounded up to whole seconds as Docker counts it). Docker's own restart policy is
 * "no": swarmhost restarts tasks. Labels `com.swarmhost.task.id`, `.service.id`, `.node.id`, `.slot` tie the
 * container to its task, so an agent can find its containers (and orphans) with {@link DockerExecutor.listTaskContainers}.
 * The container is named `<service>.<slot>.<taskId>` (node id instead of slot 0).
 *
 * Errors: an image that is not present and cannot be pulled, or an invalid config, is an ExecutorFatalError
 * carrying the engine's message (the agent reports REJECTED); an unreachable or failing engine is temporary.
 * Every engine call is bounded (`callTimeoutMs`, `pullTimeoutMs`); `wait` is ended by its AbortSignal.
 */
import Docker from 'dockerode';
import { ExecutorFatalError, ExecutorTemporaryError, abortError, taskName } from '../../../host/agent/executor.js';
import type { Controller, ControllerInspect, Executor, ExitResult, LogLine, NodeDescriptionPart, TaskHandle } from '../../../host/agent/executor.js';
import type { Task } from '../../../host/api/objects.js';

/** Container label holding the task id. */
export const LABEL_TASK_ID = 'com.swarmhost.task.id';
/** Container label holding the service id. */
export const LABEL_SERVICE_ID = 'com.swarmhost.service.id';
/** Container label holding the node id. */
export const LABEL_NODE_ID = 'com.swarmhost.node.id';
/** Container label holding the slot number. */
export const LABEL_SLOT = 'com.swarmhost.slot';

/** Options of the docker executor. */
export interface DockerExecutorOptions {
  /** Engine connection; default: dockerode's defaults (DOCKER_HOST or /var/run/docker.sock). */
  docker?: Docker;
  /** Node id written into container labels (and used as "slot" for global tasks' names). */
  nodeId: string;
  /** Bound on ordinary engine calls, ms. Default 30000. */
  callTimeoutMs?: number;
  /** Bound on an image pull, ms. Default 300000. */
  pullTimeoutMs?: number;
}

/** A container the executor made, as listed by label. */
export interface TaskContainer {
  containerId: string;
  name: string;
  taskId: string;
  serviceId: string;
  nodeId: string;
  slot: number;
  /** Docker's state: created, running, exited, ... */
  state: string;
}

interface EngineError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
}

/** The engine's own text for an error (the JSON `message` when there is one). */
function engineMessage(err: unknown): string {
  const e = err as EngineError;
  const m = e?.json && typeof e.json === 'object' && e.json.message ? e.json.message : e?.message ?? String(err);
  return String(m).trim();
}

function status(err: unknown): number | undefined {
  return (err as EngineError)?.statusCode;
}

/** 4xx answers are the request's fault (fatal); everything else (5xx, socket errors, timeouts) may pass. */
function classify(err: unknown, what: string): Error {
  if (err instanceof ExecutorFatalError || err instanceof ExecutorTemporaryError) return err;
  const s = status(err);
  const msg = `docker executor: ${what}: ${engineMessage(err)}`;
  if (s !== undefined && s >= 400 && s < 500) return new ExecutorFatalError(msg);
  return new ExecutorTemporaryError(msg);
}

/** The calls whose dockerode typings omit the options argument dockerode accepts at runtime. */
interface LooseDocker {
  ping(opts: { abortSignal: AbortSignal }): Promise<unknown>;
  info(opts: { abortSignal: AbortSignal }): Promise<Record<string, unknown>>;
}

interface LooseLogs {
  logs(opts: { follow: boolean; stdout: boolean; stderr: boolean; timestamps: boolean; abortSignal: AbortSignal }): Promise<unknown>;
}

/** Rejects with a temporary error if `p` has not settled within `ms` (for calls that take no AbortSignal). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new ExecutorTemporaryError(`docker executor: ${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

function timeout(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

/** Executor running each task as a Docker container. */
export class DockerExecutor implements Executor {
  readonly name = 'docker';
  readonly docker: Docker;
  readonly nodeId: string;
  readonly callTimeoutMs: number;
  readonly pullTimeoutMs: number;

  constructor(opts: DockerExecutorOptions) {
    this.docker = opts.docker ?? new Docker();
    this.nodeId = opts.nodeId;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? 300_000;
  }

  /** True when a Docker engine answers `/_ping` within `timeoutMs` (default 2000 ms). */
  static async available(opts: { docker?: Docker; timeoutMs?: number } = {}): Promise<boolean> {
    const docker = opts.docker ?? new Docker();
    try {
      await (docker as unknown as LooseDocker).ping({ abortSignal: timeout(opts.timeoutMs ?? 2000) });
      return true;
    } catch {
      return false;
    }
  }

  async describe(): Promise<NodeDescriptionPart> {
    let info: Record<string, unknown>;
    try {
      info = await (this.docker as unknown as LooseDocker).info({ abortSignal: timeout(this.callTimeoutMs) });
    } catch (err) {
      throw classify(err, 'docker info');
    }
    const labels: Record<string, string> = {};
    for (const l of (info.Labels as string[] | null) ?? []) {
      const i = l.indexOf('=');
      if (i > 0) labels[l.slice(0, i)] = l.slice(i + 1);
      else labels[l] = '';
    }
    const plugins: { type: string; name: string }[] = [];
    const p = (info.Plugins ?? {}) as Record<string, string[] | null>;
    for (const [type, names] of Object.entries(p)) for (const name of names ?? []) plugins.push({ type, name });
    return {
      hostname: String(info.Name ?? ''),
      platform: { os: String(info.OSType ?? ''), architecture: String(info.Architecture ?? '') },
      resources: { nanoCpus: Number(info.NCPU ?? 0) * 1e9, memoryBytes: Number(info.MemTotal ?? 0) },
      engine: { engineVersion: String(info.ServerVersion ?? ''), labels, plugins },
    };
  }

  controller(task: Task): Controller {
    return new DockerController(this, task);
  }

  async recover(handle: TaskHandle, task: Task): Promise<Controller> {
    if (handle.executor !== 'docker') throw new ExecutorFatalError(`docker executor: cannot recover a ${handle.executor} handle`);
    const id = String(handle.data.containerId ?? '');
    if (!id) throw new ExecutorFatalError(`docker executor: handle of task ${handle.taskId} has no container id`);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect({ abortSignal: timeout(this.callTimeoutMs) });
    } catch (err) {
      if (status(err) === 404) throw new ExecutorFatalError(`docker executor: container ${id} of task ${task.id} is gone`);
      throw classify(err, `inspect ${id}`);
    }
    if (info.Config.Labels?.[LABEL_TASK_ID] !== task.id) {
      throw new ExecutorFatalError(`docker executor: container ${id} does not belong to task ${task.id}`);
    }
    return new DockerController(this, task, info.Id);
  }

  /** Containers made by swarmhost (optionally only those of `nodeId`), running or not: the agent's orphan scan. */
  async listTaskContainers(filter: { nodeId?: string } = {}): Promise<TaskContainer[]> {
    const label = [LABEL_TASK_ID];
    if (filter.nodeId) label.push(`${LABEL_NODE_ID}=${filter.nodeId}`);
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({ all: true, filters: { label }, abortSignal: timeout(this.callTimeoutMs) });
    } catch (err) {
      throw classify(err, 'list containers');
    }
    return list.map((c) => ({
      containerId: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      taskId: c.Labels[LABEL_TASK_ID] ?? '',
      serviceId: c.Labels[LABEL_SERVICE_ID] ?? '',
      nodeId: c.Labels[LABEL_NODE_ID] ?? '',
      slot: Number(c.Labels[LABEL_SLOT] ?? 0),
      state: c.State,
    }));
  }

  async close(): Promise<void> {}
}

class DockerController implements Controller {
  private readonly name: string;

  constructor(
    private readonly ex: DockerExecutor,
    private readonly task: Task,
    private containerId?: string,
  ) {
    this.name = taskName({ ...task, nodeId: task.nodeId || ex.nodeId });
  }

  private container(): Docker.Container {
    return this.ex.docker.getContainer(this.containerId ?? this.name);
  }

  private bound(): { abortSignal: AbortSignal } {
    return { abortSignal: timeout(this.ex.callTimeoutMs) };
  }

  /** Inspect, or undefined when the container does not exist. */
  private async inspectRaw(): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      const info = await this.container().inspect(this.bound());
      if (info.Config.Labels?.[LABEL_TASK_ID] !== this.task.id) {
        throw new ExecutorFatalError(`docker executor: a container named ${this.name} exists but belongs to another task`);
      }
      this.containerId = info.Id;
      return info;
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw classify(err, `inspect ${this.name}`);
    }
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await within(this.ex.docker.getImage(image).inspect(), this.ex.callTimeoutMs, `inspect image ${image}`);
      return;
    } catch (err) {
      if (status(err) !== 404) throw classify(err, `inspect image ${image}`);
    }
    try {
      const stream = (await this.ex.docker.pull(image, { abortSignal: timeout(this.ex.pullTimeoutMs) })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        this.ex.docker.modem.followProgress(stream, (err: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
          const failed = events?.find((e) => e.error || e.errorDetail);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
          else resolve();
        });
      });
    } catch (err) {
      throw new ExecutorFatalError(`docker executor: image ${image} is not present and could not be pulled: ${engineMessage(err)}`);
    }
  }

  private createOptions(): Docker.ContainerCreateOptions {
    const c = this.task.spec.container;
    const limits = this.task.spec.resources?.limits;
    const grace = c.stopGracePeriodMs > 0 ? c.stopGracePeriodMs : 10_000;
    const opts: Docker.ContainerCreateOptions = {
      name: this.name,
      Image: c.image,
      Env: [...(c.env ?? [])],
      Labels: {
        ...c.labels,
        [LABEL_TASK_ID]: this.task.id,
        [LABEL_SERVICE_ID]: this.task.serviceId,
        [LABEL_NODE_ID]: this.task.nodeId || this.ex.nodeId,
        [LABEL_SLOT]: String(this.task.slot),
      },
      Tty: !!c.tty,
      StopTimeout: Math.ceil(grace / 1000),
      HostConfig: { RestartPolicy: { Name: 'no' } },
    };
    if (c.command?.length) opts.Entrypoint = [...c.command];
    if (c.args?.length) opts.Cmd = [...c.args];
    if (c.hostname) opts.Hostname = c.hostname;
    if (c.dir) opts.WorkingDir = c.dir;
    if (c.user) opts.User = c.user;
    if (c.stopSignal) opts.StopSignal = c.stopSignal;
    if (limits?.nanoCpus) opts.HostConfig!.NanoCpus = limits.nanoCpus;
    if (limits?.memoryBytes) opts.HostConfig!.Memory = limits.memoryBytes;
    return opts;
  }

  async prepare(): Promise<void> {
    if (await this.inspectRaw()) return;
    const image = this.task.spec.container.image;
    if (!image) throw new ExecutorFatalError('docker executor: task has no image');
    await this.ensureImage(image);
    try {
      const created = await this.ex.docker.createContainer({ ...this.createOptions(), ...this.bound() });
      this.containerId = created.id;
    } catch (err) {
      if (status(err) === 409 && (await this.inspectRaw())) return; // created concurrently by an earlier attempt
      throw classify(err, `create container ${this.name}`);
    }
  }

  async start(): Promise<void> {
    const info = await this.inspectRaw();
    if (!info) throw new ExecutorFatalError(`docker executor: container ${this.name} does not exist (not prepared or removed)`);
    // Running, or ran already (an agent restart between start and report): never start a second time.
    if (info.State.Running || (info.State.StartedAt && !info.State.StartedAt.startsWith('0001-'))) return;
    try {
      await this.container().start(this.bound());
    } catch (err) {
      if (status(err) === 304) return;
      const s = status(err);
      // The engine answers 500 for "executable file not found" and the like: no retry can fix it.
      if (s !== undefined && s >= 400) throw new ExecutorFatalError(`docker executor: start ${this.name}: ${engineMessage(err)}`);
      throw classify(err, `start ${this.name}`);
    }
  }

  async wait(signal?: AbortSignal): Promise<ExitResult> {
    if (signal?.aborted) throw abortError();
    let code: number;
    try {
      const r = (await this.container().wait({ condition: 'not-running', abortSignal: signal })) as { StatusCode: number };
      code = r.StatusCode;
    } catch (err) {
      if (signal?.aborted) throw abortError();
      if (status(err) === 404) throw new ExecutorFatalError(`docker executor: container ${this.name} disappeared`);
      throw classify(err, `wait ${this.name}`);
    }
    const info = await this.inspectRaw();
    return { exitCode: code, oomKilled: info?.State.OOMKilled ?? false, message: info?.State.Error ?? '' };
  }

  private async waitNotRunning(ms: number): Promise<void> {
    try {
      await this.container().wait({ condition: 'not-running', abortSignal: timeout(ms) });
    } catch (err) {
      if (status(err) === 404) return;
      throw classify(err, `wait for ${this.name} to stop`);
    }
  }

  async shutdown(graceMs: number): Promise<void> {
    const info = await this.inspectRaw();
    if (!info || !info.State.Running) return;
    const t = Math.ceil(graceMs / 1000);
    try {
      await this.container().stop({ t, abortSignal: timeout(t * 1000 + this.ex.callTimeoutMs) });
    } catch (err) {
      if (status(err) === 304 || status(err) === 404) return;
      throw classify(err, `stop ${this.name}`);
    }
  }

  async terminate(): Promise<void> {
    const info = await this.inspectRaw();
    if (!info || !info.State.Running) return;
    try {
      await this.container().kill(this.bound());
    } catch (err) {
      if (status(err) === 404 || status(err) === 409) return; // gone, or no longer running
      throw classify(err, `kill ${this.name}`);
    }
    await this.waitNotRunning(this.ex.callTimeoutMs);
  }

  async remove(): Promise<void> {
    try {
      await this.container().remove({ force: true, v: true, ...this.bound() });
    } catch (err) {
      if (status(err) === 404) return;
      if (status(err) === 409 && /already in progress/.test(engineMessage(err))) return;
      throw classify(err, `remove ${this.name}`);
    }
  }

  async inspect(): Promise<ControllerInspect> {
    const info = await this.inspectRaw();
    if (!info) return { running: false };
    const r: ControllerInspect = { running: info.State.Running, pid: info.State.Pid, containerId: info.Id };
    if (!info.State.Running && !info.State.StartedAt.startsWith('0001-')) r.exitCode = info.State.ExitCode;
    return r;
  }

  handle(): TaskHandle {
    return { executor: 'docker', taskId: this.task.id, data: { containerId: this.containerId ?? null, name: this.name } };
  }

  async *logs(opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const tty = !!this.task.spec.container.tty;
    let source: AsyncIterable<Buffer>;
    try {
      const res = (await (this.container() as unknown as LooseLogs).logs({ follow: opts.follow, stdout: true, stderr: true, timestamps: true, abortSignal: opts.signal })) as unknown;
      source = Buffer.isBuffer(res) ? (async function* () { yield res; })() : (res as AsyncIterable<Buffer>);
    } catch (err) {
      if (opts.signal.aborted) return;
      throw classify(err, `logs ${this.name}`);
    }
    let pending = Buffer.alloc(0);
    const partial = { stdout: '', stderr: '' };
    const toLines = function* (stream: 'stdout' | 'stderr', text: string): Generator<LogLine> {
      const parts = (partial[stream] + text).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const p of parts) {
        const sp = p.indexOf(' ');
        const time = Date.parse(p.slice(0, sp));
        yield { stream, line: p.slice(sp + 1), time: Number.isNaN(time) ? 0 : time };
      }
    };
    try {
      for await (const chunk of source) {
        if (tty) {
          yield* toLines('stdout', chunk.toString('utf8'));
          continue;
        }
        // Multiplexed stream: 8-byte header (stream type, 3 zero bytes, big-endian length), then the payload.
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 8) {
          const len = pending.readUInt32BE(4);
          if (pending.length < 8 + len) break;
          const stream = pending[0] === 2 ? 'stderr' : 'stdout';
          yield* toLines(stream, pending.subarray(8, 8 + len).toString('utf8'));
          pending = pending.subarray(8 + len);
        }
      }
    } catch (err) {
      if (!opts.signal.aborted) throw classify(err, `logs ${this.name}`);
    }
  }
}
