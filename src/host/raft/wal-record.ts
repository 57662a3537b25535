/**
 * Binary framing and payload encodings of WAL records and snapshot files (format described in docs/wal.md).
 *
 * Frame, little-endian, 9-byte header:
 *   [u32 payloadLength][u8 type][u32 crc32c(type byte ++ payload)][payload]
 * The CRC covers the type so a flipped type byte is caught; the length is checked against
 * {@link maxRecordPayloadBytes} and the end of the file. Integers inside payloads are fixed width
 * (u64 as two u32 halves, low first; values must be safe integers), strings are u16 length + UTF-8.
 */
import { crc32c } from './crc32c.js';
import { EntryType, type ConfState, type Entry, type HardState, type SnapshotMetadata } from './types.js';
import { DataLossError, InvalidArgumentError } from '../api/errors.js';

/** Size of the frame header in bytes. */
export const frameHeaderBytes = 9;

/**
 * Largest payload a frame may carry, in bytes (64 MiB). A length above it is a corrupt frame, which keeps a
 * flipped high bit in a length field from being read as a huge (torn) record.
 */
export const maxRecordPayloadBytes = 64 * 1024 * 1024;

/** Largest snapshot-file payload in bytes: what a u32 length can express (4 GiB - 1). */
export const maxSnapshotPayloadBytes = 0xffff_ffff;

/** Record types. Values are part of the on-disk format: never renumber. */
export enum RecordType {
  /** First record of every segment: format version, segment sequence number, expected first entry index. */
  SegmentHeader = 1,
  /** One Raft log entry. */
  Entry = 2,
  /** Raft hard state (term, vote, commit). */
  HardState = 3,
  /** A snapshot was persisted at (index, term, conf): entries up to index are covered by it. */
  SnapshotMarker = 4,
  /**
   * The log after `index` is discarded: written with the marker of a snapshot received from a leader, whose
   * log replaces this member's whole log (a stale suffix written under an older leader must not survive).
   */
  LogReset = 5,
  /** The single record of a snapshot file: metadata then data. */
  SnapshotFile = 16,
}

/** Current WAL format version (in every segment header). */
export const walFormatVersion = 1;

/** Decoded segment header payload. */
export interface SegmentHeader {
  version: number;
  /** Segment sequence number (0, 1, 2, ...); matches the file name. */
  seq: number;
  /** Index the next entry was expected to have when the segment was created; matches the file name. */
  firstIndex: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const twoTo32 = 0x1_0000_0000;

/**
 * Appends framed records into one reusable, growing buffer, so that a whole save() becomes a single write.
 * Usage: begin(type); put fields; end(); ... then bytes().
 */
export class RecordWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;
  private recordStart = -1;

  /** @param initialBytes starting capacity in bytes (grows by doubling). */
  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Forgets the written bytes (keeps the capacity). */
  reset(): void {
    this.len = 0;
    this.recordStart = -1;
  }

  /** Bytes written so far (a view into the internal buffer, valid until the next write or reset). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  begin(type: RecordType): void {
    this.reserve(frameHeaderBytes);
    this.recordStart = this.len;
    this.buf[this.len + 4] = type;
    this.len += frameHeaderBytes;
  }

  /** Closes the current record: writes its length and CRC. `maxPayloadBytes` bounds its payload. */
  end(maxPayloadBytes = maxRecordPayloadBytes): void {
    const start = this.recordStart;
    const payloadLen = this.len - start - frameHeaderBytes;
    if (payloadLen > maxPayloadBytes) {
      this.len = start;
      throw new InvalidArgumentError(
        `record payload is ${payloadLen} bytes; the limit (maxPayloadBytes) is ${maxPayloadBytes}`,
      );
    }
    this.view.setUint32(start, payloadLen, true);
    const crc = crc32c(this.buf, 0, start + 4, start + 5);
    this.view.setUint32(start + 5, crc32c(this.buf, crc, start + frameHeaderBytes, this.len), true);
    this.recordStart = -1;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }

