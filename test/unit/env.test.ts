import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, SimTimers, cryptoRng, withDeadline } from '../../src/host/env/index.js';

test('a seeded rng repeats its sequence for the same seed and differs for another', () => {
  const a = new SeededRng(42);
  const b = new SeededRng(42);
  const c = new SeededRng(43);
  const sa = Array.from({ length: 8 }, () => a.u32());
  const sb = Array.from({ length: 8 }, () => b.u32());
  const sc = Array.from({ length: 8 }, () => c.u32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('rng.int stays within [0, n) and covers the range', () => {
  const r = new SeededRng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const v = r.int(10);
    assert.ok(v >= 0 && v < 10 && Number.isInteger(v));
    seen.add(v);
  }
  assert.equal(seen.size, 10);
});

test('sim timers fire in due order, same-instant timers in set order, and cancelled ones never', () => {
  const t = new SimTimers(0);
  const fired: string[] = [];
  t.setTimeout(() => fired.push('b@20'), 20);
  t.setTimeout(() => fired.push('a@10'), 10);
  t.setTimeout(() => fired.push('c@10'), 10);
  const h = t.setTimeout(() => fired.push('cancelled'), 15);
  t.clearTimeout(h);
  t.advance(15);
  assert.deepEqual(fired, ['a@10', 'c@10']);
  assert.equal(t.now(), 15);
  t.advance(100);
  assert.deepEqual(fired, ['a@10', 'c@10', 'b@20']);
});

test('a timer set from inside a firing timer runs in the same advance when due', () => {
  const t = new SimTimers(0);
  const fired: number[] = [];
  t.setTimeout(() => {
    fired.push(t.now());
    t.setTimeout(() => fired.push(t.now()), 5);
  }, 5);
  t.advance(10);
  assert.deepEqual(fired, [5, 10]);
});

test('real timers keep delays longer than 2^31 ms pending instead of firing at once', async () => {
  const { RealTimers } = await import('../../src/host/env/index.js');
  const t = new RealTimers();
  let fired = false;
  t.setTimeout(() => (fired = true), 60 * 24 * 3_600_000); // 60 days
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, false);
  t.clearAll();
});

describe('cryptoRng (pooled CSPRNG output)', () => {
  it('never hands out the same bytes twice, across pool refills and for large requests', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const b = cryptoRng.bytes(16);
      assert.equal(b.length, 16);
      const hex = Buffer.from(b).toString('hex');
      assert.ok(!seen.has(hex), 'a 16-byte value repeated');
      seen.add(hex);
    }
    const big = cryptoRng.bytes(10_000);
    assert.equal(big.length, 10_000);
    assert.ok(big.some((x) => x !== 0));
  });

  it('next() is uniform-looking in [0, 1) and int(n) stays in range', () => {
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const x = cryptoRng.next();
      assert.ok(x >= 0 && x < 1);
      sum += x;
      const k = cryptoRng.int(7);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    }
    assert.ok(Math.abs(sum / 20_000 - 0.5) < 0.02, `mean ${sum / 20_000}`);
  });
});

describe('withDeadline', () => {
  it('passes a value or a rejection through before the deadline and cancels its timer', async () => {
    const t = new SimTimers(0);
    assert.equal(await withDeadline(t, Promise.resolve(7), 100, () => new Error('late')), 7);
    await assert.rejects(withDeadline(t, Promise.reject(new Error('own')), 100, () => new Error('late')), /own/);
    t.advance(1_000); // the cancelled timers must not fire into settled promises
  });

  it('rejects with the given error once the time has passed, and ignores the late result', async () => {
    const t = new SimTimers(0);
    let settle!: (v: number) => void;
    const slow = new Promise<number>((r) => (settle = r));
    const p = withDeadline(t, slow, 100, () => new RangeError('op did not finish within 100 ms'));
    t.advance(99);
    let done = false;
    void p.catch(() => (done = true));
    await Promise.resolve();
    assert.equal(done, false);
    t.advance(1);
    await assert.rejects(p, (e: unknown) => e instanceof RangeError && e.message === 'op did not finish within 100 ms');
    settle(5);
  });
});
