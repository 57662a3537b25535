/**
 * X.509 v3 certificates, built as DER with forge's ASN.1 and signed over the exact TBS bytes with node:crypto
 * (RFC 5280 §4.1). Parsing reads the fields the CA needs (subject, validity, key, key identifiers) from the DER.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import {
  OID,
  Tag,
  bits,
  bool,
  children,
  context,
  decode,
  encode,
  fromPem,
  integer,
  integerBytes,
  octets,
  oid,
  primitiveBytes,
  readOid,
  readTime,
  readTlv,
  seq,
  set,
  time,
  toPem,
  utf8,
  type Asn1,
} from './asn1-der.js';
import { keyIdentifier, signSha256, signatureAlgorithmFor, signatureBits, verifySha256 } from './keys.js';

/** One attribute of a distinguished name, in the order it appears (one attribute per RDN). */
export interface NameAttribute {
  oid: string;
  value: string;
}

/** One certificate extension: its OID, criticality and DER-encoded value. */
export interface Extension {
  oid: string;
  critical: boolean;
  valueDer: Buffer;
}

/** Everything that goes into a certificate's TBS part except the signature algorithm (taken from the signer). */
export interface CertificateTemplate {
  /** Serial number content bytes: big-endian, positive, minimal (see {@link randomSerial}). */
  serial: Uint8Array;
  /** Issuer Name as DER, copied byte for byte from the issuer's subject so that chain building matches. */
  issuerNameDer: Buffer;
  subject: NameAttribute[];
  notBeforeMs: number;
  notAfterMs: number;
  /** SubjectPublicKeyInfo DER of the certified key. */
  subjectPublicKeyDer: Buffer;
  extensions: Extension[];
}

/** Name DER from attributes, one attribute per RDN SET, values as UTF8String. */
export function encodeName(attrs: NameAttribute[]): Buffer {
  return encode(seq(attrs.map((a) => set([seq([oid(a.oid), utf8(a.value)])]))));
}

/**
 * A serial number from 8..20 random bytes (the CA uses 16: 128 bits, 126 of them random): the top bit is
 * cleared so the INTEGER is positive and the next one set so its encoding is minimal (RFC 5280 §4.1.2.2).
 */
export function randomSerial(randomBytes: Uint8Array): Uint8Array {
  if (randomBytes.length < 8 || randomBytes.length > 20) throw new InvalidArgumentError(`serial: want 8..20 random bytes, got ${randomBytes.length}`);
  const s = Uint8Array.from(randomBytes);
  s[0] = (s[0]! & 0x7f) | 0x40;
  return s;
}

/** Builds the TBS, signs it with `signer` (SHA-256; ECDSA or RSA by key type) and returns the certificate DER. */
export function buildCertificate(t: CertificateTemplate, signer: KeyObject): Buffer {
  const sigAlg = signatureAlgorithmFor(signer);
  const fields: Asn1[] = [
    context(0, [integer(2)]), // version v3
    integerBytes(t.serial),
    sigAlg,
    decode(t.issuerNameDer),
    seq([time(t.notBeforeMs), time(t.notAfterMs)]),
    decode(encodeName(t.subject)),
    decode(t.subjectPublicKeyDer),
  ];
  if (t.extensions.length > 0) {
    fields.push(
      context(3, [
        seq(
          t.extensions.map((e) => {
            const parts: Asn1[] = [oid(e.oid)];
            if (e.critical) parts.push(bool(true));
            parts.push(octets(e.valueDer));
            return seq(parts);
          }),
        ),
      ]),
    );
  }
  const tbs = seq(fields);
  const tbsDer = encode(tbs);
  const signature = signSha256(tbsDer, signer);
  return encode(seq([decode(tbsDer), signatureAlgorithmFor(signer), signatureBits(signature)]));
}

/** Certificate DER → PEM. */
export function certificateToPem(der: Uint8Array): string {
  return toPem('CERTIFICATE', der);
}

// ---- extension values ----

/** basicConstraints: CA or end entity. */
export function basicConstraintsExt(ca: boolean): Extension {
  return { oid: OID.basicConstraints, critical: true, valueDer: encode(seq(ca ? [bool(true)] : [])) };
}

