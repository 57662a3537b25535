/**
 * The small ASN.1/DER toolkit the CA builds its certificates and CSRs from. node-forge's `asn1` module does the
 * encoding (it is the user's choice for PKI encoding); this file adds the typed helpers, the OIDs we use, PEM
 * armour, and a raw TLV reader that slices exact byte spans out of DER (a signature covers the bytes as
 * received, so they must never be re-encoded before verifying).
 *
 * forge works on "binary strings" (one char per byte); everything exported here takes and returns Buffers.
 */
import forge from 'node-forge';
import { InvalidArgumentError } from '../api/errors.js';

const asn1 = forge.asn1;
type Asn1 = forge.asn1.Asn1;

/** The object identifiers the CA writes or reads, dotted form. */
export const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Buffer → forge binary string. */
export function toBin(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('binary');
}

/** forge binary string → Buffer. */
export function fromBin(s: string): Buffer {
  return Buffer.from(s, 'binary');
}

/** DER encoding of a forge ASN.1 node. */
export function encode(node: Asn1): Buffer {
  return fromBin(asn1.toDer(node).getBytes());
}

/**
 * Parses DER with forge, strictly and without guessing that BIT STRING contents are nested ASN.1 (a public key
 * or a signature inside a BIT STRING must stay opaque bytes). Malformed input is an InvalidArgumentError.
 */
export function decode(der: Uint8Array): Asn1 {
  const fromDer = asn1.fromDer as unknown as (bytes: string, opts: object) => Asn1;
  try {
    return fromDer(toBin(der), { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch (e) {
    throw new InvalidArgumentError(`DER: ${(e as Error).message}`);
  }
}

/** SEQUENCE of the given nodes. */
export function seq(items: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

/** SET of the given nodes (callers pass a single element or DER-sorted elements). */
export function set(items: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
}

/** OBJECT IDENTIFIER from dotted form. */
export function oid(dotted: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

/** INTEGER from its big-endian two's-complement content bytes (the caller keeps them minimal and positive). */
export function integerBytes(content: Uint8Array): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, toBin(content));
}

/** INTEGER from a small non-negative number. */
export function integer(n: number): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
}

/** BOOLEAN. */
export function bool(v: boolean): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, v ? '\xff' : '\x00');
}

/** NULL (the parameters of an RSA algorithm identifier). */
export function nullValue(): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '');
}

/** UTF8String. */
export function utf8(s: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(s));
}

/** OCTET STRING. */
export function octets(b: Uint8Array): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, toBin(b));
}

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export function bits(b: Uint8Array, unusedBits = 0): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(unusedBits) + toBin(b));
}

/** A context-specific tag `[n]`: constructed (EXPLICIT wrapping) or primitive (IMPLICIT bytes). */
export function context(n: number, value: Asn1[] | Uint8Array): Asn1 {
  if (Array.isArray(value)) return asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, true, value);
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, false, toBin(value as Uint8Array));
}

/**
 * An X.509 Time: UTCTime for years 1950–2049 and GeneralizedTime otherwise, as RFC 5280 §4.1.2.5 requires.
 * Sub-second parts are dropped (callers pass whole seconds).
 */
export function time(ms: number): Asn1 {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  if (y >= 1950 && y < 2050) {
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d));
  }
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

/** Reads an X.509 Time node back to ms since the epoch. */
export function readTime(node: Asn1): number {
  const v = node.value as string;
  if (node.type === asn1.Type.UTCTIME) return asn1.utcTimeToDate(v).getTime();
  if (node.type === asn1.Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(v).getTime();
  throw new InvalidArgumentError(`certificate: validity time has ASN.1 type ${node.type}, want UTCTime or GeneralizedTime`);
}

/** Dotted OID of an OBJECT IDENTIFIER node. */
export function readOid(node: Asn1): string {
  if (node.type !== asn1.Type.OID || node.constructed) throw new InvalidArgumentError('ASN.1: expected an OBJECT IDENTIFIER');
  return asn1.derToOid(node.value as string);
}

/** Children of a constructed node, checked to be a SEQUENCE/SET (or context tag) with at least `min` items. */
export function children(node: Asn1, what: string, min = 0): Asn1[] {
  if (!node.constructed || !Array.isArray(node.value) || node.value.length < min) {
    throw new InvalidArgumentError(`${what}: malformed ASN.1 structure`);
  }
  return node.value;
}

/** Bytes of a primitive node (e.g. OCTET STRING, INTEGER); for a BIT STRING the first byte is the padding count. */
export function primitiveBytes(node: Asn1, what: string): Buffer {
  if (node.constructed || typeof node.value !== 'string') throw new InvalidArgumentError(`${what}: expected a primitive ASN.1 value`);
  return fromBin(node.value);
}

/** The ASN.1 node type enums, re-exported so that callers need not import forge. */
export const Tag = { Class: asn1.Class, Type: asn1.Type } as const;
export type { Asn1 };

/** One DER TLV located inside a buffer: where its header starts, where its content starts and ends. */
export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/**
 * Reads the DER TLV at `offset` without decoding it, so that a caller can slice the exact signed bytes (the
 * TBS part of a certificate or CSR). Definite lengths only, as DER requires.
 */
export function readTlv(der: Uint8Array, offset: number): Tlv {
  const fail = (): never => {
    throw new InvalidArgumentError('DER: truncated or indefinite-length element');
  };
  if (offset + 2 > der.length) fail();
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new InvalidArgumentError('DER: multi-byte tags are not supported');
  let len = der[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) fail();
    if (p + n > der.length) fail();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
    p += n;
  }
  if (p + len > der.length) fail();
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** PEM armour around DER bytes, 64 base64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The DER bytes of every PEM block with `label` in `pem`, in order. Throws InvalidArgumentError naming `field`
 * when there is none.
 */
export function fromPemAll(pem: string, label: string, field: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  const out: Buffer[] = [];
  for (const m of pem.matchAll(re)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  if (out.length === 0) throw new InvalidArgumentError(`${field}: no PEM block "${label}" found`);
  return out;
}

/** The DER bytes of the first PEM block with `label`. */
export function fromPem(pem: string, label: string, field: string): Buffer {
  return fromPemAll(pem, label, field)[0]!;
}
