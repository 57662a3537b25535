/**
 * The root CA and node certificate issuance. The first node of a cluster creates the root (P-256, CN
 * `swarm-ca`, 20 years); the leader's signer issues node certificates from CSRs with the identity the CA
 * decided (node id, role, cluster id), never the one the CSR asks for.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import { NodeRole } from '../api/objects.js';
import type { Clock } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { OID } from './asn1-der.js';
import { verifyCsr } from './csr.js';
import { generateKeyPair, keyIdentifier, loadPrivateKey, spkiDer, type KeyAlgorithm } from './keys.js';
import { CA_COMMON_NAME, MANAGER_OU, ouForRole } from './node-identity.js';
import {
  KeyUsageBit,
  authorityKeyIdExt,
  basicConstraintsExt,
  buildCertificate,
  certificateToPem,
  dnsSanExt,
  encodeName,
  extKeyUsageExt,
  keyUsageExt,
  parseCertificate,
  randomSerial,
  subjectKeyIdExt,
  verifyCertificateSignature,
  type ParsedCertificate,
} from './x509.js';

/** Validity of a root CA: 20 years, 630,720,000 s, as SwarmKit's. */
export const ROOT_CA_VALIDITY_MS = 630_720_000_000;
/** How far NotBefore is set in the past, to tolerate clock skew between nodes: 1 hour. */
export const CERT_BACKDATE_MS = 3_600_000;
/** Default node certificate validity: 2160 h (90 days); defined with the cluster defaults. */
export { DEFAULT_NODE_CERT_EXPIRY_MS } from '../api/cluster-defaults.js';
/** Minimum node certificate validity: 30 minutes (the seed README's figure; SwarmKit's code says 1 h). */
export const MIN_NODE_CERT_EXPIRY_MS = 30 * 60_000;
/** Bytes of randomness in a certificate serial number (128 bits, two of them fixed; see randomSerial). */
export const SERIAL_BYTES = 16;
/** Longest node id / cluster id accepted in a certificate subject, in characters (X.509's ub-common-name). */
export const MAX_ID_CHARS = 64;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Formats a duration the way Go's time.Duration prints it (e.g. 30m0s, 2160h0m0s, 1.5s), for messages. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  const sStr = Number.isInteger(s) ? String(s) : String(Number(s.toFixed(3)));
  let out = `${sStr}s`;
  if (h > 0 || m > 0) out = `${m}m${out}`;
  if (h > 0) out = `${h}h${out}`;
  return (neg ? '-' : '') + out;
}

/**
 * Checks a node certificate validity setting (ms). Below {@link MIN_NODE_CERT_EXPIRY_MS} it fails with
 * SwarmKit's wording: "minimum certificate expiry time is: 30m0s". The control API calls this for
 * `cluster update --certexpiry`.
 */
export function validateNodeCertExpiryMs(expiryMs: number): void {
  if (typeof expiryMs !== 'number' || !Number.isFinite(expiryMs) || !Number.isInteger(expiryMs)) {
    throw new InvalidArgumentError(`nodeCertExpiryMs: must be a whole number of milliseconds, got ${String(expiryMs)}`);
  }
  if (expiryMs < MIN_NODE_CERT_EXPIRY_MS) {
    throw new InvalidArgumentError(
      `minimum certificate expiry time is: ${formatGoDuration(MIN_NODE_CERT_EXPIRY_MS)} (nodeCertExpiryMs was ${formatGoDuration(expiryMs)})`,
    );
  }
}

function validateId(field: string, v: string): void {
  if (typeof v !== 'string' || v.length === 0) throw new InvalidArgumentError(`${field}: must not be empty`);
  if (v.length > MAX_ID_CHARS) throw new InvalidArgumentError(`${field}: ${v.length} characters is over the limit of ${MAX_ID_CHARS}`);
  if (!ID_RE.test(v)) throw new InvalidArgumentError(`${field}: "${v}" must be letters, digits, '.', '_' or '-', starting with a letter or digit`);
}

/** A root CA's certificate and key as PEM (the key is PKCS#8). */
export interface RootCAMaterial {
  certPem: string;
  keyPem: string;
}

/** SHA-256 of the root CA certificate PEM bytes, lowercase hex. This is what join tokens pin. */
export function rootDigestHex(rootPem: string): string {
  return createHash('sha256').update(rootPem, 'utf8').digest('hex');
}

/**
 * Creates a self-signed root CA: CN `swarm-ca`, CA:true, keyCertSign+cRLSign, a subjectKeyIdentifier, valid
 * from an hour ago for 20 years. The key is P-256 unless `algorithm` says otherwise (RSA exists for benchmarks).
 */