/** Key usage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first byte. */
export const KeyUsageBit = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** keyUsage with the given bits, as a DER named-bit BIT STRING (trailing zero bits dropped). */
export function keyUsageExt(bitsSet: number[]): Extension {
  if (bitsSet.length === 0 || bitsSet.some((b) => b < 0 || b > 7)) throw new InvalidArgumentError('keyUsage: want bits 0..7, at least one');
  let v = 0;
  for (const b of bitsSet) v |= 0x80 >> b;
  const unused = 7 - Math.max(...bitsSet);
  const node = bits(Buffer.from([v]), unused);
  return { oid: OID.keyUsage, critical: true, valueDer: encode(node) };
}

/** extKeyUsage: the given purposes. */
export function extKeyUsageExt(purposes: string[]): Extension {
  return { oid: OID.extKeyUsage, critical: false, valueDer: encode(seq(purposes.map((p) => oid(p)))) };
}

/** subjectKeyIdentifier of a public key. */
export function subjectKeyIdExt(spki: Buffer): Extension {
  return { oid: OID.subjectKeyIdentifier, critical: false, valueDer: encode(octets(keyIdentifier(spki))) };
}

/** authorityKeyIdentifier naming the issuer key by its key identifier. */
export function authorityKeyIdExt(issuerKeyId: Buffer): Extension {
  return { oid: OID.authorityKeyIdentifier, critical: false, valueDer: encode(seq([context(0, issuerKeyId)])) };
}

/** subjectAltName with DNS names. */
export function dnsSanExt(names: string[]): Extension {
  return { oid: OID.subjectAltName, critical: false, valueDer: encode(seq(names.map((n) => context(2, Buffer.from(n, 'ascii'))))) };
}

// ---- parsing ----

/** The fields of a certificate the CA and the transport read. */
export interface ParsedCertificate {
  der: Buffer;
  /** Serial number as lowercase hex of its content bytes. */
  serialHex: string;
  subject: NameAttribute[];
  issuer: NameAttribute[];
  /** Raw DER of the subject Name (used as the issuer of certificates this one signs). */
  subjectNameDer: Buffer;
  notBeforeMs: number;
  notAfterMs: number;
  subjectPublicKeyDer: Buffer;
  publicKey: KeyObject;
  /** subjectKeyIdentifier, when present. */
  subjectKeyId?: Buffer;
  /** keyIdentifier of authorityKeyIdentifier, when present. */
  authorityKeyId?: Buffer;
  /** DNS subjectAltNames. */
  dnsNames: string[];
  isCA: boolean;
}

function readName(node: Asn1, what: string): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const rdn of children(node, what)) {
    for (const atv of children(rdn, what)) {
      const [t, v] = children(atv, what, 2);
      const raw = primitiveBytes(v!, what);
      // UTF8String, PrintableString, IA5String all read as UTF-8 here (the latter two are ASCII subsets).
      out.push({ oid: readOid(t!), value: raw.toString('utf8') });
    }
  }
  return out;
}

/** Parses certificate DER (or the first CERTIFICATE block of a PEM string). `field` names it in errors. */
export function parseCertificate(input: string | Uint8Array, field = 'certificate'): ParsedCertificate {
  const der = typeof input === 'string' ? fromPem(input, 'CERTIFICATE', field) : Buffer.from(input);
  try {
    return parseCertificateDer(der, field);
  } catch (e) {
    if (e instanceof InvalidArgumentError && e.message.startsWith(field)) throw e;
    throw new InvalidArgumentError(`${field}: ${(e as Error).message}`);
  }
}

