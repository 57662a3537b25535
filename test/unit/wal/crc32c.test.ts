import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '../../../src/host/raft/crc32c.js';
import { SeededRng } from '../../../src/host/env/index.js';

test('crc32c matches the published check value and the RFC 3720 B.4 vectors', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

/** The textbook bit-at-a-time CRC-32C, as an independent reference for the table-driven one. */
function bitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('crc32c agrees with a bitwise reference on random inputs of every length up to 100 bytes', () => {
  const rng = new SeededRng(1);
  for (let n = 0; n <= 100; n++) {
    const data = rng.bytes(n);
    assert.equal(crc32c(data), bitwise(data), `length ${n}`);
  }
});

test('crc32c continues across chunks and honours start/end bounds', () => {
  const rng = new SeededRng(2);
  const data = rng.bytes(1000);
  const whole = crc32c(data);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `cut ${cut}`);
    assert.equal(crc32c(data, crc32c(data, 0, 0, cut), cut, data.length), whole, `bounded cut ${cut}`);
  }
});
