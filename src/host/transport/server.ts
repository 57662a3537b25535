/**
 * The gRPC server of a node: registers service handlers behind per-RPC authorization (auth.ts) and error
 * mapping (status.ts). Handlers are plain async functions (unary) or async iterables (server streams) that
 * receive a {@link CallContext} with the caller's identity; they never see grpc-js objects.
 */
import * as grpc from '@grpc/grpc-js';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Code, InvalidArgumentError, ResourceExhaustedError, SwarmError } from '../api/errors.js';
import { RealTimers, type Timers } from '../env/index.js';
import {
  authorize,
  AuthRefusal,
  FORWARDED_ADDR,
  FORWARDED_CN,
  FORWARDED_ORG,
  FORWARDED_OU,
  type AuthPolicyContext,
  type CertSubject,
  type ForwardedIdentity,
  type PeerIdentity,
} from './auth.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  ControlRequest,
  ControlResponse,
  ControlStreamRequest,
  ControlStreamResponse,
  GetRootCACertificateRequest,
  GetRootCACertificateResponse,
  GetUnlockKeyRequest,
  GetUnlockKeyResponse,
  HealthCheckRequest,
  HealthCheckResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  IssueNodeCertificateRequest,
  IssueNodeCertificateResponse,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  LeaveResponse,
  NodeCertificateStatusRequest,
  NodeCertificateStatusResponse,
  ProcessRaftMessageRequest,
  ResolveAddressRequest,
  ResolveAddressResponse,
  ServingStatus,
  SessionMessage,
  SessionRequest,
  StreamRaftMessageRequest,
  RaftStreamAck,
  RaftStreamRequest,
  RaftStreamResponse,
  UpdateTaskStatusRequest,
  UpdateTaskStatusResponse,
} from './messages.js';
import { serviceDefinition, type ServiceName } from './proto.js';
import { statusFromError, type GrpcStatus } from './status.js';
import { CONTROL_CALL_PATH, ControlStreamSession, DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT } from './control-stream.js';
import type { ServerTlsIdentity } from './tls.js';

/** Largest single gRPC message accepted or sent, in bytes (SwarmKit's raft gRPC limit: 4 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/**
 * Largest message between swarm components, bytes: the managers' remote API and control socket and every client
 * of theirs (swarmctl, managers forwarding control calls, agents). A list of 10,000 tasks is about 11 MB of JSON,
 * and a node's COMPLETE assignment set grows with the tasks it holds: 4 MiB would make both fail.
 */
export const SWARM_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
/** Largest raft message reassembled from StreamRaftMessage chunks, in bytes. */
export const DEFAULT_MAX_STREAMED_MESSAGE_BYTES = 512 * 1024 * 1024;
/** How long close() lets calls in flight finish before cutting them, in ms. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;

/** Structured logger (pino-compatible subset). Refusals are logged at warn with the peer's identity. */
export interface TransportLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What a handler knows about its call. */
export interface CallContext {
  /** gRPC method path. */
  path: string;
  /**
   * The authorized caller: the certificate's identity, or the original caller's for a forwarded call (with
   * `forwardedBy` set). Null for an open (CA) method called without a usable certificate, and on the
   * local control socket.
   */
  peer: PeerIdentity | null;
  /** True on the local control socket (trusted as the local manager; no TLS, no certificate). */
  local: boolean;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
}

/** Raft transport handlers (managers only). */
export interface RaftHandlers {
  /** One encoded raft message, from ProcessRaftMessage or reassembled from StreamRaftMessage chunks. */
  processRaftMessage(message: Buffer, ctx: CallContext): Promise<void>;
  resolveAddress(req: ResolveAddressRequest, ctx: CallContext): Promise<ResolveAddressResponse>;
}
/** Raft membership handlers (managers only). */
export interface RaftMembershipHandlers {
  join(req: JoinRequest, ctx: CallContext): Promise<JoinResponse>;
  leave(req: LeaveRequest, ctx: CallContext): Promise<LeaveResponse>;
}
/** CA service handlers (root fetch open; unlock key managers only). */
export interface CAHandlers {
  getRootCACertificate(req: GetRootCACertificateRequest, ctx: CallContext): Promise<GetRootCACertificateResponse>;
  getUnlockKey(req: GetUnlockKeyRequest, ctx: CallContext): Promise<GetUnlockKeyResponse>;
}
/** Node CA handlers (open: a joining node has no certificate yet). */
export interface NodeCAHandlers {
  issueNodeCertificate(req: IssueNodeCertificateRequest, ctx: CallContext): Promise<IssueNodeCertificateResponse>;
  nodeCertificateStatus(req: NodeCertificateStatusRequest, ctx: CallContext): Promise<NodeCertificateStatusResponse>;
}
/**
 * Dispatcher handlers (workers and managers). Streams end when the iterable ends; throwing ends them with a
 * status. A stream handler that waits between messages must also watch `ctx.signal`: when the client goes
 * away, the server stops pulling and calls `return()` on the iterator, which an async generator only honours
 * at its next `yield`.
 */
