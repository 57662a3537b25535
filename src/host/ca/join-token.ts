/**
 * Join tokens in SwarmKit's v1 format, `SWMTKN-1-<digest>-<secret>`: the digest pins the root CA (SHA-256 of
 * its PEM bytes, base 36, 50 chars) so a joining node can check the CA it reached; the secret (16 random bytes,
 * base 36, 25 chars) is what authorizes the join and decides the role. Worker and manager tokens share the
 * digest and differ in the secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../api/errors.js';
import { NodeRole, type JoinTokens } from '../api/objects.js';
import type { Rng } from '../env/rng.js';
import type { RoleName } from './root-ca.js';

/** Token prefix. */
export const JOIN_TOKEN_PREFIX = 'SWMTKN';
/** Length of the digest field, base-36 characters (covers 256 bits). */
export const TOKEN_DIGEST_CHARS = 50;
/** Length of the secret field, base-36 characters (covers 128 bits). */
export const TOKEN_SECRET_CHARS = 25;
/** Random bytes in a token secret. */
export const TOKEN_SECRET_BYTES = 16;

const BASE36_RE = /^[0-9a-z]+$/;

/** The parts of a parsed token. `fips` is only meaningful for v2 tokens. */
export interface ParsedJoinToken {
  version: 1 | 2;
  fips: boolean;
  /** Root CA digest, base 36 (50 chars). */
  digest: string;
  /** Secret, base 36 (25 chars). */
  secret: string;
}

/** Big-endian bytes → lowercase base 36, left-padded with zeros to `width`. */
export function bytesToBase36(bytes: Uint8Array, width: number): string {
  const n = bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes).toString('hex'));
  return n.toString(36).padStart(width, '0');
}

/** Base-36 digest → hex of the 32-byte SHA-256 it encodes. */
export function base36DigestToHex(digest: string): string {
  let n = 0n;
  for (const ch of digest) n = n * 36n + BigInt(parseInt(ch, 36));
  return n.toString(16).padStart(64, '0');
}

/** The token digest field of a root CA PEM: SHA-256 of its bytes, base 36, 50 chars. */
export function tokenDigestOf(rootPem: string): string {
  return bytesToBase36(createHash('sha256').update(rootPem, 'utf8').digest(), TOKEN_DIGEST_CHARS);
}

function newSecret(rng: Rng): string {
  return bytesToBase36(rng.bytes(TOKEN_SECRET_BYTES), TOKEN_SECRET_CHARS);
}

/**
 * Parses a token. v1 `SWMTKN-1-<digest>-<secret>` and v2 `SWMTKN-2-<0|1>-<digest>-<secret>`; anything else,
 * or fields of the wrong length or alphabet, is an InvalidArgumentError "invalid join token".
 */
export function parseJoinToken(token: string): ParsedJoinToken {
  const bad = (): never => {
    throw new InvalidArgumentError('invalid join token');
  };
  if (typeof token !== 'string') return bad();
  const parts = token.split('-');
  if (parts[0] !== JOIN_TOKEN_PREFIX) return bad();
  let version: 1 | 2;
  let fips = false;
  let rest: string[];
  if (parts.length === 4 && parts[1] === '1') {
    version = 1;
    rest = parts.slice(2);
  } else if (parts.length === 5 && parts[1] === '2' && (parts[2] === '0' || parts[2] === '1')) {
    version = 2;
    fips = parts[2] === '1';
    rest = parts.slice(3);
  } else {
    return bad();
  }
  const [digest, secret] = rest as [string, string];
  if (digest.length !== TOKEN_DIGEST_CHARS || secret.length !== TOKEN_SECRET_CHARS) return bad();
  if (!BASE36_RE.test(digest) || !BASE36_RE.test(secret)) return bad();
  // The digest must fit 256 bits and the secret 128 bits (a 50/25-char base-36 string can hold a little more).
  if (BigInt('0x' + base36DigestToHex(digest)) >> 256n !== 0n) return bad();
  return { version, fips, digest, secret };
}

/** A v1 token for a root CA PEM with a fresh secret from `rng`. */
export function generateJoinToken(rootPem: string, rng: Rng): string {
  return `${JOIN_TOKEN_PREFIX}-1-${tokenDigestOf(rootPem)}-${newSecret(rng)}`;
}

/** Fresh worker and manager tokens for a root CA (at cluster creation, and when a root rotation finishes). */
export function generateJoinTokens(rootPem: string, rng: Rng): JoinTokens {
  return { worker: generateJoinToken(rootPem, rng), manager: generateJoinToken(rootPem, rng) };
}

/**
 * Replaces one role's token with a new secret and the same digest; the other token is kept. The old token stops
 * authorizing joins as soon as the cluster object holds the new value.
 */
export function rotateJoinToken(tokens: JoinTokens, role: RoleName, rng: Rng): JoinTokens {
  if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`role: "${String(role)}" is not worker or manager`);
  const current = parseJoinToken(tokens[role]);
  const prefix = current.version === 1 ? `${JOIN_TOKEN_PREFIX}-1` : `${JOIN_TOKEN_PREFIX}-2-${current.fips ? 1 : 0}`;
  return { ...tokens, [role]: `${prefix}-${current.digest}-${newSecret(rng)}` };
}

function constantTimeEquals(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // Compare equal-length buffers always, so the time depends on the length only (tokens have a fixed length).
  if (ab.length !== bb.length) {
    timingSafeEqual(bb, bb);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/**
 * The role a presented token grants: compared with the manager token, then the worker token, each in constant
 * time and both always compared. No match is an InvalidArgumentError "A valid join token is necessary to join
 * this cluster".
 */
export function roleForToken(tokens: JoinTokens, token: string): NodeRole {
  const t = typeof token === 'string' ? token : '';
  const isManager = constantTimeEquals(t, tokens.manager);
  const isWorker = constantTimeEquals(t, tokens.worker);
  if (isManager) return NodeRole.MANAGER;
  if (isWorker) return NodeRole.WORKER;
  throw new InvalidArgumentError('A valid join token is necessary to join this cluster');
}

/**
 * Checks that the root CA PEM a joining node downloaded is the one its token pins. A mismatch is an
 * InvalidArgumentError "remote CA does not match fingerprint. Expected: <hex of the token's digest>".
 */
export function checkRootAgainstToken(rootPem: string, token: string): void {
  const parsed = parseJoinToken(token);
  if (tokenDigestOf(rootPem) !== parsed.digest) {
    throw new InvalidArgumentError(`remote CA does not match fingerprint. Expected: ${base36DigestToHex(parsed.digest)}`);
  }
}
