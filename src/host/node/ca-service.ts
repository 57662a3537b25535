import {
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  type Cluster,
  type Node,
} from '../api/objects.js';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '../api/errors.js';
import { RootCertificateAuthority, roleForToken, verifyCsr } from '../ca/index.js';
import type { Clock, Rng } from '../env/index.js';
import { newId, type Store } from '../store/index.js';
import type {
  CallContext,
  GetRootCACertificateResponse,
  IssueNodeCertificateRequest,
  IssueNodeCertificateResponse,
  NodeCertificateStatusRequest,
  NodeCertificateStatusResponse,
} from '../transport/index.js';

/** The single cluster object, or an error saying the cluster is not initialized yet. */
export function clusterObject(store: Store): Cluster {
  const c = store.view((tx) => tx.list('clusters')[0] as Cluster | undefined);
  if (c === undefined) throw new NotFoundError('cluster not initialized yet: no cluster object in the store');
  return c;
}

const availabilityByName: Record<string, NodeAvailability> = {
  '': NodeAvailability.ACTIVE,
  active: NodeAvailability.ACTIVE,
  pause: NodeAvailability.PAUSE,
  drain: NodeAvailability.DRAIN,
};

const issuanceName: Record<IssuanceState, string> = {
  [IssuanceState.UNKNOWN]: 'unknown',
  [IssuanceState.RENEW]: 'renew',
  [IssuanceState.PENDING]: 'pending',
  [IssuanceState.ISSUED]: 'issued',
  [IssuanceState.FAILED]: 'failed',
  [IssuanceState.ROTATE]: 'rotate',
};

/**
 * The leader's certificate authority service. Joining: the token names the role, the CSR is verified and
 * signed with the cluster's root key (held in the replicated cluster object), and the node object is created
 * ACCEPTED with its certificate ISSUED in the same store transaction — so a refused join (bad token, bad CSR)
 * leaves nothing behind. Renewal: a caller with a valid certificate gets a new one for its node id and its
 * observed role (set by the role manager from the desired role: that is how promotion/demotion reach the cert).
 */
export class CAService {
  constructor(
    private readonly store: Store,
    private readonly env: { clock: Clock; rng: Rng },
  ) {}

  /** The root CA bundle as served (its SHA-256 is the join tokens' digest). */
  rootCertificate(): GetRootCACertificateResponse {
    return { certificate: Buffer.from(clusterObject(this.store).rootCA.caCert) };
  }

  /** Signs a node certificate (leader only: the caller forwards otherwise). */
  async issue(req: IssueNodeCertificateRequest, ctx: CallContext): Promise<IssueNodeCertificateResponse> {
    const csrPem = Buffer.from(req.csr ?? []).toString('utf8');
    if (csrPem === '') throw new InvalidArgumentError('csr: must be provided');
    verifyCsr(csrPem);
    const availability = availabilityByName[(req.availability ?? '').toLowerCase()];
    if (availability === undefined) {
      throw new InvalidArgumentError(`availability: must be active, pause or drain, got "${req.availability}"`);
    }
    const renewing = ctx.peer !== null && !ctx.local && (req.token ?? '') === '';
    return this.store.update((tx) => {
      const cluster = tx.list('clusters')[0] as Cluster | undefined;
      if (cluster === undefined) throw new NotFoundError('cluster not initialized yet: no cluster object in the store');
      const signer = new RootCertificateAuthority({ certPem: cluster.rootCA.caCert, keyPem: cluster.rootCA.caKey }, this.env);
      const expiryMs = cluster.spec.caConfig.nodeCertExpiryMs;
      const now = this.env.clock.now();
      if (renewing) {
        const nodeId = ctx.peer!.nodeId;
        const node = tx.get('nodes', nodeId) as Node | undefined;
        if (node === undefined) throw new PermissionDeniedError(`Permission denied: node ${nodeId} was removed from swarm`);
        // The observed role, as SwarmKit's CA does: the role manager sets it once Raft membership follows the
        // desired role, so a routine renewal during a pending demotion cannot cut a Raft member off early.
        const role = node.role;
        const cert = signer.issueNodeCertificate(csrPem, { nodeId, role, clusterId: cluster.id, expiryMs });
        tx.update('nodes', {
          ...node,
          role,
          certificate: { role, csr: csrPem, status: { state: IssuanceState.ISSUED, err: '' }, certificate: cert, cn: nodeId },
        });
        return { nodeId, nodeMembership: 'accepted' };
      }
      const role = roleForToken(cluster.rootCA.joinTokens, req.token ?? '');
      const nodeId = newId(this.env.rng);
      const cert = signer.issueNodeCertificate(csrPem, { nodeId, role, clusterId: cluster.id, expiryMs });
      const node: Node = {
        id: nodeId,
        meta: { version: 0, createdAt: now, updatedAt: now },
        spec: { annotations: { name: '', labels: {} }, desiredRole: role, membership: NodeMembership.ACCEPTED, availability },
        status: { state: NodeStatusState.UNKNOWN, message: '', addr: '' },
        certificate: { role, csr: csrPem, status: { state: IssuanceState.ISSUED, err: '' }, certificate: cert, cn: nodeId },
        role,
      };
      tx.create('nodes', node);
      return { nodeId, nodeMembership: 'accepted' };
    });
  }

  /** A node's certificate status and, once issued, the certificate (local read: any manager answers). */
  status(req: NodeCertificateStatusRequest): NodeCertificateStatusResponse {
    if (!req.nodeId) throw new InvalidArgumentError('node_id: must be provided');
    const node = this.store.view((tx) => tx.get('nodes', req.nodeId) as Node | undefined);
    if (node === undefined) throw new NotFoundError(`node ${req.nodeId} not found`);
    const st = node.certificate.status;
    return {
      status: { state: issuanceName[st.state], err: st.err },
      certificate: Buffer.from(st.state === IssuanceState.ISSUED ? node.certificate.certificate : ''),
    };
  }
}

/** The manager's own node object, written when it bootstraps the cluster. */
export function bootstrapNodeObject(opts: { nodeId: string; certPem: string; now: number; addr: string }): Node {
  return {
    id: opts.nodeId,
    meta: { version: 0, createdAt: opts.now, updatedAt: opts.now },
    spec: {
      annotations: { name: '', labels: {} },
      desiredRole: NodeRole.MANAGER,
      membership: NodeMembership.ACCEPTED,
      availability: NodeAvailability.ACTIVE,
    },
    status: { state: NodeStatusState.UNKNOWN, message: '', addr: opts.addr },
    certificate: {
      role: NodeRole.MANAGER,
      csr: '',
      status: { state: IssuanceState.ISSUED, err: '' },
      certificate: opts.certPem,
      cn: opts.nodeId,
    },
    role: NodeRole.MANAGER,
  };
}