export interface DispatcherHandlers {
  session(req: SessionRequest, ctx: CallContext): AsyncIterable<SessionMessage>;
  heartbeat(req: HeartbeatRequest, ctx: CallContext): Promise<HeartbeatResponse>;
  updateTaskStatus(req: UpdateTaskStatusRequest, ctx: CallContext): Promise<UpdateTaskStatusResponse>;
  assignments(req: AssignmentsRequest, ctx: CallContext): AsyncIterable<AssignmentsMessage>;
}
/** Control API handler: one generic call (method name + JSON). */
export interface ControlHandlers {
  call(req: ControlRequest, ctx: CallContext): Promise<ControlResponse>;
}

/** Serving states of the grpc.health.v1 service, settable at run time (e.g. "Raft" once raft runs). */
export class HealthStatus {
  private readonly states = new Map<string, ServingStatus>([['', 'SERVING']]);
  /** Sets the state of `service` ("" = the whole server). */
  set(service: string, status: ServingStatus): void {
    this.states.set(service, status);
  }
  /** grpc.health.v1 Check semantics: an unknown service is NOT_FOUND. */
  async check(req: HealthCheckRequest): Promise<HealthCheckResponse> {
    const s = this.states.get(req.service);
    if (s === undefined) throw new SwarmError(Code.NOT_FOUND, `unknown service ${JSON.stringify(req.service)}`);
    return { status: s };
  }
}

/** How a server authenticates callers. */
export type ServerSecurity =
  /** Remote API: TLS with client certificates requested, per-RPC authorization. */
  | { kind: 'mtls'; identity: ServerTlsIdentity; clusterId: string; isRemoved(nodeId: string): boolean }
  /** Local control socket: no TLS, every caller trusted as the local manager (the socket is mode 0600). */
  | { kind: 'local' };

/** Construction options of {@link TransportServer}. */
export interface TransportServerOptions {
  security: ServerSecurity;
  logger: TransportLogger;
  /** Largest single gRPC message, bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Largest message reassembled from StreamRaftMessage chunks, bytes (default 512 MiB). */
  maxStreamedMessageBytes?: number;
  /** Grace for calls in flight on close(), ms (default 2000). */
  shutdownGraceMs?: number;
  /** Timers for the shutdown grace and control-stream request deadlines (default: real timers). */
  timers?: Timers;
  /** Requests outstanding per control stream before RESOURCE_EXHAUSTED, requests (default 4096). */
  maxControlStreamInFlight?: number;
}

