import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { SeededRng, SimTimers, type Rng } from '../../../src/host/env/index.js';
import { Backoff, keepStreamOpen } from '../../../src/host/transport/index.js';

/** An Rng that always returns the same fraction, to read the backoff ceiling exactly. */
const fixed = (f: number): Rng => ({ next: () => f, int: (n) => Math.floor(f * n), bytes: (n) => new Uint8Array(n) });

describe('Backoff', () => {
  test('grows as min(100 + 2 × previous, 8000) ms', () => {
    const b = new Backoff(fixed(0.999999));
    const ceilings: number[] = [];
    for (let i = 0; i < 9; i++) {
      b.nextDelayMs();
      ceilings.push(b.ceilingMs);
    }
    assert.deepEqual(ceilings, [100, 300, 700, 1500, 3100, 6300, 8000, 8000, 8000]);
  });

  test('draws each wait uniformly below the ceiling through the injected Rng', () => {
    const b = new Backoff(new SeededRng(7));
    for (let i = 0; i < 200; i++) {
      const d = b.nextDelayMs();
      assert.ok(d >= 0 && d < b.ceilingMs, `${d} < ${b.ceilingMs}`);
    }
    const again = new Backoff(new SeededRng(7));
    const first = new Backoff(new SeededRng(7));
    assert.deepEqual([again.nextDelayMs(), again.nextDelayMs()], [first.nextDelayMs(), first.nextDelayMs()]);
  });

  test('starts over after reset', () => {
    const b = new Backoff(fixed(0.5));
    b.nextDelayMs();
    b.nextDelayMs();
    b.reset();
    assert.equal(b.nextDelayMs(), 50);
  });

  test('rejects nonsense bounds naming the field', () => {
    assert.throws(() => new Backoff(fixed(0), { minMs: 0 }), (e: unknown) => e instanceof InvalidArgumentError && /minMs/.test(e.message));
    assert.throws(() => new Backoff(fixed(0), { minMs: 100, maxMs: 50 }), /maxMs/);
  });
});

describe('keepStreamOpen', () => {
  test('reopens a failed stream after the jittered backoff and resets it once messages flow', async () => {
    const timers = new SimTimers(0);
    const ac = new AbortController();
    const opens: number[] = [];
    const got: number[] = [];
    const retries: number[] = [];
    let attempt = 0;
    const done = keepStreamOpen<number>({
      timers,
      rng: fixed(0.5),
      signal: ac.signal,
      open: () => {
        opens.push(timers.now());
        const n = attempt++;
        return (async function* () {
          if (n === 2) yield 100 + n;
          throw new Error(`attempt ${n} failed`);
        })();
      },
      onMessage: (m) => void got.push(m),
      onRetry: (_e, delayMs) => void retries.push(delayMs),
    });
    // Drive simulated time until four attempts were made (bounded number of steps).
    for (let i = 0; i < 100 && opens.length < 4; i++) {
      await new Promise((r) => setImmediate(r));
      timers.runNext();
    }
    ac.abort();
    await done;
    assert.deepEqual(got, [102]);
    // 0.5 × ceilings: 100 → 50, 300 → 150; the message on attempt 2 resets: 100 → 50.
    assert.deepEqual(retries.slice(0, 3), [50, 150, 50]);
    assert.deepEqual(opens.slice(0, 4), [0, 50, 200, 250]);
  });

  test('stops waiting at once when aborted during a backoff', async () => {
    const timers = new SimTimers(0);
    const ac = new AbortController();
    let opened = 0;
    const done = keepStreamOpen<number>({
      timers,
      rng: fixed(0.9),
      signal: ac.signal,
      open: () => {
        opened++;
        return (async function* () {
          throw new Error('down');
        })();
      },
      onMessage: () => undefined,
    });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await done;
    assert.equal(opened, 1);
  });
});
