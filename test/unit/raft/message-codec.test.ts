import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { decodeMessage, encodeMessage } from '../../../src/host/raft/message-codec.js';
import { EntryType, MessageType, type Message } from '../../../src/host/raft/types.js';

const base: Message = {
  type: MessageType.App, from: 'a1', to: 'b2', term: 7, logTerm: 6, index: 41, commit: 40, reject: false,
  rejectHint: 0, logTermHint: 0, entries: [],
};

test('raft messages round-trip through the wire codec with entries, snapshot and context', () => {
  const msgs: Message[] = [
    base,
    { ...base, entries: [{ term: 7, index: 42, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }, { term: 7, index: 43, type: EntryType.ConfChange, data: new Uint8Array() }] },
    { ...base, type: MessageType.AppResp, reject: true, rejectHint: 12, logTermHint: 3 },
    { ...base, type: MessageType.Vote, context: 'transfer' },
    { ...base, type: MessageType.Snap, snapshot: { metadata: { index: 2 ** 40, term: 9, conf: { voters: ['a1', 'b2'], removed: ['c3'] } }, data: new Uint8Array(100_000).fill(5) } },
  ];
  for (const m of msgs) assert.deepEqual(decodeMessage(encodeMessage(m)), m);
});

test('a heartbeat is small on the wire', () => {
  assert.ok(encodeMessage({ ...base, type: MessageType.Heartbeat }).length < 80);
});

test('a truncated or foreign payload is refused with InvalidArgument', () => {
  const bytes = encodeMessage({ ...base, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(10) }] });
  assert.throws(() => decodeMessage(bytes.subarray(0, bytes.length - 3)), InvalidArgumentError);
  assert.throws(() => decodeMessage(new Uint8Array([9, 0])), /malformed raft message: unknown raft message version 9/);
});
