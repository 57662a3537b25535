/**
 * TLS credentials for servers and clients. Servers ask every client for a certificate but do not require one
 * (the CA bootstrap RPCs must work for a node that has none yet); whether a call may proceed is decided per
 * RPC from the verified peer certificate (auth.ts). A certificate that does not chain to our root leaves the
 * connection up but unauthenticated, so it is refused exactly like no certificate.
 *
 * Note: grpc-js's `ServerCredentials.createSsl(root, pairs, false)` sets `requestCert: false`, i.e. the server
 * would never see a client certificate. We use the certificate-provider credentials instead, which request a
 * certificate without requiring it, and which also let a renewed certificate take effect without a restart.
 */
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '../api/errors.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaCertificateUpdateListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;

/** The server name clients verify on a manager's certificate (a SAN of every manager certificate). */
export const MANAGER_SERVER_NAME = 'swarm-manager';

/** PEM material of one node: the trust root(s), its certificate chain and its private key. */
export interface TlsMaterial {
  rootCaPem: Buffer;
  certPem: Buffer;
  keyPem: Buffer;
}

function requirePem(name: string, v: Buffer | null | undefined): Buffer {
  if (!Buffer.isBuffer(v) || v.length === 0) {
    throw new InvalidArgumentError(`tls.${name}: must be a non-empty PEM buffer`);
  }
  return v;
}

/**
 * A node's TLS identity for servers, swappable at run time (certificate renewal, root rotation):
 * {@link update} makes new connections use the new material; open connections keep theirs.
 */
export class ServerTlsIdentity implements CertificateProvider {
  private material: TlsMaterial;
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly idListeners = new Set<IdentityCertificateUpdateListener>();

  constructor(material: TlsMaterial) {
    this.material = ServerTlsIdentity.check(material);
  }

  private static check(m: TlsMaterial): TlsMaterial {
    requirePem('rootCaPem', m.rootCaPem);
    requirePem('certPem', m.certPem);
    requirePem('keyPem', m.keyPem);
    return m;
  }

  /** Replaces the material for connections accepted from now on. */
  update(material: TlsMaterial): void {
    this.material = ServerTlsIdentity.check(material);
    for (const l of this.caListeners) l({ caCertificate: this.material.rootCaPem });
    for (const l of this.idListeners) l({ certificate: this.material.certPem, privateKey: this.material.keyPem });
  }

  /** The current material. */
  current(): TlsMaterial {
    return this.material;
  }

  /** grpc-js server credentials that follow this identity (client certificates requested, not required). */
  serverCredentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
  }

  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    // Deferred: grpc-js registers the server's watcher only after adding these listeners, so a synchronous
    // first update would reach nobody and the server would drop every connection as "unloaded credentials".
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: this.material.rootCaPem });
    });
  }
  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.idListeners.add(listener);
    queueMicrotask(() => {
      if (this.idListeners.has(listener)) {
        listener({ certificate: this.material.certPem, privateKey: this.material.keyPem });
      }
    });
  }
  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.idListeners.delete(listener);
  }
}

/** How a client authenticates the server and itself. */
export type ClientTls =
  /** Verify the server against `rootCaPem`; present `certPem`/`keyPem` when given (mutual TLS). */
  | { kind: 'verify'; rootCaPem: Buffer; certPem?: Buffer; keyPem?: Buffer; serverName?: string }
  /**
   * TLS without verifying the server: only for the join flow's first call (GetRootCACertificate), whose
   * answer is then checked against the join token's digest.
   */
  | { kind: 'insecureSkipVerify' }
  /** No TLS at all: only for the local control socket. */
  | { kind: 'none' };

/** grpc-js channel credentials and channel options for {@link ClientTls}. */
export function clientCredentials(tls: ClientTls): { creds: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (tls.kind === 'none') return { creds: grpc.credentials.createInsecure(), options: {} };
  if (tls.kind === 'insecureSkipVerify') {
    return {
      creds: grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false }),
      options: { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
    };
  }
  const root = requirePem('rootCaPem', tls.rootCaPem);
  const hasCert = tls.certPem !== undefined || tls.keyPem !== undefined;
  const creds = hasCert
    ? grpc.credentials.createSsl(root, requirePem('keyPem', tls.keyPem), requirePem('certPem', tls.certPem))
    : grpc.credentials.createSsl(root);
  const serverName = tls.serverName ?? MANAGER_SERVER_NAME;
  return {
    creds,
    options: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}
