/**
 * Key pairs and signatures through node:crypto. forge cannot handle EC keys (see docs/ca.md), so keys never
 * pass through forge: only their SPKI/PKCS#8 DER does.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import { OID, bits, children, decode, nullValue, oid, primitiveBytes, readOid, seq, type Asn1 } from './asn1-der.js';

/**
 * Key algorithms the CA knows. `p256` (ECDSA on prime256v1) is what every swarmhost key uses, as in SwarmKit;
 * `rsa2048` exists for the RSA baseline of the TLS benchmark and to accept RSA CSRs from other tooling.
 */
export type KeyAlgorithm = 'p256' | 'rsa2048';

/** A generated key pair: the private key as PKCS#8 PEM (what goes to disk) and both as KeyObjects. */
export interface KeyPair {
  privateKeyPem: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Generates a key pair (P-256: about 0.1 ms; RSA-2048: about 150 ms on this machine). */
export function generateKeyPair(algorithm: KeyAlgorithm = 'p256'): KeyPair {
  const { privateKey, publicKey } =
    algorithm === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, privateKey, publicKey };
}

/** Loads a PEM private key (PKCS#8 or SEC1/PKCS#1); `field` names the input in the error. */
export function loadPrivateKey(pem: string, field: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new InvalidArgumentError(`${field}: not a readable PEM private key (${(e as Error).message})`);
  }
}

/** SPKI DER of a public (or private) key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/**
 * Checks an SPKI is a key the CA accepts — EC on P-256 or RSA of at least 2048 bits — and returns it as a
 * KeyObject. `field` names the input in the error.
 */
export function acceptedPublicKey(spki: Buffer, field: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new InvalidArgumentError(`${field}: unreadable public key (${(e as Error).message})`);
  }
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve !== 'prime256v1') throw new InvalidArgumentError(`${field}: EC keys must use curve P-256, got ${String(d.namedCurve)}`);
  } else if (key.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < 2048) throw new InvalidArgumentError(`${field}: RSA keys must have at least 2048 bits, got ${String(d.modulusLength)}`);
  } else {
    throw new InvalidArgumentError(`${field}: key type ${String(key.asymmetricKeyType)} is not accepted (want EC P-256 or RSA >= 2048)`);
  }
  return key;
}

/** The AlgorithmIdentifier of the SHA-256 signature a key of this type makes. */
export function signatureAlgorithmFor(key: KeyObject): Asn1 {
  if (key.asymmetricKeyType === 'ec') return seq([oid(OID.ecdsaWithSHA256)]);
  if (key.asymmetricKeyType === 'rsa') return seq([oid(OID.sha256WithRSAEncryption), nullValue()]);
  throw new InvalidArgumentError(`signing key: type ${String(key.asymmetricKeyType)} cannot sign (want EC or RSA)`);
}

/** Signs bytes with SHA-256 (ECDSA signatures DER-encoded, RSA PKCS#1 v1.5), as X.509 and PKCS#10 expect. */
export function signSha256(data: Uint8Array, key: KeyObject): Buffer {
  return sign('sha256', data, key);
}

/**
 * Verifies a SHA-256 signature made with `key`, checking first that `algorithm` (an AlgorithmIdentifier) is the
 * one that fits the key type. Returns false on a bad signature; throws on an unsupported algorithm.
 */
export function verifySha256(data: Uint8Array, signature: Uint8Array, key: KeyObject, algorithm: Asn1, field: string): boolean {
  const alg = readOid(children(algorithm, `${field} signature algorithm`, 1)[0]!);
  const want = key.asymmetricKeyType === 'ec' ? OID.ecdsaWithSHA256 : OID.sha256WithRSAEncryption;
  if (alg !== want) {
    throw new InvalidArgumentError(`${field}: signature algorithm ${alg} is not accepted for a ${String(key.asymmetricKeyType)} key (want ${want})`);
  }
  try {
    return verify('sha256', data, key, signature);
  } catch {
    return false;
  }
}

/** The BIT STRING node of a signature. */
export function signatureBits(sig: Uint8Array): Asn1 {
  return bits(sig, 0);
}

/**
 * The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents
 * (used for both subjectKeyIdentifier and authorityKeyIdentifier).
 */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, bitString] = children(decode(spki), 'public key', 2);
  const content = primitiveBytes(bitString!, 'public key');
  return createHash('sha1').update(content.subarray(1)).digest();
}
