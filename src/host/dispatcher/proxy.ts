/**
 * A manager that is not the leader still accepts agent connections (reference §8.1): it serves the
 * Dispatcher RPCs by re-issuing each call to the leader on behalf of its caller. The caller's certificate
 * identity and address travel as forwarded-identity metadata (transport/forward.ts), so the leader's
 * dispatcher registers the agent's node with the agent's own address; cancelling the incoming call cancels
 * the forwarded one. When there is no leader the call fails with Unavailable and the agent backs off.
 */
import { UnavailableError } from '../api/errors.js';
import type { TransportClient } from '../transport/client.js';
import { forwardOptions } from '../transport/forward.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
  UpdateTaskStatusResponse,
} from '../transport/messages.js';
import type { CallContext, DispatcherHandlers } from '../transport/server.js';

/** Dispatcher handlers of a follower manager: every call forwarded to the current leader. */
export class DispatcherProxy implements DispatcherHandlers {
  /** @param leader the client of the current leader's remote API, or undefined while there is none. */
  constructor(private readonly leader: () => TransportClient | undefined) {}

  private client(): TransportClient {
    const c = this.leader();
    if (c === undefined) throw new UnavailableError('dispatcher: no leader to forward to');
    return c;
  }

  session(req: SessionRequest, ctx: CallContext): AsyncIterable<SessionMessage> {
    return this.client().session(req, forwardOptions(ctx));
  }

  heartbeat(req: HeartbeatRequest, ctx: CallContext): Promise<HeartbeatResponse> {
    return this.client().heartbeat(req, forwardOptions(ctx));
  }

  async updateTaskStatus(req: UpdateTaskStatusRequest, ctx: CallContext): Promise<UpdateTaskStatusResponse> {
    await this.client().updateTaskStatus(req, forwardOptions(ctx));
    return {};
  }

  assignments(req: AssignmentsRequest, ctx: CallContext): AsyncIterable<AssignmentsMessage> {
    return this.client().assignments(req, forwardOptions(ctx));
  }
}
