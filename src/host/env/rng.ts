import { randomBytes } from 'node:crypto';

/** Injected randomness. Cores take an Rng so that a simulation seed reproduces a run exactly. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n) for 1 <= n <= 2^32. */
  int(n: number): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

/**
 * Seeded PRNG (xoshiro128**): fast, 128-bit state, good statistical quality, deterministic across platforms.
 * Used by simulations and tests; the seed fully determines the sequence.
 */
export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 expands the seed into four non-zero state words.
    let x = seed >>> 0;
    const mix = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix() | 1;
  }

  /** Next raw 32-bit unsigned value. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3 >>> 0, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  next(): number {
    return this.u32() / 0x1_0000_0000;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) {
        out[i + j] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }

  /** A child generator whose sequence depends only on this one's current state (for per-component streams). */
  fork(): SeededRng {
    return new SeededRng(this.u32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Cryptographically strong randomness for production (IDs, tokens, election jitter). */
export const cryptoRng: Rng = {
  next(): number {
    return randomBytes(4).readUInt32LE(0) / 0x1_0000_0000;
  },
  int(n: number): number {
    return Math.floor(this.next() * n);
  },
  bytes(n: number): Uint8Array {
    return new Uint8Array(randomBytes(n));
  },
};
