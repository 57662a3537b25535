import type { Rng } from '../env/index.js';

/** Length of an object id in characters (SwarmKit's identity package). */
export const ID_LENGTH_CHARS = 25;
/** Random bytes behind one id. 17 bytes with the top bit set always give 27 base-36 digits. */
const ID_RANDOM_BYTES = 17;

/**
 * A new object id, SwarmKit style: 17 random bytes with the top bit of byte 0 forced on, read as one big-endian
 * integer, written in base 36 (always 27 digits thanks to the forced bit), first digit dropped, next 25 kept.
 * The forced bit makes the length fixed; dropping the first digit removes its bias. Randomness is injected.
 */
export function newId(rng: Rng): string {
  const bytes = rng.bytes(ID_RANDOM_BYTES);
  bytes[0] = bytes[0]! | 0x80;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  const digits = n.toString(36);
  return digits.slice(1, 1 + ID_LENGTH_CHARS);
}
