/**
 * What the agent needs from a dispatcher, as a small interface with two implementations: over gRPC with
 * mutual TLS ({@link TransportDispatcherClient}, one per manager address) and over an in-process
 * `DispatcherHandlers` ({@link InProcessDispatcherClient}: tests and the deterministic simulation). Every call
 * takes an AbortSignal; aborting it cancels the call or ends the stream.
 */
import { InvalidArgumentError } from '../api/errors.js';
import { SWARM_MAX_MESSAGE_BYTES, type CallContext, type DispatcherHandlers } from '../transport/server.js';
import type { PeerIdentity } from '../transport/auth.js';
import { TransportClient, type TransportClientOptions } from '../transport/client.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
} from '../transport/messages.js';

/** The dispatcher RPCs as the agent calls them. */
export interface DispatcherClient {
  /** The manager address this client talks to ('' when unknown or in-process without one). */
  readonly addr: string;
  /** Opens a session; the stream's first message carries the session id. */
  session(req: SessionRequest, signal: AbortSignal): AsyncIterable<SessionMessage>;
  /** One heartbeat; resolves with the period to wait before the next one (ms). */
  heartbeat(req: HeartbeatRequest, signal: AbortSignal): Promise<HeartbeatResponse>;
  /** Reports a batch of task statuses. */
  updateTaskStatus(req: UpdateTaskStatusRequest, signal: AbortSignal): Promise<void>;
  /** Opens the assignments stream of a session. */
  assignments(req: AssignmentsRequest, signal: AbortSignal): AsyncIterable<AssignmentsMessage>;
  /** Releases the connection (no-op in process). */
  close(): void;
}

/** The agent's client of one manager over the mTLS transport. Unary calls carry the client's deadline (5 s). */
export class TransportDispatcherClient implements DispatcherClient {
  private readonly client: TransportClient;
  private readonly ownsClient: boolean;
  readonly addr: string;

  /**
   * @param target "host:port" of the manager's remote API (a new TransportClient is made and owned), or an
   *   existing TransportClient to reuse (not closed by {@link close}).
   */
  constructor(target: string | TransportClient, opts?: TransportClientOptions) {
    if (typeof target === 'string') {
      if (opts === undefined) throw new InvalidArgumentError('TransportDispatcherClient: transport options are required with an address');
      // Assignment sets grow with the tasks a node holds (a COMPLETE set of a few thousand tasks passes 4 MiB):
      // accept what managers send unless told otherwise.
      this.client = new TransportClient(target, { maxMessageBytes: SWARM_MAX_MESSAGE_BYTES, ...opts });
      this.ownsClient = true;
      this.addr = target;
    } else {
      this.client = target;
      this.ownsClient = false;
      this.addr = target.target;
    }
  }

  session(req: SessionRequest, signal: AbortSignal): AsyncIterable<SessionMessage> {
    return this.client.session(req, { signal });
  }
  heartbeat(req: HeartbeatRequest, signal: AbortSignal): Promise<HeartbeatResponse> {
    return this.client.heartbeat(req, { signal });
  }
  updateTaskStatus(req: UpdateTaskStatusRequest, signal: AbortSignal): Promise<void> {
    return this.client.updateTaskStatus(req, { signal });
  }
  assignments(req: AssignmentsRequest, signal: AbortSignal): AsyncIterable<AssignmentsMessage> {
    return this.client.assignments(req, { signal });
  }
  close(): void {
    if (this.ownsClient) this.client.close();
  }
}

/**
 * Calls a dispatcher in the same process as node `peer.nodeId` would over the network: each call gets a
 * CallContext with that identity and the call's AbortSignal.
 */
export class InProcessDispatcherClient implements DispatcherClient {
  constructor(
    private readonly handlers: DispatcherHandlers,
    private readonly peer: PeerIdentity,
    readonly addr = '',
  ) {}

  private ctx(path: string, signal: AbortSignal): CallContext {
    return { path: `/swarmhost.api.Dispatcher/${path}`, peer: { ...this.peer }, local: false, signal };
  }

  session(req: SessionRequest, signal: AbortSignal): AsyncIterable<SessionMessage> {
    return this.handlers.session(req, this.ctx('Session', signal));
  }
  heartbeat(req: HeartbeatRequest, signal: AbortSignal): Promise<HeartbeatResponse> {
    return this.handlers.heartbeat(req, this.ctx('Heartbeat', signal));
  }
  async updateTaskStatus(req: UpdateTaskStatusRequest, signal: AbortSignal): Promise<void> {
    await this.handlers.updateTaskStatus(req, this.ctx('UpdateTaskStatus', signal));
  }
  assignments(req: AssignmentsRequest, signal: AbortSignal): AsyncIterable<AssignmentsMessage> {
    return this.handlers.assignments(req, this.ctx('Assignments', signal));
  }
  close(): void {}
}
