/**
 * TLS options built from a node's material, for node:tls and @grpc/grpc-js. Every connection between nodes is
 * mutual TLS against the cluster root; peers name managers `swarm-manager` and the CA `swarm-ca` (both DNS SANs
 * of manager certificates), never a host name.
 */
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { NodeTlsMaterial } from './keystore.js';
import { CA_COMMON_NAME, MANAGER_OU } from './node-identity.js';

/** Lowest TLS version swarmhost speaks (SwarmKit's floor; node negotiates 1.3 between swarmhost peers). */
export const MIN_TLS_VERSION = 'TLSv1.2';

/** Key, certificate and trusted root as Buffers of PEM: what node:tls and grpc-js `createSsl` take. */
export interface TlsPems {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
}

/**
 * `{ key, cert, ca }` for a node. Use as `tls.createServer({...tlsOptionsFor(m), requestCert: true})`, or with
 * grpc-js as `credentials.createSsl(p.ca, p.key, p.cert)` and
 * `ServerCredentials.createSsl(p.ca, [{ private_key: p.key, cert_chain: p.cert }], checkClientCertificate)`.
 */
export function tlsOptionsFor(m: NodeTlsMaterial): TlsPems {
  return { key: Buffer.from(m.keyPem), cert: Buffer.from(m.certPem), ca: Buffer.from(m.rootPem) };
}

/**
 * node:tls server options: our certificate, the root as the only trust anchor, client certificates requested and
 * checked. With `requireClientCert` false (the CA endpoints, which joining nodes reach without a certificate)
 * the handshake succeeds without a valid client certificate: the caller must then treat a connection whose
 * `socket.authorized` is false as anonymous.
 */
export function tlsServerOptions(m: NodeTlsMaterial, opts: { requireClientCert: boolean }): TlsOptions {
  return {
    ...tlsOptionsFor(m),
    minVersion: MIN_TLS_VERSION,
    requestCert: true,
    rejectUnauthorized: opts.requireClientCert,
  };
}

/**
 * node:tls client options for dialling a manager (`servername` `swarm-manager`, the default) or the CA
 * (`swarm-ca`), presenting our certificate and trusting only the root.
 */
export function tlsClientOptions(m: NodeTlsMaterial, opts: { servername?: typeof MANAGER_OU | typeof CA_COMMON_NAME } = {}): ConnectionOptions {
  return {
    ...tlsOptionsFor(m),
    minVersion: MIN_TLS_VERSION,
    servername: opts.servername ?? MANAGER_OU,
    rejectUnauthorized: true,
  };
}
