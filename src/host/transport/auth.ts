/**
 * Per-RPC authorization from the peer certificate. Pure: given the method, the verified peer certificate's
 * subject (or none), the peer address and the forwarded-identity metadata, it returns who the caller is or
 * throws PermissionDeniedError naming the reason. The server (server.ts) logs every refusal with the peer's
 * identity.
 */
import { PermissionDeniedError } from '../api/errors.js';

/** OU of a manager's certificate. */
export const MANAGER_ROLE = 'swarm-manager';
/** OU of a worker's certificate. */
export const WORKER_ROLE = 'swarm-worker';
/** The two node roles a certificate's OU can name. */
export type NodeRole = typeof MANAGER_ROLE | typeof WORKER_ROLE;

/** Metadata keys a forwarding manager sets to carry the original caller's identity (as SwarmKit names them). */
export const FORWARDED_CN = 'forwarded_cert_cn';
/** See {@link FORWARDED_CN}. */
export const FORWARDED_OU = 'forwarded_cert_ou';
/** See {@link FORWARDED_CN}. */
export const FORWARDED_ORG = 'forwarded_cert_org';
/** See {@link FORWARDED_CN}. */
export const FORWARDED_ADDR = 'remote_addr';

/** Who is calling: from the TLS peer certificate (CN = node id, OU = role, O = cluster id). */
export interface PeerIdentity {
  nodeId: string;
  /** The certificate's OU (a {@link NodeRole} for certificates our CA issued). */
  role: string;
  clusterId: string;
  /** host:port the call came from (for a forwarded call: the original caller's address). */
  addr: string;
  /** Set when a manager forwarded the call: that manager's own identity. */
  forwardedBy?: PeerIdentity;
}

/** Who may call a method: anyone (CA bootstrap RPCs) or certificates with one of the roles. */
export type MethodPolicy = { kind: 'open' } | { kind: 'roles'; roles: readonly NodeRole[] };

const OPEN: MethodPolicy = { kind: 'open' };
const MANAGERS: MethodPolicy = { kind: 'roles', roles: [MANAGER_ROLE] };
const NODES: MethodPolicy = { kind: 'roles', roles: [WORKER_ROLE, MANAGER_ROLE] };

/**
 * The authorization table, keyed by gRPC method path. A method missing here is refused (PermissionDenied);
 * the server refuses to register a handler for a method with no entry.
 */
export const METHOD_POLICIES: Readonly<Record<string, MethodPolicy>> = {
  '/swarmhost.api.Raft/ProcessRaftMessage': MANAGERS,
  '/swarmhost.api.Raft/StreamRaftMessage': MANAGERS,
  '/swarmhost.api.Raft/MessageStream': MANAGERS,
  '/swarmhost.api.Raft/ResolveAddress': MANAGERS,
  '/swarmhost.api.RaftMembership/Join': MANAGERS,
  '/swarmhost.api.RaftMembership/Leave': MANAGERS,
  '/swarmhost.api.CA/GetRootCACertificate': OPEN,
  '/swarmhost.api.CA/GetUnlockKey': MANAGERS,
  '/swarmhost.api.NodeCA/IssueNodeCertificate': OPEN,
  '/swarmhost.api.NodeCA/NodeCertificateStatus': OPEN,
  '/swarmhost.api.Dispatcher/Session': NODES,
  '/swarmhost.api.Dispatcher/Heartbeat': NODES,
  '/swarmhost.api.Dispatcher/UpdateTaskStatus': NODES,
  '/swarmhost.api.Dispatcher/Assignments': NODES,
  '/swarmhost.api.Control/Call': MANAGERS,
  // The stream carries Control/Call requests: each request is authorized on its own exactly as a Call (its
  // own forwarded identity included), so this entry documents the rule rather than gating the stream.
  '/swarmhost.api.Control/Stream': MANAGERS,
  '/grpc.health.v1.Health/Check': MANAGERS,
};

/** The subject fields of a verified peer certificate (Node's `PeerCertificate.subject` shape). */
export interface CertSubject {
  CN?: string | string[];
  OU?: string | string[];
  O?: string | string[];
}

/** Everything authorization looks at for one call. */
export interface AuthInput {
  /** gRPC method path, e.g. "/swarmhost.api.Raft/ProcessRaftMessage". */
  path: string;
  /** Subject of the peer certificate if the peer presented one that chains to our root; else null. */
  subject: CertSubject | null;
  /** Peer address as host:port. */
  peerAddr: string;
  /** Forwarded-identity metadata values (first value of each key), if any were sent. */
  forwarded: ForwardedIdentity | null;
}

/** The forwarded-identity metadata of one call. */
export interface ForwardedIdentity {
  cn: string;
  ou: string;
  org: string;
  addr: string;
}

/** What authorization needs from the host: the cluster id and the list of removed nodes. */
export interface AuthPolicyContext {
  clusterId: string;
  /** True when the node id was removed from the swarm (its certificate must no longer be honoured). */
  isRemoved(nodeId: string): boolean;
}

