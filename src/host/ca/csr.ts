/**
 * PKCS#10 certificate signing requests (RFC 2986): a joining or renewing node makes one with a fresh key; the CA
 * verifies its self-signature before it takes the public key from it. The CA ignores the CSR's subject: the
 * node id, role and cluster id come from the CA's own records.
 */
import type { KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import { OID, children, context, decode, encode, fromPem, integer, primitiveBytes, readTlv, seq, toPem, type Asn1 } from './asn1-der.js';
import { acceptedPublicKey, generateKeyPair, signSha256, signatureAlgorithmFor, signatureBits, spkiDer, verifySha256, type KeyAlgorithm } from './keys.js';
import { encodeName, type NameAttribute } from './x509.js';

/** Upper bound on a CSR accepted by the CA, in bytes of PEM text (a P-256 CSR is about 400; RSA-4096 about 1,700). */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

/** Builds a CSR for `privateKey` with the given subject and returns it as PEM ("CERTIFICATE REQUEST"). */
export function buildCsr(privateKey: KeyObject, subject: NameAttribute[]): string {
  const info = seq([
    integer(0),
    decode(encodeName(subject)),
    decode(spkiDer(privateKey)),
    context(0, []), // attributes: none
  ]);
  const infoDer = encode(info);
  const sig = signSha256(infoDer, privateKey);
  return toPem('CERTIFICATE REQUEST', encode(seq([decode(infoDer), signatureAlgorithmFor(privateKey), signatureBits(sig)])));
}

/** A fresh key and a CSR for it: what a node generates before joining or renewing. */
export interface KeyAndCsr {
  /** PKCS#8 PEM of the new private key (stays on the node). */
  keyPem: string;
  csrPem: string;
}

/**
 * Generates a P-256 key and a CSR for it. The subject CN is informative only (default `swarm-node`), since the
 * CA sets the certificate subject itself.
 */
export function generateKeyAndCsr(opts: { commonName?: string; algorithm?: KeyAlgorithm } = {}): KeyAndCsr {
  const kp = generateKeyPair(opts.algorithm ?? 'p256');
  return { keyPem: kp.privateKeyPem, csrPem: buildCsr(kp.privateKey, [{ oid: OID.commonName, value: opts.commonName ?? 'swarm-node' }]) };
}

/** A CSR whose self-signature has been checked. */
export interface VerifiedCsr {
  /** The requested public key (EC P-256 or RSA >= 2048), as SPKI DER. */
  subjectPublicKeyDer: Buffer;
  publicKey: KeyObject;
}

/**
 * Parses a PEM CSR, checks its structure, its key type and its self-signature over the exact bytes received.
 * Any failure is an InvalidArgumentError naming `csr` and what is wrong.
 */
export function verifyCsr(csrPem: string): VerifiedCsr {
  if (typeof csrPem !== 'string' || csrPem.length === 0) throw new InvalidArgumentError('csr: must be a non-empty PEM string');
  if (csrPem.length > MAX_CSR_PEM_BYTES) throw new InvalidArgumentError(`csr: ${csrPem.length} bytes is over the limit of ${MAX_CSR_PEM_BYTES}`);
  const der = fromPem(csrPem, 'CERTIFICATE REQUEST', 'csr');
  let root: Asn1;
  try {
    root = decode(der);
  } catch (e) {
    throw new InvalidArgumentError(`csr: ${(e as Error).message}`);
  }
  const [info, alg, sig] = children(root, 'csr', 3);
  const fields = children(info!, 'csr info', 3);
  const version = primitiveBytes(fields[0]!, 'csr version');
  if (version.length !== 1 || version[0] !== 0) throw new InvalidArgumentError('csr: version must be 0 (PKCS#10 v1)');
  const subjectPublicKeyDer = encode(fields[2]!);
  const publicKey = acceptedPublicKey(subjectPublicKeyDer, 'csr public key');
  const sigBits = primitiveBytes(sig!, 'csr signature');
  if (sigBits[0] !== 0) throw new InvalidArgumentError('csr: signature BIT STRING has padding bits');
  const outer = readTlv(der, 0);
  const infoTlv = readTlv(der, outer.contentStart);
  const ok = verifySha256(der.subarray(infoTlv.start, infoTlv.end), sigBits.subarray(1), publicKey, alg!, 'csr');
  if (!ok) throw new InvalidArgumentError('csr: signature does not verify with the public key it carries');
  return { subjectPublicKeyDer, publicKey };
}