/** What authorization reads from any kind of server call. */
interface AnyCall {
  on(event: 'cancelled', listener: () => void): unknown;
  getAuthContext(): { sslPeerCertificate?: { subject: unknown } };
  getPeer(): string;
  readonly metadata: grpc.Metadata;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${name}: must be a positive integer, got ${v}`);
  return v;
}

function first(md: grpc.Metadata, key: string): string | null {
  const v = md.get(key)[0];
  return v === undefined ? null : typeof v === 'string' ? v : v.toString('utf8');
}

/**
 * A call's context. The AbortSignal is made only when a handler asks for it: grpc-js reports 'cancelled'
 * after many ordinary completions too, and a signal (with its reason) per call is measurable on the hot path.
 */
class LiveCallContext implements CallContext {
  private controller: AbortController | null = null;
  private cancelled = false;

  constructor(
    call: AnyCall,
    readonly path: string,
    readonly peer: PeerIdentity | null,
    readonly local: boolean,
  ) {
    call.on('cancelled', () => {
      this.cancelled = true;
      this.controller?.abort(new SwarmError(Code.CANCELLED, 'call cancelled'));
    });
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(new SwarmError(Code.CANCELLED, 'call cancelled'));
    }
    return this.controller.signal;
  }
}

/** A gRPC server for one listening address (remote API over mTLS, or the local control socket). */
export class TransportServer {
  private readonly server: grpc.Server;
  private readonly maxStreamedMessageBytes: number;
  private readonly shutdownGraceMs: number;
  private readonly timers: Timers;
  private readonly policyCtx: AuthPolicyContext | null;
  private readonly maxMessageBytes: number;
  private readonly maxControlStreamInFlight: number;
  private readonly controlSessions = new Set<ControlStreamSession>();
  /** Enders of the open Raft/MessageStream calls (close() ends them at once). */
  private readonly raftStreams = new Set<() => void>();
  private unixPath: string | null = null;
  /** The grpc.health.v1 states served by {@link addHealth}. */
  readonly health = new HealthStatus();

  constructor(private readonly opts: TransportServerOptions) {
    const maxMessageBytes = positiveInt('maxMessageBytes', opts.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    this.maxMessageBytes = maxMessageBytes;
    this.maxControlStreamInFlight = positiveInt(
      'maxControlStreamInFlight',
      opts.maxControlStreamInFlight,
      DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT,
    );
    this.maxStreamedMessageBytes = positiveInt(
      'maxStreamedMessageBytes',
      opts.maxStreamedMessageBytes,
      DEFAULT_MAX_STREAMED_MESSAGE_BYTES,
    );
    this.shutdownGraceMs = positiveInt('shutdownGraceMs', opts.shutdownGraceMs, DEFAULT_SHUTDOWN_GRACE_MS);
    this.timers = opts.timers ?? new RealTimers();
    const sec = opts.security;
    this.policyCtx = sec.kind === 'mtls' ? { clusterId: sec.clusterId, isRemoved: (id) => sec.isRemoved(id) } : null;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      // channelz is a debugging registry that records every call; we do not expose it, so skip its cost.
      'grpc.enable_channelz': 0,
    });
  }

  /** Serves Raft (ProcessRaftMessage, StreamRaftMessage, ResolveAddress). */
  addRaft(h: RaftHandlers): void {
    this.add('swarmhost.api.Raft', {
      ProcessRaftMessage: this.unary<ProcessRaftMessageRequest, object>(async (req, ctx) => {
        await h.processRaftMessage(req.message, ctx);
        return {};
      }),
      StreamRaftMessage: this.streamedRaftMessage(h),
      MessageStream: this.raftMessageStream(h),
      ResolveAddress: this.unary(h.resolveAddress.bind(h)),
    });
  }

  /** Serves RaftMembership (Join, Leave). */
  addRaftMembership(h: RaftMembershipHandlers): void {
    this.add('swarmhost.api.RaftMembership', {
      Join: this.unary(h.join.bind(h)),
      Leave: this.unary(h.leave.bind(h)),
    });
  }

  /** Serves CA (GetRootCACertificate, GetUnlockKey). */
  addCA(h: CAHandlers): void {
    this.add('swarmhost.api.CA', {
      GetRootCACertificate: this.unary(h.getRootCACertificate.bind(h)),
      GetUnlockKey: this.unary(h.getUnlockKey.bind(h)),
    });
  }

  /** Serves NodeCA (IssueNodeCertificate, NodeCertificateStatus). */
  addNodeCA(h: NodeCAHandlers): void {
    this.add('swarmhost.api.NodeCA', {
      IssueNodeCertificate: this.unary(h.issueNodeCertificate.bind(h)),
      NodeCertificateStatus: this.unary(h.nodeCertificateStatus.bind(h)),
    });
  }

  /** Serves Dispatcher (Session and Assignments streams, Heartbeat, UpdateTaskStatus). */
  addDispatcher(h: DispatcherHandlers): void {
    this.add('swarmhost.api.Dispatcher', {
      Session: this.serverStream(h.session.bind(h)),
      Heartbeat: this.unary(h.heartbeat.bind(h)),
      UpdateTaskStatus: this.unary(h.updateTaskStatus.bind(h)),
      Assignments: this.serverStream(h.assignments.bind(h)),
    });
  }

  /**
   * Serves the control API: the unary Call, and Stream, which carries many calls on one bidi stream (each
   * authorized, handled and answered exactly as a Call; see control-stream.ts).
   */
  addControl(h: ControlHandlers): void {
    this.add('swarmhost.api.Control', { Call: this.unary(h.call.bind(h)), Stream: this.controlStream(h) });
  }

  /** Serves grpc.health.v1.Health/Check from {@link health}. */
  addHealth(): void {
    this.add('grpc.health.v1.Health', { Check: this.unary((req: HealthCheckRequest) => this.health.check(req)) });
  }

  /**
   * Binds a TCP address ("127.0.0.1:0", "0.0.0.0:4242"); returns the bound port. Requires mtls security:
   * the remote API never runs without TLS.
   */
  async listen(address: string): Promise<number> {
    if (this.opts.security.kind !== 'mtls') {
      throw new InvalidArgumentError('listen: a TCP address needs mtls security; use listenUnix for the local socket');
    }
    return this.bind(address, this.opts.security.identity.serverCredentials());
  }

  /**
   * Binds the local control socket at `path`: creates its directory with mode 0700 if missing, removes a
   * stale socket file, binds, then sets the socket file's mode to 0600 (owner only). Requires local security.
   */
  async listenUnix(path: string): Promise<void> {
    if (this.opts.security.kind !== 'local') {
      throw new InvalidArgumentError('listenUnix: the control socket uses local security (no TLS)');
    }
    if (!path.startsWith('/')) throw new InvalidArgumentError(`listenUnix: path must be absolute, got ${path}`);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const existing = await stat(path).catch(() => null);
    if (existing !== null) {
      if (!existing.isSocket()) throw new InvalidArgumentError(`listenUnix: ${path} exists and is not a socket`);
      await rm(path);
    }
    await this.bind(`unix://${path}`, grpc.ServerCredentials.createInsecure());
    await chmod(path, 0o600);
    this.unixPath = path;
  }

  /**
   * Stops accepting calls; lets calls in flight finish for shutdownGraceMs, then cuts them. Control streams
   * refuse new requests (UNAVAILABLE) and end once their outstanding requests are answered.
   */
  async close(): Promise<void> {
    for (const s of [...this.controlSessions]) s.drain();
    // Raft streams end at once: their messages not yet acknowledged fail UNAVAILABLE on the peer, which resends.
    for (const end of [...this.raftStreams]) end();
    await new Promise<void>((resolve) => {
      const t = this.timers.setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, this.shutdownGraceMs);
      this.server.tryShutdown(() => {
        this.timers.clearTimeout(t);
        resolve();
      });
    });
    if (this.unixPath !== null) await rm(this.unixPath, { force: true });
  }

  private bind(address: string, creds: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  private add(service: ServiceName, impl: grpc.UntypedServiceImplementation): void {
    this.server.addService(serviceDefinition(service), impl);
  }

  /** Authorizes the call; on refusal logs it with the peer's identity and returns the status to send. */
  private context(call: AnyCall, path: string): CallContext | { refused: grpc.StatusObject } {
    if (this.policyCtx === null) return new LiveCallContext(call, path, null, true);
    const subject = peerSubject(call);
    const cn = first(call.metadata, FORWARDED_CN);
    const forwarded: ForwardedIdentity | null =
      cn === null
        ? null
        : {
            cn,
            ou: first(call.metadata, FORWARDED_OU) ?? '',
            org: first(call.metadata, FORWARDED_ORG) ?? '',
            addr: first(call.metadata, FORWARDED_ADDR) ?? '',
          };
    const peerAddr = call.getPeer();
    try {
      const peer = authorize({ path, subject, peerAddr, forwarded }, this.policyCtx);
      return new LiveCallContext(call, path, peer, false);
    } catch (err) {
      if (!(err instanceof AuthRefusal)) throw err;
      this.logRefusal(path, err, peerAddr);
      return { refused: { code: err.code as number as grpc.status, details: err.message, metadata: new grpc.Metadata() } };
    }
  }

  /** Logs a refusal at warn with the refused identity, the forwarder if any, and the peer address. */
  private logRefusal(path: string, err: AuthRefusal, peerAddr: string): void {
    this.opts.logger.warn(
      {
        method: path,
        peer: err.subject ?? { cn: null, ou: null, org: null, addr: peerAddr },
        forwardedBy: err.forwarder === null ? undefined : { cn: err.forwarder.nodeId, addr: err.forwarder.addr },
        peerAddr,
      },
      err.message,
    );
  }

  private failed(path: string, err: unknown): GrpcStatus {
    if (!(err instanceof SwarmError)) {
      this.opts.logger.error({ method: path, err: err instanceof Error ? err.stack : String(err) }, 'handler failed');
    }
    return statusFromError(err);
  }

  private unary<Req, Res>(fn: (req: Req, ctx: CallContext) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const path = call.getPath();
      const ctx = this.context(call as unknown as AnyCall, path);
      if ('refused' in ctx) return callback(ctx.refused);
      let p: Promise<Res>;
      try {
        p = fn(call.request, ctx);
      } catch (err) {
        return callback(this.failed(path, err));
      }
      p.then(
        (res) => callback(null, res),
        (err: unknown) => callback(this.failed(path, err)),
      );
    };
  }

  /** Authorizes a streaming call; on refusal ends it with the refusal's status and returns undefined. */
  private streamContext(call: { emit(event: 'error', status: grpc.StatusObject): boolean }, path: string): CallContext | undefined {
    const ctx = this.context(call as unknown as AnyCall, path);
    if (!('refused' in ctx)) return ctx;
    call.emit('error', ctx.refused);
    return undefined;
  }

  private serverStream<Req, Res>(fn: (req: Req, ctx: CallContext) => AsyncIterable<Res>): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      const path = call.getPath();
      const ctx = this.streamContext(call, path);
      if (ctx === undefined) return;
      void (async () => {
        let it: AsyncIterator<Res> | null = null;
        try {
          it = fn(call.request, ctx)[Symbol.asyncIterator]();
          while (!ctx.signal.aborted) {
            const r = await it.next();
            if (r.done === true || ctx.signal.aborted) break;
            if (!call.write(r.value)) {
              await new Promise<void>((resolve) => {
                const done = (): void => {
                  call.off('drain', done);
                  ctx.signal.removeEventListener('abort', done);
                  resolve();
                };
                call.on('drain', done);
                ctx.signal.addEventListener('abort', done);
              });
            }
          }
          if (ctx.signal.aborted) await it.return?.();
          else call.end();
        } catch (err) {
          if (!ctx.signal.aborted) call.emit('error', this.failed(path, err));
          await it?.return?.().catch(() => undefined);
        }
      })();
    };
  }

  /** Control/Stream: one session per stream; requests authorized one by one as Control/Call. */
  private controlStream(h: ControlHandlers): grpc.handleBidiStreamingCall<ControlStreamRequest, ControlStreamResponse> {
    return (call) => {
      // The TLS peer is fixed for the connection: read its certificate once per stream.
      const policyCtx = this.policyCtx;
      const subject = policyCtx === null ? null : peerSubject(call);
      const peerAddr = call.getPeer();
      const session: ControlStreamSession = new ControlStreamSession(call, {
        handle: (req, ctx) => h.call(req, ctx),
        authorize: (c) => {
          if (policyCtx === null) return { peer: null };
          const f = c.forwarded;
          const forwarded: ForwardedIdentity | null = f === null ? null : { cn: f.cn, ou: f.ou, org: f.org, addr: f.addr };
          try {
            return { peer: authorize({ path: CONTROL_CALL_PATH, subject, peerAddr, forwarded }, policyCtx) };
          } catch (err) {
            if (!(err instanceof AuthRefusal)) throw err;
            this.logRefusal(CONTROL_CALL_PATH, err, peerAddr);
            return { refused: { code: err.code, details: err.message } };
          }
        },
        failed: (err) => this.failed(CONTROL_CALL_PATH, err),
        local: policyCtx === null,
        timers: this.timers,
        maxInFlight: this.maxControlStreamInFlight,
        maxMessageBytes: this.maxMessageBytes,
        onClose: () => this.controlSessions.delete(session),
      });
      this.controlSessions.add(session);
    };
  }

  /**
   * Raft/MessageStream: a peer's raft messages on one long-lived stream, authorized once (as the stream opens),
   * handed to the raft handler in arrival order, each acknowledged with the status ProcessRaftMessage would have
   * answered; acknowledgements finished in the same turn go out in one message. The client bounds what it has
   * in flight (see RaftStreamMux), so nothing here queues without bound.
   */
  private raftMessageStream(h: RaftHandlers): grpc.handleBidiStreamingCall<RaftStreamRequest, RaftStreamResponse> {
    return (call) => {
      const path = call.getPath();
      const ctx = this.streamContext(call, path);
      if (ctx === undefined) return;
      let acks: RaftStreamAck[] = [];
      let scheduled = false;
      let ended = false;
      const endNow = (): void => {
        finish();
        call.end();
      };
      this.raftStreams.add(endNow);
      const flush = (): void => {
        scheduled = false;
        if (ended || acks.length === 0) return;
        const out = acks;
        acks = [];
        call.write({ acks: out });
      };
      const ack = (a: RaftStreamAck): void => {
        acks.push(a);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      };
      call.on('data', (req: RaftStreamRequest) => {
        for (const item of req.items) {
          const seq = item.seq;
          let p: Promise<void>;
          try {
            p = h.processRaftMessage(item.message, ctx);
          } catch (err) {
            p = Promise.reject(err);
          }
          p.then(
            () => ack({ seq, code: 0, message: '' }),
            (err: unknown) => {
              const st = this.failed(path, err);
              ack({ seq, code: st.code, message: st.details });
            },
          );
        }
      });
      const finish = (): void => {
        if (ended) return;
        ended = true;
        acks = [];
        this.raftStreams.delete(endNow);
      };
      call.on('end', () => {
        flush();
        finish();
        call.end();
      });
      call.on('error', finish);
      call.on('cancelled', finish);
    };
  }

  /** StreamRaftMessage: reassembles the chunks of one message (bounded), then hands it to the raft handler. */
  private streamedRaftMessage(h: RaftHandlers): grpc.handleClientStreamingCall<StreamRaftMessageRequest, object> {
    const limit = this.maxStreamedMessageBytes;
    return (call, callback) => {
      const path = call.getPath();
      const ctx = this.context(call as unknown as AnyCall, path);
      if ('refused' in ctx) {
        call.destroy();
        return callback(ctx.refused);
      }
      const chunks: Buffer[] = [];
      let total = -1;
      let got = 0;
      let finished = false;
      const fail = (err: SwarmError): void => {
        if (finished) return;
        finished = true;
        chunks.length = 0;
        callback(statusFromError(err));
        call.destroy();
      };
      call.on('data', (m: StreamRaftMessageRequest) => {
        if (finished) return;
        if (total === -1) {
          if (!Number.isSafeInteger(m.totalBytes) || m.totalBytes <= 0) {
            return fail(new InvalidArgumentError('StreamRaftMessage.totalBytes: must be a positive integer'));
          }
          if (m.totalBytes > limit) {
            return fail(
              new ResourceExhaustedError(`StreamRaftMessage.totalBytes: ${m.totalBytes} exceeds the limit of ${limit} bytes`),
            );
          }
          total = m.totalBytes;
        } else if (m.totalBytes !== total) {
          return fail(new InvalidArgumentError('StreamRaftMessage.totalBytes: must be the same on every chunk'));
        }
        got += m.chunk.length;
        if (got > total) {
          return fail(new InvalidArgumentError(`StreamRaftMessage: chunks exceed totalBytes (${total})`));
        }
        chunks.push(m.chunk);
      });
      call.on('error', () => {
        finished = true;
      });
      call.on('end', () => {
        if (finished) return;
        if (got !== total) {
          return fail(new InvalidArgumentError(`StreamRaftMessage: got ${got} of ${Math.max(total, 0)} bytes`));
        }
        finished = true;
        const message = Buffer.concat(chunks, total);
        chunks.length = 0;
        h.processRaftMessage(message, ctx).then(
          () => callback(null, {}),
          (err: unknown) => callback(this.failed(path, err)),
        );
      });
    };
  }
}

