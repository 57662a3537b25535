/**
 * Binary encoding of Raft messages for the wire (ProcessRaftMessage / StreamRaftMessage payloads). Compact,
 * fixed-width little-endian fields in the WAL's own writer, so a heartbeat is ~60 bytes and entries carry their
 * data without base64 or JSON overhead. Version byte first so the format can evolve.
 */
import { InvalidArgumentError } from '../api/errors.js';
import { MessageType, type Entry, type Message } from './types.js';
import { PayloadError, PayloadReader, RecordWriter, putMeta, readMeta } from './wal-record.js';

const VERSION = 1;
const TYPES: MessageType[] = Object.values(MessageType);
const typeCode = new Map<MessageType, number>(TYPES.map((t, i) => [t, i]));

/** Encodes one message. */
export function encodeMessage(m: Message): Uint8Array {
  const w = new RecordWriter(128 + m.entries.reduce((n, e) => n + e.data.length + 24, 0) + (m.snapshot?.data.length ?? 0));
  w.u8(VERSION);
  w.u8(typeCode.get(m.type)!);
  w.str(m.from);
  w.str(m.to);
  w.u64(m.term);
  w.u64(m.logTerm);
  w.u64(m.index);
  w.u64(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.u64(m.rejectHint);
  w.u64(m.logTermHint);
  w.str(m.context ?? '');
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.u64(e.term);
    w.u64(e.index);
    w.u8(e.type);
    w.u32(e.data.length);
    w.raw(e.data);
  }
  if (m.snapshot !== undefined) {
    w.u8(1);
    putMeta(w, m.snapshot.metadata);
    w.u32(m.snapshot.data.length);
    w.raw(m.snapshot.data);
  } else {
    w.u8(0);
  }
  return w.bytes().slice();
}

/** Decodes one message; a malformed payload is an InvalidArgumentError (the peer sent garbage). */
export function decodeMessage(buf: Uint8Array): Message {
  try {
    const r = new PayloadReader(buf);
    const v = r.u8();
    if (v !== VERSION) throw new PayloadError(`unknown raft message version ${v}`);
    const type = TYPES[r.u8()];
    if (type === undefined) throw new PayloadError('unknown raft message type');
    const m: Message = {
      type,
      from: r.str(),
      to: r.str(),
      term: r.u64(),
      logTerm: r.u64(),
      index: r.u64(),
      commit: r.u64(),
      reject: r.u8() === 1,
      rejectHint: r.u64(),
      logTermHint: r.u64(),
      entries: [],
    };
    const ctx = r.str();
    if (ctx !== '') m.context = ctx;
    for (let n = r.u32(); n > 0; n--) {
      const e: Entry = { term: r.u64(), index: r.u64(), type: r.u8(), data: new Uint8Array() };
      e.data = r.take(r.u32());
      m.entries.push(e);
    }
    if (r.u8() === 1) {
      const metadata = readMeta(r);
      m.snapshot = { metadata, data: r.take(r.u32()) };
    }
    r.done();
    return m;
  } catch (e) {
    if (e instanceof PayloadError) throw new InvalidArgumentError(`malformed raft message: ${e.message}`);
    throw e;
  }
}
