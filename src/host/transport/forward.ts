/**
 * Leader forwarding: a manager that is not the leader re-issues a call to the leader on behalf of its caller.
 * The original caller's identity travels as forwarded_cert_* / remote_addr metadata; the leader trusts it only
 * because the forwarding peer holds a manager certificate of the cluster, and then applies the method's own
 * checks to the forwarded identity (auth.ts).
 */
import type { CallContext } from './server.js';
import type { CallOptions } from './client.js';

/**
 * Call options that forward `ctx`'s caller. A call that arrived already forwarded keeps the original caller
 * (never the intermediate manager). A local-socket call has no certificate identity: the forwarding manager
 * calls as itself, which is what the local socket's trust model means (the caller is the local manager).
 * `signal` follows the incoming call, so that a cancelled caller cancels the forwarded call.
 */
export function forwardOptions(ctx: CallContext, extra: Omit<CallOptions, 'forwardedFor' | 'signal'> = {}): CallOptions {
  const o: CallOptions = { ...extra, signal: ctx.signal };
  if (ctx.peer !== null && !ctx.local) {
    const { forwardedBy: _ignored, ...original } = ctx.peer;
    o.forwardedFor = original;
  }
  return o;
}
