/**
 * Client side: one channel to one peer, with typed calls for every RPC. Every unary and client-streaming call
 * has a deadline (callTimeoutMs by default, overridable per call); server streams must deliver their first
 * message within streamOpenTimeoutMs and are then kept honest by HTTP/2 keepalive pings. Failures come back
 * as the SwarmError subclass of the status code (status.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { Code, DeadlineExceededError, InvalidArgumentError, SwarmError } from '../api/errors.js';
import { RealTimers, type Timers } from '../env/index.js';
import { FORWARDED_ADDR, FORWARDED_CN, FORWARDED_ORG, FORWARDED_OU, type PeerIdentity } from './auth.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  ControlRequest,
  ControlResponse,
  ControlStreamCall,
  ControlStreamRequest,
  ControlStreamResponse,
  GetRootCACertificateResponse,
  GetUnlockKeyResponse,
  HealthCheckResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  IssueNodeCertificateRequest,
  IssueNodeCertificateResponse,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  NodeCertificateStatusRequest,
  NodeCertificateStatusResponse,
  RaftStreamRequest,
  RaftStreamResponse,
  ResolveAddressResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
} from './messages.js';
import { method } from './proto.js';
import { CONTROL_STREAM_PATH, ControlStreamMux, DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT } from './control-stream.js';
import { DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT, DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT_BYTES, RAFT_STREAM_PATH, RaftStreamMux } from './raft-stream.js';
import { DEFAULT_MAX_MESSAGE_BYTES, SWARM_MAX_MESSAGE_BYTES } from './server.js';
import { errorFromCallFailure } from './status.js';
import { clientCredentials, type ClientTls } from './tls.js';

/** Default deadline of a unary call, ms (SwarmKit's agent RPC timeout: 5 s). */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;
/** Default deadline of sending one raft message, ms (SwarmKit's raft send timeout: 2 s). */
export const DEFAULT_RAFT_SEND_TIMEOUT_MS = 2_000;
/** Default deadline of streaming one big raft message (snapshot), ms. */
export const DEFAULT_STREAM_SEND_TIMEOUT_MS = 60_000;
/** Default bound on waiting for a server stream's first message, ms. */
export const DEFAULT_STREAM_OPEN_TIMEOUT_MS = 10_000;
/** Default chunk size of StreamRaftMessage, bytes (well under the 4 MiB message limit). */
export const DEFAULT_STREAM_CHUNK_BYTES = 1024 * 1024;
/** Default HTTP/2 keepalive ping interval on idle connections, ms. */
export const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
/** Default wait for a keepalive ping's answer before the connection is declared dead, ms. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;

/** Construction options of {@link TransportClient}. */
export interface TransportClientOptions {
  tls: ClientTls;
  /** Deadline of unary calls, ms (default 5000). */
  callTimeoutMs?: number;
  /** Deadline of ProcessRaftMessage, ms (default 2000). */
  raftSendTimeoutMs?: number;
  /** Deadline of a whole StreamRaftMessage, ms (default 60000). */
  streamSendTimeoutMs?: number;
  /** Bound on a server stream's first message, ms (default 10000). */
  streamOpenTimeoutMs?: number;
  /** StreamRaftMessage chunk size, bytes (default 1 MiB). */
  streamChunkBytes?: number;
  /**
   * Largest single message sent, bytes (default 4 MiB, what a server with default limits accepts), and also
   * the largest received when set. Unset, answers up to {@link SWARM_MAX_MESSAGE_BYTES} (128 MiB) are read, so
   * any client can read a large answer (a 10,000-task ListTasks is ~11 MB) without configuring anything.
   */
  maxMessageBytes?: number;
  /** Keepalive ping interval, ms (default 10000). */
  keepaliveTimeMs?: number;
  /** Keepalive answer timeout, ms (default 5000). */
  keepaliveTimeoutMs?: number;
  /** Timers for stream-open bounds and control-stream deadlines (default: real timers). */
  timers?: Timers;
  /**
   * How {@link TransportClient.control} travels: 'stream' (default) multiplexes every control call on one
   * Control/Stream; 'unary' makes one Control/Call per request (as before the stream existed).
   */
  controlTransport?: 'stream' | 'unary';
  /**
   * How raft messages that fit one gRPC message travel: 'stream' (default) on one Raft/MessageStream per client
   * (see raft-stream.ts), 'unary' as one ProcessRaftMessage call each (as before the stream existed).
   */
  raftTransport?: 'stream' | 'unary';
  /** Control requests pending on the stream before the client refuses more (RESOURCE_EXHAUSTED), requests (default 4096). */
  maxControlInFlight?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the call's default deadline, ms. */
  timeoutMs?: number;
  /** Forward on behalf of this caller (leader forwarding): sent as forwarded_cert_* metadata. */
  forwardedFor?: PeerIdentity;
  /** Cancels the call when aborted. */
  signal?: AbortSignal;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${name}: must be a positive integer, got ${v}`);
  return v;
}

/** The forwarded-identity metadata for a call made on behalf of `caller`. */
export function forwardedMetadata(caller: PeerIdentity): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(FORWARDED_CN, caller.nodeId);
  md.set(FORWARDED_OU, caller.role);
  md.set(FORWARDED_ORG, caller.clusterId);
  md.set(FORWARDED_ADDR, caller.addr);
  return md;
}

/**
 * A client of one peer. `target` is "host:port" for the remote API or "unix:///path" for the control socket.
 * Cheap to keep: one HTTP/2 connection, reconnected by grpc-js on demand.
 */
export class TransportClient {
  private readonly client: grpc.Client;
  private readonly callTimeoutMs: number;
  private readonly raftSendTimeoutMs: number;
  private readonly streamSendTimeoutMs: number;
  private readonly streamOpenTimeoutMs: number;
  private readonly streamChunkBytes: number;
  private readonly maxMessageBytes: number;
  private readonly timers: Timers;
  private readonly controlMux: ControlStreamMux | null;
  private readonly raftMux: RaftStreamMux | null;

  constructor(
    readonly target: string,
    opts: TransportClientOptions,
  ) {
    this.callTimeoutMs = positiveInt('callTimeoutMs', opts.callTimeoutMs, DEFAULT_CALL_TIMEOUT_MS);
    this.raftSendTimeoutMs = positiveInt('raftSendTimeoutMs', opts.raftSendTimeoutMs, DEFAULT_RAFT_SEND_TIMEOUT_MS);
    this.streamSendTimeoutMs = positiveInt('streamSendTimeoutMs', opts.streamSendTimeoutMs, DEFAULT_STREAM_SEND_TIMEOUT_MS);
    this.streamOpenTimeoutMs = positiveInt('streamOpenTimeoutMs', opts.streamOpenTimeoutMs, DEFAULT_STREAM_OPEN_TIMEOUT_MS);
    this.maxMessageBytes = positiveInt('maxMessageBytes', opts.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    this.streamChunkBytes = positiveInt('streamChunkBytes', opts.streamChunkBytes, DEFAULT_STREAM_CHUNK_BYTES);
    if (this.streamChunkBytes > this.maxMessageBytes - 1024) {
      throw new InvalidArgumentError('streamChunkBytes: must be at least 1 KiB below maxMessageBytes');
    }
    this.timers = opts.timers ?? new RealTimers();
    const { creds, options } = clientCredentials(opts.tls);
    this.client = new grpc.Client(target, creds, {
      ...options,
      'grpc.max_receive_message_length': opts.maxMessageBytes === undefined ? Math.max(this.maxMessageBytes, SWARM_MAX_MESSAGE_BYTES) : this.maxMessageBytes,
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': positiveInt('keepaliveTimeMs', opts.keepaliveTimeMs, DEFAULT_KEEPALIVE_TIME_MS),
      'grpc.keepalive_timeout_ms': positiveInt('keepaliveTimeoutMs', opts.keepaliveTimeoutMs, DEFAULT_KEEPALIVE_TIMEOUT_MS),
      'grpc.keepalive_permit_without_calls': 1,
      // Retries are ours to decide (raft resends, agents re-register with backoff); channelz is unused.
      'grpc.enable_retries': 0,
      'grpc.enable_channelz': 0,
    });
    const transport = opts.controlTransport ?? 'stream';
    if (transport !== 'stream' && transport !== 'unary') {
      throw new InvalidArgumentError(`controlTransport: must be "stream" or "unary", got ${String(transport)}`);
    }
    this.controlMux =
      transport === 'unary'
        ? null
        : new ControlStreamMux({
            open: () => this.openBidi<ControlStreamRequest, ControlStreamResponse>(CONTROL_STREAM_PATH),
            unary: (req, forwarded, timeoutMs, signal) => this.controlUnary(req, fromWire(forwarded, timeoutMs, signal)),
            timers: this.timers,
            maxInFlight: positiveInt('maxControlInFlight', opts.maxControlInFlight, DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT),
            maxMessageBytes: this.maxMessageBytes,
            target,
          });
    const raftTransport = opts.raftTransport ?? 'stream';
    if (raftTransport !== 'stream' && raftTransport !== 'unary') {
      throw new InvalidArgumentError(`raftTransport: must be "stream" or "unary", got ${String(raftTransport)}`);
    }
    this.raftMux =
      raftTransport === 'unary'
        ? null
        : new RaftStreamMux({
            open: () => this.openBidi<RaftStreamRequest, RaftStreamResponse>(RAFT_STREAM_PATH),
            unary: (message) => this.processRaftMessage(message),
            timers: this.timers,
            timeoutMs: this.raftSendTimeoutMs,
            maxInFlight: DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT,
            maxInFlightBytes: DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT_BYTES,
            target,
          });
  }

  /** Opens a long-lived bidi stream of method `path` (no deadline: its users bound each message themselves). */
  private openBidi<Req, Res>(path: string): grpc.ClientDuplexStream<Req, Res> {
    const m = method(path);
    return this.client.makeBidiStreamRequest(path, m.serialize as (v: Req) => Buffer, m.deserializeResponse as (b: Buffer) => Res, new grpc.Metadata(), {});
  }

  /** Closes the channel; calls in flight fail with CANCELLED/UNAVAILABLE. */
  close(): void {
    this.controlMux?.close();
    this.raftMux?.close();
    this.client.close();
  }

  // ---- Raft ----

  /** Sends one encoded raft message (must fit maxMessageBytes; see {@link sendRaftMessage}). */
  async processRaftMessage(message: Uint8Array, o: CallOptions = {}): Promise<void> {
    await this.unary('/swarmhost.api.Raft/ProcessRaftMessage', { message: Buffer.from(message.buffer, message.byteOffset, message.byteLength) }, o, this.raftSendTimeoutMs);
  }

  /** Streams one encoded raft message in chunks of streamChunkBytes (for snapshots above the message limit). */
  streamRaftMessage(message: Uint8Array, o: CallOptions = {}): Promise<void> {
    if (message.byteLength === 0) throw new InvalidArgumentError('streamRaftMessage.message: must not be empty');
    const m = method('/swarmhost.api.Raft/StreamRaftMessage');
    const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    return new Promise<void>((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(
        m.path,
        m.serialize,
        m.deserializeResponse,
        this.metadata(o),
        { deadline: this.timers.now() + (o.timeoutMs ?? this.streamSendTimeoutMs) },
        (err) => {
          unlink();
          if (err) reject(errorFromCallFailure(err));
          else resolve();
        },
      );
      const unlink = this.linkSignal(o, () => call.cancel());
      let off = 0;
      const pump = (): void => {
        while (off < buf.length) {
          const chunk = buf.subarray(off, Math.min(off + this.streamChunkBytes, buf.length));
          off += chunk.length;
          if (!call.write({ chunk, totalBytes: buf.length })) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    });
  }

  /**
   * Sends a raft message by the cheapest path: on the peer's MessageStream when it fits one message (unary
   * ProcessRaftMessage with `raftTransport: 'unary'`, or when call options are given), else streamed in chunks.
   */
  sendRaftMessage(message: Uint8Array, o: CallOptions = {}): Promise<void> {
    if (message.byteLength > this.maxMessageBytes - 1024) return this.streamRaftMessage(message, o);
    if (this.raftMux !== null && Object.keys(o).length === 0) return this.raftMux.send(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
    return this.processRaftMessage(message, o);
  }

  /** Address of a raft member. */
  resolveAddress(raftId: string, o: CallOptions = {}): Promise<ResolveAddressResponse> {
    return this.unary('/swarmhost.api.Raft/ResolveAddress', { raftId }, o);
  }

  // ---- RaftMembership ----

  /** Asks the leader to add the caller (listening at req.addr) to raft. */
  join(req: JoinRequest, o: CallOptions = {}): Promise<JoinResponse> {
    return this.unary('/swarmhost.api.RaftMembership/Join', req, o);
  }

  /** Asks the leader to remove a raft member. */
  async leave(req: LeaveRequest, o: CallOptions = {}): Promise<void> {
    await this.unary('/swarmhost.api.RaftMembership/Leave', req, o);
  }

  // ---- CA ----

  /** The root CA bundle (works without a client certificate). */
  getRootCACertificate(o: CallOptions = {}): Promise<GetRootCACertificateResponse> {
    return this.unary('/swarmhost.api.CA/GetRootCACertificate', {}, o);
  }

  /** The autolock unlock key (managers only). */
  getUnlockKey(o: CallOptions = {}): Promise<GetUnlockKeyResponse> {
    return this.unary('/swarmhost.api.CA/GetUnlockKey', {}, o);
  }

  /** Submits a CSR with a join token (works without a client certificate). */
  issueNodeCertificate(req: IssueNodeCertificateRequest, o: CallOptions = {}): Promise<IssueNodeCertificateResponse> {
    return this.unary('/swarmhost.api.NodeCA/IssueNodeCertificate', req, o);
  }

  /** Polls a node certificate's issuance (works without a client certificate). */
  nodeCertificateStatus(req: NodeCertificateStatusRequest, o: CallOptions = {}): Promise<NodeCertificateStatusResponse> {
    return this.unary('/swarmhost.api.NodeCA/NodeCertificateStatus', req, o);
  }

  // ---- Dispatcher ----

  /** Opens a session stream; iterate it; breaking out of the loop cancels the call. */
  session(req: SessionRequest, o: CallOptions = {}): AsyncIterable<SessionMessage> {
    return this.serverStream('/swarmhost.api.Dispatcher/Session', req, o);
  }

  /** One heartbeat. */
  heartbeat(req: HeartbeatRequest, o: CallOptions = {}): Promise<HeartbeatResponse> {
    return this.unary('/swarmhost.api.Dispatcher/Heartbeat', req, o);
  }

  /** Reports task statuses. */
  async updateTaskStatus(req: UpdateTaskStatusRequest, o: CallOptions = {}): Promise<void> {
    await this.unary('/swarmhost.api.Dispatcher/UpdateTaskStatus', req, o);
  }

  /** Opens the assignments stream of a session. */
  assignments(req: AssignmentsRequest, o: CallOptions = {}): AsyncIterable<AssignmentsMessage> {
    return this.serverStream('/swarmhost.api.Dispatcher/Assignments', req, o);
  }

  // ---- Control, Health ----

  /**
   * One control API call: multiplexed on this client's control stream (opened on first use, reopened on the
   * next call after it breaks), or a unary Control/Call with `controlTransport: 'unary'`. Same errors either
   * way: the handler's status and message; DEADLINE_EXCEEDED after the deadline; on a broken stream
   * UNAVAILABLE (a request is never resent, since control writes are not idempotent).
   */
  control(req: ControlRequest, o: CallOptions = {}): Promise<ControlResponse> {
    if (this.controlMux === null) return this.controlUnary(req, o);
    const timeoutMs = positiveInt('timeoutMs', o.timeoutMs, this.callTimeoutMs);
    return this.controlMux.request(req, toWire(o.forwardedFor), timeoutMs, o.signal);
  }

  /** One control API call as a unary Control/Call (one gRPC call per request). */
  controlUnary(req: ControlRequest, o: CallOptions = {}): Promise<ControlResponse> {
    return this.unary('/swarmhost.api.Control/Call', req, o);
  }

  /** grpc.health.v1 Check of `service` ("" = the server). */
  healthCheck(service: string, o: CallOptions = {}): Promise<HealthCheckResponse> {
    return this.unary('/grpc.health.v1.Health/Check', { service }, o);
  }

  // ---- internals ----

  private metadata(o: CallOptions): grpc.Metadata {
    return o.forwardedFor === undefined ? new grpc.Metadata() : forwardedMetadata(o.forwardedFor);
  }

  /**
   * Cancels the call when `o.signal` aborts; returns the unlink to call once the call settles. A caller's signal
   * usually outlives many calls (an agent session sends a heartbeat per period on one signal): a listener left
   * behind per call would keep every finished call alive until the signal aborts.
   */
  private linkSignal(o: CallOptions, cancel: () => void): () => void {
    const signal = o.signal;
    if (signal === undefined) return () => undefined;
    if (signal.aborted) {
      cancel();
      return () => undefined;
    }
    signal.addEventListener('abort', cancel, { once: true });
    return () => signal.removeEventListener('abort', cancel);
  }

  /** A unary call with a deadline; resolves with the response or rejects with a SwarmError. */
  private unary<Res>(path: string, req: object, o: CallOptions, defaultTimeoutMs = this.callTimeoutMs): Promise<Res> {
    const m = method(path);
    const timeoutMs = positiveInt('timeoutMs', o.timeoutMs, defaultTimeoutMs);
    return new Promise<Res>((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        m.path,
        m.serialize,
        m.deserializeResponse,
        req,
        this.metadata(o),
        { deadline: this.timers.now() + timeoutMs },
        (err, res) => {
          unlink();
          if (err) reject(errorFromCallFailure(err));
          else resolve(res as Res);
        },
      );
      const unlink = this.linkSignal(o, () => call.cancel());
    });
  }

  /** A server stream as an async iterable; the first message must come within streamOpenTimeoutMs. */
  private serverStream<Res>(path: string, req: object, o: CallOptions): AsyncIterable<Res> {
    const m = method(path);
    const openTimeoutMs = positiveInt('timeoutMs', o.timeoutMs, this.streamOpenTimeoutMs);
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const call = self.client.makeServerStreamRequest(m.path, m.serialize, m.deserializeResponse, req, self.metadata(o), {});
        const unlink = self.linkSignal(o, () => call.cancel());
        let opened = false;
        let timedOut = false;
        const t = self.timers.setTimeout(() => {
          if (!opened) {
            timedOut = true;
            call.cancel();
          }
        }, openTimeoutMs);
        try {
          for await (const msg of call) {
            if (!opened) {
              opened = true;
              self.timers.clearTimeout(t);
            }
            yield msg as Res;
          }
        } catch (err) {
          if (timedOut) throw new DeadlineExceededError(`${path}: no message within ${openTimeoutMs} ms`);
          throw errorFromCallFailure(err);
        } finally {
          unlink();
          self.timers.clearTimeout(t);
          call.cancel();
        }
        if (timedOut) throw new DeadlineExceededError(`${path}: no message within ${openTimeoutMs} ms`);
      },
    };
  }
}

function toWire(caller: PeerIdentity | undefined): ControlStreamCall['forwarded'] {
  return caller === undefined ? null : { cn: caller.nodeId, ou: caller.role, org: caller.clusterId, addr: caller.addr };
}

function fromWire(f: ControlStreamCall['forwarded'], timeoutMs: number, signal: AbortSignal | undefined): CallOptions {
  const o: CallOptions = { timeoutMs };
  if (f !== null) o.forwardedFor = { nodeId: f.cn, role: f.ou, clusterId: f.org, addr: f.addr };
  if (signal !== undefined) o.signal = signal;
  return o;
}

/** True when `err` is worth retrying on another attempt: a deadline, an abort or an unavailable peer. */
export function isTransient(err: unknown): boolean {
  return (
    err instanceof SwarmError &&
    (err.code === Code.DEADLINE_EXCEEDED || err.code === Code.ABORTED || err.code === Code.UNAVAILABLE)
  );
}
