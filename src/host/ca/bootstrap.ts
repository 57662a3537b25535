/**
 * What the first node of a new cluster does for security: create the root CA, its own P-256 key and manager
 * certificate, and the cluster's RootCA record with both join tokens.
 */
import { NodeRole, type RootCA } from '../api/objects.js';
import type { Clock } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { generateKeyAndCsr } from './csr.js';
import { generateJoinTokens } from './join-token.js';
import type { NodeTlsMaterial } from './keystore.js';
import { RootCertificateAuthority, createRootCA, rootDigestHex, type RootCAMaterial } from './root-ca.js';

/** Everything the bootstrap produced: the root (to store), the record for the cluster object, the node's TLS material. */
export interface BootstrapResult {
  root: RootCAMaterial;
  /** For `Cluster.rootCA`: key, certificate, `sha256:<hex>` hash, fresh worker and manager tokens. */
  rootCA: RootCA;
  node: NodeTlsMaterial;
  signer: RootCertificateAuthority;
}

/** The `caCertHash` field of the cluster object: `sha256:` + hex of the root PEM's SHA-256. */
export function caCertHash(rootPem: string): string {
  return `sha256:${rootDigestHex(rootPem)}`;
}

/** The cluster's RootCA record for a root and fresh tokens. */
export function newRootCARecord(root: RootCAMaterial, rng: Rng): RootCA {
  return { caKey: root.keyPem, caCert: root.certPem, caCertHash: caCertHash(root.certPem), joinTokens: generateJoinTokens(root.certPem, rng) };
}

/**
 * Creates a cluster's CA and the bootstrapping node's manager certificate (validity `expiryMs`). The caller
 * writes `node` (and `root`) with the KeyStore and `rootCA` into the cluster object.
 */
export function bootstrapClusterCA(
  env: { clock: Clock; rng: Rng },
  opts: { clusterId: string; nodeId: string; expiryMs: number },
): BootstrapResult {
  const root = createRootCA(env);
  const signer = new RootCertificateAuthority(root, env);
  const { keyPem, csrPem } = generateKeyAndCsr();
  const certPem = signer.issueNodeCertificate(csrPem, { nodeId: opts.nodeId, role: NodeRole.MANAGER, clusterId: opts.clusterId, expiryMs: opts.expiryMs });
  return { root, rootCA: newRootCARecord(root, env.rng), node: { certPem, keyPem, rootPem: root.certPem }, signer };
}