/**
 * The peer certificate's subject for a call. grpc-js's getAuthContext() re-reads and re-parses the peer
 * certificate from the TLS socket on every call (TLSSocket.getPeerCertificate: 70-100 µs, the largest single
 * cost of a manager serving 1,000 agents' status reports). The certificate cannot change during an HTTP/2
 * connection (HTTP/2 forbids TLS renegotiation), so the subject is kept per HTTP/2 session. The session is
 * found through grpc-js internals; when that path is not there (another grpc-js version), every call reads
 * the certificate as before.
 */
export function peerSubject(call: { getAuthContext(): { sslPeerCertificate?: { subject: unknown } } }): CertSubject | null {
  const session = http2SessionOf(call);
  if (session !== undefined) {
    const known = subjectBySession.get(session);
    if (known !== undefined) return known;
  }
  const cert = call.getAuthContext().sslPeerCertificate;
  const subject = cert === undefined ? null : (cert.subject as unknown as CertSubject);
  if (session !== undefined) subjectBySession.set(session, subject);
  return subject;
}

const subjectBySession = new WeakMap<object, CertSubject | null>();

/** The HTTP/2 session a grpc-js server call runs on, if reachable (surface call → intercepting calls → stream). */
function http2SessionOf(call: unknown): object | undefined {
  let c = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 4 && c !== null && typeof c === 'object'; depth++) {
    const stream = (c as { stream?: { session?: unknown } }).stream;
    const session = stream?.session;
    if (session !== null && typeof session === 'object' && (session as { encrypted?: unknown }).encrypted === true) return session;
    c = (c as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
