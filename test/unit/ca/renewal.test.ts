import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeRole } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import {
  DEFAULT_NODE_CERT_EXPIRY_MS,
  RootCertificateAuthority,
  createRootCA,
  generateKeyAndCsr,
  nextRenewalAt,
  renewalBackoffMs,
} from '../../../src/host/ca/index.js';
import { fixedClock } from './helpers.js';

const HOUR = 3_600_000;

test('renewal times fall uniformly between 50% and 80% of the validity over many draws', () => {
  const rng = new SeededRng(99);
  const v = { notBeforeMs: 1_000_000, notAfterMs: 1_000_000 + 2160 * HOUR };
  const span = v.notAfterMs - v.notBeforeMs;
  const n = 20_000;
  const buckets = new Array<number>(10).fill(0);
  let sum = 0;
  let min = 1;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const f = (nextRenewalAt(v, v.notBeforeMs, rng) - v.notBeforeMs) / span;
    assert.ok(f >= 0.5 && f < 0.8, `fraction ${f}`);
    sum += f;
    min = Math.min(min, f);
    max = Math.max(max, f);
    buckets[Math.min(9, Math.floor(((f - 0.5) / 0.3) * 10))]! += 1;
  }
  const mean = sum / n;
  assert.ok(Math.abs(mean - 0.65) < 0.005, `mean ${mean}`);
  assert.ok(min < 0.502 && max > 0.798, `range ${min}..${max}`);
  // Each tenth of the window gets about 10% of the draws (binomial sd ≈ 0.2%, allow 1.5%).
  for (const b of buckets) assert.ok(Math.abs(b / n - 0.1) < 0.015, `bucket share ${b / n}`);
});

test('renewal times are whole minutes after NotBefore for long certificates', () => {
  const rng = new SeededRng(5);
  const v = { notBeforeMs: 0, notAfterMs: 90 * 24 * HOUR };
  for (let i = 0; i < 100; i++) assert.equal(nextRenewalAt(v, 0, rng) % 60_000, 0);
});

test('an expired certificate renews at once, and so does one already past its window', () => {
  const rng = new SeededRng(1);
  const v = { notBeforeMs: 0, notAfterMs: 10 * HOUR };
  assert.equal(nextRenewalAt(v, 11 * HOUR, rng), 11 * HOUR);
  assert.equal(nextRenewalAt(v, 10 * HOUR, rng), 10 * HOUR);
  assert.equal(nextRenewalAt(v, 9 * HOUR, rng), 9 * HOUR);
  const early = nextRenewalAt(v, 1 * HOUR, rng);
  assert.ok(early >= 5 * HOUR && early < 8 * HOUR);
});

test('the renewal time of an issued certificate reads its validity from the PEM', () => {
  const clock = fixedClock(Date.UTC(2026, 5, 1));
  const rng = new SeededRng(3);
  const ca = new RootCertificateAuthority(createRootCA({ clock, rng }), { clock, rng });
  const cert = ca.issueNodeCertificate(generateKeyAndCsr().csrPem, { nodeId: 'n1', role: NodeRole.WORKER, clusterId: 'c1', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  const at = nextRenewalAt(cert, clock.now(), rng);
  const nb = clock.now() - HOUR;
  const span = DEFAULT_NODE_CERT_EXPIRY_MS + HOUR;
  assert.ok(at >= nb + 0.5 * span && at < nb + 0.8 * span);
});

test('failed renewals back off 5 s, 10 s, 15 s … up to 1 h', () => {
  assert.deepEqual([1, 2, 3, 4].map(renewalBackoffMs), [5_000, 10_000, 15_000, 20_000]);
  assert.equal(renewalBackoffMs(720), HOUR);
  assert.equal(renewalBackoffMs(10_000), HOUR);
  assert.throws(() => renewalBackoffMs(0), /failures: must be a whole number >= 1/);
});

test('a certificate whose NotAfter is not after NotBefore is refused', () => {
  assert.throws(() => nextRenewalAt({ notBeforeMs: 5, notAfterMs: 5 }, 0, new SeededRng(1)), /NotAfter must be after NotBefore/);
});