  /** A non-negative safe integer as 8 bytes. */
  u64(v: number): void {
    this.reserve(8);
    this.view.setUint32(this.len, v >>> 0, true);
    this.view.setUint32(this.len + 4, Math.floor(v / twoTo32), true);
    this.len += 8;
  }

  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  str(s: string): void {
    const b = textEncoder.encode(s);
    if (b.length > 0xffff) throw new InvalidArgumentError(`wal: string field is ${b.length} bytes; limit 65535`);
    this.u16(b.length);
    this.raw(b);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** Writes a segment header record. */
export function putSegmentHeader(w: RecordWriter, h: { seq: number; firstIndex: number }): void {
  w.begin(RecordType.SegmentHeader);
  w.u8(walFormatVersion);
  w.u64(h.seq);
  w.u64(h.firstIndex);
  w.end();
}

/** Writes an entry record: u64 term, u64 index, u8 type, data (rest of payload). */
export function putEntry(w: RecordWriter, e: Entry): void {
  w.begin(RecordType.Entry);
  w.u64(e.term);
  w.u64(e.index);
  w.u8(e.type);
  w.raw(e.data);
  w.end();
}

/** Writes a hard-state record: u64 term, u64 commit, str vote. */
export function putHardState(w: RecordWriter, hs: HardState): void {
  w.begin(RecordType.HardState);
  w.u64(hs.term);
  w.u64(hs.commit);
  w.str(hs.vote);
  w.end();
}

/** Writes snapshot metadata fields (shared by the WAL marker and the snapshot file). */
/** Writes snapshot metadata fields (shared with the raft message codec). */
export function putMeta(w: RecordWriter, m: SnapshotMetadata): void {
  w.u64(m.index);
  w.u64(m.term);
  w.u32(m.conf.voters.length);
  for (const v of m.conf.voters) w.str(v);
  w.u32(m.conf.removed.length);
  for (const r of m.conf.removed) w.str(r);
}

/** Writes a snapshot-marker record: the metadata of a persisted snapshot. */
export function putSnapshotMarker(w: RecordWriter, m: SnapshotMetadata): void {
  w.begin(RecordType.SnapshotMarker);
  putMeta(w, m);
  w.end();
}

/** Writes a log-reset record: every entry above `index` recorded so far is discarded. */
export function putLogReset(w: RecordWriter, index: number): void {
  w.begin(RecordType.LogReset);
  w.u64(index);
  w.end();
}

/** Decodes a log-reset payload. */
export function decodeLogReset(p: Uint8Array): number {
  const r = new PayloadReader(p);
  const index = r.u64();
  r.done();
  return index;
}

/** Writes the single record of a snapshot file: metadata, then the data (rest of payload). */
export function putSnapshotFile(w: RecordWriter, m: SnapshotMetadata, data: Uint8Array): void {
  w.begin(RecordType.SnapshotFile);
  putMeta(w, m);
  w.raw(data);
  w.end(maxSnapshotPayloadBytes);
}

/** Outcome of reading one frame at an offset. */
export type FrameResult =
  | { ok: true; type: RecordType; payload: Uint8Array; next: number }
  | { ok: false; reason: FrameFault };

/** Why a frame could not be read. */
export type FrameFault = 'short-header' | 'too-large' | 'short-payload' | 'bad-type' | 'bad-crc';

const knownTypes = new Set<number>([
  RecordType.SegmentHeader,
  RecordType.Entry,
  RecordType.HardState,
  RecordType.SnapshotMarker,
  RecordType.LogReset,
  RecordType.SnapshotFile,
]);

/**
 * Reads and checks the frame starting at `off` in `buf` (which ends at buf.length); a payload longer than
 * `maxPayloadBytes` is a corrupt frame.
 */
export function readFrame(buf: Uint8Array, off: number, maxPayloadBytes = maxRecordPayloadBytes): FrameResult {
  if (buf.length - off < frameHeaderBytes) return { ok: false, reason: 'short-header' };
  const view = new DataView(buf.buffer, buf.byteOffset + off, frameHeaderBytes);
  const len = view.getUint32(0, true);
  const type = view.getUint8(4);
  const crc = view.getUint32(5, true);
  if (len > maxPayloadBytes) return { ok: false, reason: 'too-large' };
  const start = off + frameHeaderBytes;
  if (start + len > buf.length) return { ok: false, reason: 'short-payload' };
  if (!knownTypes.has(type)) return { ok: false, reason: 'bad-type' };
  const actual = crc32c(buf, crc32c(buf, 0, off + 4, off + 5), start, start + len);
  if (actual !== crc) return { ok: false, reason: 'bad-crc' };
  return { ok: true, type: type as RecordType, payload: buf.subarray(start, start + len), next: start + len };
}

/** Sequential reader over a record payload; throws {@link PayloadError} when it runs past the end. */
export class PayloadReader {
  private off = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.off, true);
    this.off += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.off, true);
    const hi = this.view.getUint32(this.off + 4, true);
    this.off += 8;
    if (hi > 0x1fffff) throw new PayloadError('u64 value exceeds 2^53');
    return hi * twoTo32 + lo;
  }

  str(): string {
    const n = this.u16();
    this.need(n);
    const s = textDecoder.decode(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return s;
  }

  /** The next `n` bytes, copied. */
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** The remaining bytes, copied (so the caller's entry does not pin the whole segment buffer). */
  rest(): Uint8Array {
    const out = this.buf.slice(this.off);
    this.off = this.buf.length;
    return out;
  }

  /** Throws unless every byte was consumed. */
  done(): void {
    if (this.off !== this.buf.length) throw new PayloadError(`${this.buf.length - this.off} trailing bytes`);
  }

  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new PayloadError('payload shorter than its fields');
  }
}