function parseCertificateDer(der: Buffer, field: string): ParsedCertificate {
  const [tbs] = children(decode(der), field, 3);
  const tf = children(tbs!, field, 6);
  let i = 0;
  if (tf[0]!.tagClass === Tag.Class.CONTEXT_SPECIFIC && tf[0]!.type === 0) i = 1;
  if (tf.length < i + 6) throw new InvalidArgumentError(`${field}: TBSCertificate has ${tf.length} fields, want at least ${i + 6}`);
  const serial = primitiveBytes(tf[i]!, `${field} serial`);
  const issuer = readName(tf[i + 2]!, `${field} issuer`);
  const [nb, na] = children(tf[i + 3]!, `${field} validity`, 2);
  const subject = readName(tf[i + 4]!, `${field} subject`);
  const spkiNode = tf[i + 5]!;
  const subjectPublicKeyDer = encode(spkiNode);
  // The subject Name's exact bytes: walk the TBS with the raw reader (re-encoding could change non-DER input).
  const tbsTlv = readTlv(der, readTlv(der, 0).contentStart);
  let p = tbsTlv.contentStart;
  const skip = i + 4; // elements before subject
  for (let k = 0; k < skip; k++) p = readTlv(der, p).end;
  const subjTlv = readTlv(der, p);
  const subjectNameDer = der.subarray(subjTlv.start, subjTlv.end);

  const out: ParsedCertificate = {
    der,
    serialHex: serial.toString('hex'),
    subject,
    issuer,
    subjectNameDer: Buffer.from(subjectNameDer),
    notBeforeMs: readTime(nb!),
    notAfterMs: readTime(na!),
    subjectPublicKeyDer,
    publicKey: createPublicKey({ key: subjectPublicKeyDer, format: 'der', type: 'spki' }),
    dnsNames: [],
    isCA: false,
  };
  for (const f of tf.slice(i + 6)) {
    if (f.tagClass !== Tag.Class.CONTEXT_SPECIFIC || f.type !== 3) continue;
    const [exts] = children(f, `${field} extensions`, 1);
    for (const ext of children(exts!, `${field} extensions`)) {
      const parts = children(ext, `${field} extension`, 2);
      const id = readOid(parts[0]!);
      const value = primitiveBytes(parts[parts.length - 1]!, `${field} extension ${id}`);
      // Only the extensions read here are decoded; others stay opaque (their contents need not be strict DER).
      if (![OID.subjectKeyIdentifier, OID.authorityKeyIdentifier, OID.subjectAltName, OID.basicConstraints].includes(id as never)) continue;
      const v = decode(value);
      if (id === OID.subjectKeyIdentifier) out.subjectKeyId = primitiveBytes(v, `${field} subjectKeyIdentifier`);
      else if (id === OID.authorityKeyIdentifier) {
        for (const c of children(v, `${field} authorityKeyIdentifier`)) {
          if (c.tagClass === Tag.Class.CONTEXT_SPECIFIC && c.type === 0) out.authorityKeyId = primitiveBytes(c, `${field} authorityKeyIdentifier`);
        }
      } else if (id === OID.subjectAltName) {
        for (const c of children(v, `${field} subjectAltName`)) {
          if (c.tagClass === Tag.Class.CONTEXT_SPECIFIC && c.type === 2) out.dnsNames.push(primitiveBytes(c, `${field} subjectAltName`).toString('ascii'));
        }
      } else if (id === OID.basicConstraints) {
        const bc = children(v, `${field} basicConstraints`);
        out.isCA = bc.length > 0 && bc[0]!.type === Tag.Type.BOOLEAN && primitiveBytes(bc[0]!, `${field} basicConstraints`)[0] !== 0;
      }
    }
  }
  return out;
}

/** True when `cert`'s signature verifies with `issuerKey` (SHA-256, ECDSA or RSA); false for any other key. */
export function verifyCertificateSignature(cert: Uint8Array, issuerKey: KeyObject): boolean {
  const der = Buffer.from(cert);
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.contentStart);
  const [, alg, sig] = children(decode(der), 'certificate', 3);
  const sigBytes = primitiveBytes(sig!, 'certificate signature').subarray(1);
  try {
    return verifySha256(der.subarray(tbs.start, tbs.end), sigBytes, issuerKey, alg!, 'certificate');
  } catch (e) {
    // A signature algorithm that does not fit the key type means this key did not sign it.
    if (e instanceof InvalidArgumentError) return false;
    throw e;
  }
}

/** The value of the first name attribute with `oidDotted`, or undefined. */
export function nameValue(attrs: NameAttribute[], oidDotted: string): string | undefined {
  return attrs.find((a) => a.oid === oidDotted)?.value;
}
