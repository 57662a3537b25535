import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { InvalidArgumentError, NodeRole } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import {
  checkRootAgainstToken,
  createRootCA,
  generateJoinTokens,
  parseJoinToken,
  roleForToken,
  rotateJoinToken,
  tokenDigestOf,
} from '../../../src/host/ca/index.js';
import { fixedClock } from './helpers.js';

const clock = fixedClock(Date.UTC(2026, 0, 1));
const rootA = createRootCA({ clock, rng: new SeededRng(10) });
const rootB = createRootCA({ clock, rng: new SeededRng(11) });
const TOKEN_RE = /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/;

test('tokens have SwarmKit v1 format and the digest is the root PEM SHA-256 in base 36', () => {
  const t = generateJoinTokens(rootA.certPem, new SeededRng(1));
  assert.match(t.worker, TOKEN_RE);
  assert.match(t.manager, TOKEN_RE);
  assert.notEqual(t.worker, t.manager);
  const sha = createHash('sha256').update(rootA.certPem).digest('hex');
  const expected = BigInt('0x' + sha).toString(36).padStart(50, '0');
  assert.equal(parseJoinToken(t.worker).digest, expected);
  assert.equal(parseJoinToken(t.manager).digest, expected);
  assert.equal(tokenDigestOf(rootA.certPem), expected);
});

test('a token secret is 16 random bytes in base 36, zero-padded to 25', () => {
  // An rng that returns zero bytes yields an all-zero secret: the padding is visible.
  const zero = { next: () => 0, int: () => 0, bytes: (n: number) => new Uint8Array(n) };
  const t = generateJoinTokens(rootA.certPem, zero);
  assert.equal(parseJoinToken(t.worker).secret, '0'.repeat(25));
  const ones = { next: () => 0, int: () => 0, bytes: (n: number) => new Uint8Array(n).fill(0xff) };
  assert.equal(parseJoinToken(generateJoinTokens(rootA.certPem, ones).worker).secret, (2n ** 128n - 1n).toString(36));
});

test('malformed tokens are refused with "invalid join token"', () => {
  const good = generateJoinTokens(rootA.certPem, new SeededRng(2)).worker;
  const [, , digest, secret] = good.split('-') as [string, string, string, string];
  const bad = [
    '',
    'SWMTKN',
    good.slice(0, -1),
    good + 'a',
    good.replace('SWMTKN', 'SWMTKX'),
    good.replace('SWMTKN-1', 'SWMTKN-3'),
    `SWMTKN-1-${digest}`,
    `SWMTKN-1-${digest}-${secret}-extra`,
    `SWMTKN-1-${digest.slice(1)}-${secret}`,
    `SWMTKN-1-${digest}-${secret.slice(1)}`,
    `SWMTKN-1-${digest.toUpperCase()}-${secret}`,
    `SWMTKN-1-${digest}-${secret.slice(0, 24)}!`,
    `SWMTKN-1-${'z'.repeat(50)}-${secret}`, // more than 256 bits
    `SWMTKN-2-7-${digest}-${secret}`,
  ];
  for (const b of bad) {
    assert.throws(() => parseJoinToken(b), (e) => e instanceof InvalidArgumentError && e.message === 'invalid join token', b);
  }
  assert.equal(parseJoinToken(`SWMTKN-2-1-${digest}-${secret}`).fips, true);
  assert.equal(parseJoinToken(good).version, 1);
});

test('the token\'s role decides the role: manager token → MANAGER, worker token → WORKER', () => {
  const t = generateJoinTokens(rootA.certPem, new SeededRng(3));
  assert.equal(roleForToken(t, t.manager), NodeRole.MANAGER);
  assert.equal(roleForToken(t, t.worker), NodeRole.WORKER);
});

test('a wrong, near-miss or foreign-cluster token is refused with SwarmKit\'s message', () => {
  const t = generateJoinTokens(rootA.certPem, new SeededRng(4));
  const foreign = generateJoinTokens(rootB.certPem, new SeededRng(4));
  const last = t.worker.at(-1) === 'a' ? 'b' : 'a';
  for (const bad of [t.worker.slice(0, -1) + last, t.worker.slice(0, -1), t.worker + '0', '', 'garbage', foreign.worker, foreign.manager]) {
    assert.throws(
      () => roleForToken(t, bad),
      (e) => e instanceof InvalidArgumentError && e.message === 'A valid join token is necessary to join this cluster',
      bad,
    );
  }
});

test('when both tokens are equal the manager role wins (manager is compared first)', () => {
  const t = generateJoinTokens(rootA.certPem, new SeededRng(5));
  assert.equal(roleForToken({ worker: t.manager, manager: t.manager }, t.manager), NodeRole.MANAGER);
});

test('rotating the worker token keeps the digest, changes the secret, leaves the manager token, and the old one stops working', () => {
  const rng = new SeededRng(6);
  const t = generateJoinTokens(rootA.certPem, rng);
  const r = rotateJoinToken(t, 'worker', rng);
  assert.equal(r.manager, t.manager);
  assert.notEqual(r.worker, t.worker);
  assert.match(r.worker, TOKEN_RE);
  assert.equal(parseJoinToken(r.worker).digest, parseJoinToken(t.worker).digest);
  assert.throws(() => roleForToken(r, t.worker), /A valid join token is necessary/);
  assert.equal(roleForToken(r, r.worker), NodeRole.WORKER);
  const m = rotateJoinToken(r, 'manager', rng);
  assert.equal(m.worker, r.worker);
  assert.throws(() => roleForToken(m, t.manager), /A valid join token is necessary/);
  assert.equal(roleForToken(m, m.manager), NodeRole.MANAGER);
  assert.throws(() => rotateJoinToken(t, 'admin' as 'worker', rng), /role: "admin"/);
});

test('a joining node accepts the root its token pins and refuses another with the expected fingerprint', () => {
  const t = generateJoinTokens(rootA.certPem, new SeededRng(7));
  assert.doesNotThrow(() => checkRootAgainstToken(rootA.certPem, t.worker));
  const hex = createHash('sha256').update(rootA.certPem).digest('hex');
  assert.throws(
    () => checkRootAgainstToken(rootB.certPem, t.worker),
    (e) => e instanceof InvalidArgumentError && e.message === `remote CA does not match fingerprint. Expected: ${hex}`,
  );
  // The digest covers the PEM bytes as served: a changed byte (even whitespace) is another root.
  assert.throws(() => checkRootAgainstToken(rootA.certPem + '\n', t.worker), /remote CA does not match fingerprint/);
  assert.throws(() => checkRootAgainstToken(rootA.certPem, 'SWMTKN-1-short-x'), /invalid join token/);
});