/** A payload whose CRC is right but whose fields do not parse: a format bug or a foreign file. */
export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

/** Decodes a segment header payload. */
export function decodeSegmentHeader(p: Uint8Array): SegmentHeader {
  const r = new PayloadReader(p);
  const version = r.u8();
  const seq = r.u64();
  const firstIndex = r.u64();
  r.done();
  return { version, seq, firstIndex };
}

/** Decodes an entry payload. */
export function decodeEntry(p: Uint8Array): Entry {
  const r = new PayloadReader(p);
  const term = r.u64();
  const index = r.u64();
  const type = r.u8();
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new PayloadError(`unknown entry type ${type}`);
  return { term, index, type, data: r.rest() };
}

/** Decodes a hard-state payload. */
export function decodeHardState(p: Uint8Array): HardState {
  const r = new PayloadReader(p);
  const term = r.u64();
  const commit = r.u64();
  const vote = r.str();
  r.done();
  return { term, commit, vote };
}

/** Reads snapshot metadata fields written by {@link putMeta}. */
export function readMeta(r: PayloadReader): SnapshotMetadata {
  const index = r.u64();
  const term = r.u64();
  const voters: string[] = [];
  for (let n = r.u32(); n > 0; n--) voters.push(r.str());
  const removed: string[] = [];
  for (let n = r.u32(); n > 0; n--) removed.push(r.str());
  const conf: ConfState = { voters, removed };
  return { index, term, conf };
}

/** Decodes a snapshot-marker payload. */
export function decodeSnapshotMarker(p: Uint8Array): SnapshotMetadata {
  const r = new PayloadReader(p);
  const m = readMeta(r);
  r.done();
  return m;
}

/** Decodes a snapshot-file payload. */
export function decodeSnapshotFile(p: Uint8Array): { metadata: SnapshotMetadata; data: Uint8Array } {
  const r = new PayloadReader(p);
  const metadata = readMeta(r);
  return { metadata, data: r.rest() };
}

/** Checks an integer field that is stored as u64: a non-negative safe integer. */
export function checkU64(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field} must be a non-negative safe integer, got ${value}`);
  }
}

/** Builds the DataLossError used for every unreadable byte range: it names the file and the offset. */
export function dataLoss(file: string, offset: number, what: string): DataLossError {
  return new DataLossError(`corrupt data in ${file} at byte offset ${offset}: ${what}`);
}