export function createRootCA(env: { clock: Clock; rng: Rng }, opts: { algorithm?: KeyAlgorithm; validityMs?: number } = {}): RootCAMaterial {
  const validityMs = opts.validityMs ?? ROOT_CA_VALIDITY_MS;
  if (!Number.isInteger(validityMs) || validityMs <= 0) throw new InvalidArgumentError(`validityMs: must be a positive whole number of ms, got ${validityMs}`);
  const kp = generateKeyPair(opts.algorithm ?? 'p256');
  const spki = spkiDer(kp.publicKey);
  const now = env.clock.now();
  const subject = encodeName([{ oid: OID.commonName, value: CA_COMMON_NAME }]);
  const der = buildCertificate(
    {
      serial: randomSerial(env.rng.bytes(SERIAL_BYTES)),
      issuerNameDer: subject,
      subject: [{ oid: OID.commonName, value: CA_COMMON_NAME }],
      notBeforeMs: now - CERT_BACKDATE_MS,
      notAfterMs: now + validityMs,
      subjectPublicKeyDer: spki,
      extensions: [
        keyUsageExt([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]),
        basicConstraintsExt(true),
        subjectKeyIdExt(spki),
      ],
    },
    kp.privateKey,
  );
  return { certPem: certificateToPem(der), keyPem: kp.privateKeyPem };
}

/** What the CA decided about a node, for {@link RootCertificateAuthority.issueNodeCertificate}. */
export interface IssueOptions {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** Validity from now, ms; at least {@link MIN_NODE_CERT_EXPIRY_MS}. */
  expiryMs: number;
}

/**
 * A root CA that can sign: holds the parsed root certificate and its key, with the injected clock (validity)
 * and rng (serials). Only the leader's signer holds one; other nodes only need the root certificate.
 */
export class RootCertificateAuthority {
  /** The root certificate as PEM, exactly as served to joining nodes (its bytes are what tokens pin). */
  readonly certPem: string;
  /** The parsed root certificate. */
  readonly cert: ParsedCertificate;
  private readonly key: KeyObject;
  private readonly keyId: Buffer;

  constructor(
    material: RootCAMaterial,
    private readonly env: { clock: Clock; rng: Rng },
  ) {
    this.certPem = material.certPem;
    this.cert = parseCertificate(material.certPem, 'root CA certificate');
    if (!this.cert.isCA) throw new InvalidArgumentError('root CA certificate: basicConstraints does not say CA:true');
    this.key = loadPrivateKey(material.keyPem, 'root CA key');
    const pubOfKey = spkiDer(createPublicKey(this.key));
    if (!pubOfKey.equals(this.cert.subjectPublicKeyDer)) throw new InvalidArgumentError('root CA key: does not match the root CA certificate');
    this.keyId = this.cert.subjectKeyId ?? keyIdentifier(this.cert.subjectPublicKeyDer);
  }

  /** SHA-256 of the root certificate PEM, lowercase hex (see {@link rootDigestHex}). */
  digestHex(): string {
    return rootDigestHex(this.certPem);
  }

  /**
   * Signs a node certificate for the key in `csrPem` (self-signature verified first; a bad CSR is an
   * InvalidArgumentError). Subject O=cluster id, OU=role, CN=node id; DNS SANs role name, node id, and
   * `swarm-ca` for managers; digitalSignature+keyEncipherment, serverAuth+clientAuth; NotBefore an hour back,
   * NotAfter now + expiryMs but never past the root's own NotAfter. Returns the certificate PEM.
   */
  issueNodeCertificate(csrPem: string, opts: IssueOptions): string {
    validateId('nodeId', opts.nodeId);
    validateId('clusterId', opts.clusterId);
    const ou = ouForRole(opts.role);
    validateNodeCertExpiryMs(opts.expiryMs);
    const csr = verifyCsr(csrPem);
    const now = this.env.clock.now();
    const sans = [ou, opts.nodeId];
    if (ou === MANAGER_OU) sans.push(CA_COMMON_NAME);
    const der = buildCertificate(
      {
        serial: randomSerial(this.env.rng.bytes(SERIAL_BYTES)),
        issuerNameDer: this.cert.subjectNameDer,
        subject: [
          { oid: OID.organizationName, value: opts.clusterId },
          { oid: OID.organizationalUnitName, value: ou },
          { oid: OID.commonName, value: opts.nodeId },
        ],
        notBeforeMs: now - CERT_BACKDATE_MS,
        notAfterMs: Math.min(now + opts.expiryMs, this.cert.notAfterMs),
        subjectPublicKeyDer: csr.subjectPublicKeyDer,
        extensions: [
          keyUsageExt([KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]),
          extKeyUsageExt([OID.serverAuth, OID.clientAuth]),
          basicConstraintsExt(false),
          subjectKeyIdExt(csr.subjectPublicKeyDer),
          authorityKeyIdExt(this.keyId),
          dnsSanExt(sans),
        ],
      },
      this.key,
    );
    return certificateToPem(der);
  }

  /** True when `certPem` was signed by this root's key (signature only; validity is the caller's concern). */
  signed(certPem: string): boolean {
    const c = parseCertificate(certPem);
    return verifyCertificateSignature(c.der, this.cert.publicKey);
  }
}

/** Role names as used by tokens and the CLI. */
export type RoleName = 'worker' | 'manager';

/** NodeRole for a role name. */
export function roleFromName(name: RoleName): NodeRole {
  if (name === 'manager') return NodeRole.MANAGER;
  if (name === 'worker') return NodeRole.WORKER;
  throw new InvalidArgumentError(`role: "${String(name)}" is not worker or manager`);
}
