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

/** Bytes of CSPRNG output fetched at once for small requests (as Node's randomUUID caches its entropy). */
const RANDOM_POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/** `n` fresh random bytes, copied out of a pool refilled from the CSPRNG (each byte is handed out once). */
function pooledBytes(n: number): Uint8Array {
  if (n > RANDOM_POOL_BYTES / 8) return new Uint8Array(randomBytes(n));
  if (poolAt + n > pool.length) {
    pool = randomBytes(RANDOM_POOL_BYTES);
    poolAt = 0;
  }
  const out = new Uint8Array(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/**
 * Cryptographically strong randomness for production (IDs, tokens, election jitter). Small requests are
 * served from a pooled 4 KiB of CSPRNG output: one system call per ~300 object ids instead of one per id.
 */
export const cryptoRng: Rng = {
  next(): number {
    const b = pooledBytes(4);
    return (((b[0]! | (b[1]! << 8) | (b[2]! << 16)) >>> 0) + b[3]! * 0x100_0000) / 0x1_0000_0000;
  },
  int(n: number): number {
    return Math.floor(this.next() * n);
  },
  bytes(n: number): Uint8Array {
    return pooledBytes(n);
  },
};