/** A refusal with the identity it was about, so that the server can log who was refused. */
export class AuthRefusal extends PermissionDeniedError {
  constructor(
    message: string,
    /** The identity the refusal concerns (null when there was no verified certificate). */
    readonly subject: { cn: string; ou: string; org: string; addr: string } | null,
    /** The direct peer when the refused identity was forwarded. */
    readonly forwarder: PeerIdentity | null,
  ) {
    super(message);
  }
}

function values(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The identity a certificate subject names, without any check. Multi-valued fields keep their first value. */
export function identityFromSubject(subject: CertSubject, addr: string): PeerIdentity {
  return {
    nodeId: values(subject.CN)[0] ?? '',
    role: values(subject.OU)[0] ?? '',
    clusterId: values(subject.O)[0] ?? '',
    addr,
  };
}

/**
 * Checks one identity against a role set: OU ∩ roles non-empty, O equal to the cluster id, CN not removed.
 * `ous`/`orgs` are all values of the certificate's OU/O fields.
 */
function checkIdentity(
  cn: string,
  ous: string[],
  orgs: string[],
  roles: readonly NodeRole[],
  ctx: AuthPolicyContext,
): string | null {
  if (!ous.some((ou) => (roles as readonly string[]).includes(ou))) {
    return `Permission denied: remote certificate not part of organizational unit(s) ${roles.join(', ')}`;
  }
  if (orgs.length !== 1 || orgs[0] !== ctx.clusterId) {
    return `Permission denied: remote certificate not part of organization: ${ctx.clusterId}`;
  }
  if (cn === '') return 'Permission denied: remote certificate has no common name';
  if (ctx.isRemoved(cn)) return `Permission denied: node ${cn} was removed from swarm`;
  return null;
}

/**
 * Decides one call. Returns the caller's identity (null for an open method called without a usable
 * certificate) or throws {@link AuthRefusal}. Forwarded identity is trusted only from a peer that itself
 * passes the manager checks, and the forwarded identity then passes the method's checks.
 */
export function authorize(input: AuthInput, ctx: AuthPolicyContext): PeerIdentity | null {
  const policy = METHOD_POLICIES[input.path];
  if (policy === undefined) {
    throw new AuthRefusal(`Permission denied: method ${input.path} is not allowed`, subjectOf(input), null);
  }
  if (policy.kind === 'open') {
    // Anyone may call; a caller with a certificate of this cluster is still identified (CA renewal uses it).
    if (input.subject === null) return null;
    const direct = identityFromSubject(input.subject, input.peerAddr);
    const s = input.subject;
    if (checkIdentity(direct.nodeId, values(s.OU), values(s.O), [MANAGER_ROLE, WORKER_ROLE], ctx) !== null) {
      return null;
    }
    if (input.forwarded !== null && direct.role === MANAGER_ROLE) {
      const f = input.forwarded;
      if (checkIdentity(f.cn, [f.ou], [f.org], [MANAGER_ROLE, WORKER_ROLE], ctx) !== null) return null;
      return { nodeId: f.cn, role: f.ou, clusterId: f.org, addr: f.addr, forwardedBy: direct };
    }
    return direct;
  }
  if (input.subject === null) {
    throw new AuthRefusal('Permission denied: no verified client certificate in request', null, null);
  }
  const s = input.subject;
  const direct = identityFromSubject(s, input.peerAddr);
  if (input.forwarded === null) {
    const why = checkIdentity(direct.nodeId, values(s.OU), values(s.O), policy.roles, ctx);
    if (why !== null) throw new AuthRefusal(why, subjectOf(input), null);
    return direct;
  }
  // A forwarded call: the forwarder must be a manager of this cluster, then the original caller is checked.
  const fwdWhy = checkIdentity(direct.nodeId, values(s.OU), values(s.O), [MANAGER_ROLE], ctx);
  if (fwdWhy !== null) {
    throw new AuthRefusal(
      `Permission denied: forwarded request from a peer that is not a manager of this cluster (${fwdWhy})`,
      subjectOf(input),
      null,
    );
  }
  const f = input.forwarded;
  const why = checkIdentity(f.cn, [f.ou], [f.org], policy.roles, ctx);
  if (why !== null) {
    throw new AuthRefusal(why, { cn: f.cn, ou: f.ou, org: f.org, addr: f.addr }, direct);
  }
  return { nodeId: f.cn, role: f.ou, clusterId: f.org, addr: f.addr, forwardedBy: direct };
}

function subjectOf(input: AuthInput): { cn: string; ou: string; org: string; addr: string } | null {
  if (input.subject === null) return null;
  return {
    cn: values(input.subject.CN).join(','),
    ou: values(input.subject.OU).join(','),
    org: values(input.subject.O).join(','),
    addr: input.peerAddr,
  };
}
