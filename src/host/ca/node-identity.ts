/**
 * A node's identity as its certificate states it: CN = node id, OU = role, O = cluster id. The transport's
 * per-RPC checks and a restarted node both read identity from here, never from anything the peer claims.
 */
import { X509Certificate } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import { NodeRole } from '../api/objects.js';
import { OID } from './asn1-der.js';
import { nameValue, parseCertificate } from './x509.js';

/** OU of manager certificates (also a DNS SAN of theirs, and the TLS server name clients dial managers with). */
export const MANAGER_OU = 'swarm-manager';
/** OU of worker certificates. */
export const WORKER_OU = 'swarm-worker';
/** CN of the root CA, and the TLS server name used when talking to the CA. */
export const CA_COMMON_NAME = 'swarm-ca';

/** The OU that encodes a role. */
export function ouForRole(role: NodeRole): string {
  if (role === NodeRole.MANAGER) return MANAGER_OU;
  if (role === NodeRole.WORKER) return WORKER_OU;
  throw new InvalidArgumentError(`role: ${String(role)} is not a node role (want WORKER or MANAGER)`);
}

/** The role an OU encodes, or undefined for any other OU. */
export function roleForOu(ou: string): NodeRole | undefined {
  if (ou === MANAGER_OU) return NodeRole.MANAGER;
  if (ou === WORKER_OU) return NodeRole.WORKER;
  return undefined;
}

/** Identity read from a node certificate. Times in ms since the epoch. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  /** The OU as written (`swarm-manager` | `swarm-worker`). */
  ou: string;
  clusterId: string;
  notBeforeMs: number;
  notAfterMs: number;
  /** Serial number, lowercase hex. */
  serialHex: string;
}

/**
 * Reads the identity from a node certificate given as PEM, DER, or a node:crypto X509Certificate (what
 * `tlsSocket.getPeerX509Certificate()` returns; a grpc peer certificate's `.raw` is DER). Throws
 * InvalidArgumentError when the CN, OU or O is missing or the OU is not a swarm role. It does not check the
 * signature or validity: TLS verification does that before identity is read.
 */
export function parseNodeIdentity(cert: string | Uint8Array | X509Certificate): NodeIdentity {
  const input = cert instanceof X509Certificate ? cert.raw : cert;
  const c = parseCertificate(input, 'node certificate');
  const nodeId = nameValue(c.subject, OID.commonName);
  const ou = nameValue(c.subject, OID.organizationalUnitName);
  const clusterId = nameValue(c.subject, OID.organizationName);
  if (!nodeId) throw new InvalidArgumentError('node certificate: subject has no CN (node id)');
  if (!ou) throw new InvalidArgumentError('node certificate: subject has no OU (role)');
  if (!clusterId) throw new InvalidArgumentError('node certificate: subject has no O (cluster id)');
  const role = roleForOu(ou);
  if (role === undefined) throw new InvalidArgumentError(`node certificate: OU "${ou}" is not ${MANAGER_OU} or ${WORKER_OU}`);
  return { nodeId, role, ou, clusterId, notBeforeMs: c.notBeforeMs, notAfterMs: c.notAfterMs, serialHex: c.serialHex };
}
