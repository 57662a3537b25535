/**
 * The multiplexed control stream (Control/Stream): many control requests on one long-lived bidi gRPC stream,
 * each tagged with an id and answered in completion order. A unary Control/Call costs a new HTTP/2 stream
 * with headers, metadata and trailers per request; on the stream a request costs one entry in a batch, and
 * what completes in the same event-loop turn travels in one message. See docs/transport.md ("Control stream").
 *
 * Server side ({@link ControlStreamSession}): every request goes through the same authorization (as a
 * Control/Call, with its own forwarded identity), the same handler and the same error mapping as the unary
 * call; handlers run concurrently; at most `maxInFlight` requests per stream are outstanding (running or
 * answered but not yet written), beyond that a request is answered RESOURCE_EXHAUSTED at once.
 *
 * Client side ({@link ControlStreamMux}): one lazily opened stream; per-request deadline and AbortSignal; a
 * late answer is dropped; when the stream breaks every pending request is rejected UNAVAILABLE (never
 * resent: control writes are not idempotent) and the next request opens a new stream.
 */
import type * as grpc from '@grpc/grpc-js';
import { Code, DeadlineExceededError, ResourceExhaustedError, SwarmError, UnavailableError } from '../api/errors.js';
import type { Timers, TimerHandle } from '../env/index.js';
import type { PeerIdentity } from './auth.js';
import type {
  ControlRequest,
  ControlResponse,
  ControlStreamCall,
  ControlStreamRequest,
  ControlStreamResponse,
  ControlStreamResult,
} from './messages.js';
import { errorFromStatus, type GrpcStatus } from './status.js';
import { AckedStreamMux, type AckedPending } from './acked-stream.js';

/** gRPC path of the unary control call; stream requests are authorized, logged and handled under it. */
export const CONTROL_CALL_PATH = '/swarmhost.api.Control/Call';
/** gRPC path of the control stream. */
export const CONTROL_STREAM_PATH = '/swarmhost.api.Control/Stream';
/** Default bound on requests outstanding per control stream (server and client), requests. */
export const DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT = 4096;
/** Bytes reserved per batched entry for its framing (id, code, field tags and lengths). */
const ENTRY_OVERHEAD_BYTES = 64;
/** A batch is flushed early once it holds this many bytes, so that one message never nears the limit. */
const BATCH_SOFT_LIMIT_BYTES = 1024 * 1024;

/** The error a request beyond the in-flight bound gets (same text on both sides). */
export function inFlightExceeded(maxInFlight: number): ResourceExhaustedError {
  return new ResourceExhaustedError(`control stream: more than ${maxInFlight} requests in flight`);
}

/** Upper bound of the UTF-8 size of a string, cheap for short strings (exact only when it matters). */
function utf8Bytes(s: string, exactAbove: number): number {
  return s.length * 3 <= exactAbove ? s.length * 3 : Buffer.byteLength(s, 'utf8');
}

// ------------------------------------------------------------------------------------------------ server

/** The per-request CallContext on a stream: path, caller, and a signal made only when a handler asks. */
export class StreamCallContext {
  private controller: AbortController | null = null;
  private timer: TimerHandle | null = null;
  private reason: SwarmError | null = null;

  constructor(
    readonly path: string,
    readonly peer: PeerIdentity | null,
    readonly local: boolean,
    private readonly timers: Timers,
    /** Absolute deadline in the timers' clock, ms; 0 = none. */
    private readonly deadlineAt: number,
  ) {}

  /** Aborted when the client cancels the request, the stream ends or the request's deadline passes. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.reason !== null) this.controller.abort(this.reason);
      else if (this.deadlineAt > 0) {
        const left = this.deadlineAt - this.timers.now();
        if (left <= 0) this.abort(new DeadlineExceededError('control request deadline exceeded'));
        else this.timer = this.timers.setTimeout(() => this.abort(new DeadlineExceededError('control request deadline exceeded')), left);
      }
    }
    return this.controller.signal;
  }

  /** True once cancelled (by the client or the stream's end): its answer is not sent. */
  get cancelled(): boolean {
    return this.reason !== null && this.reason.code === Code.CANCELLED;
  }

  /** Aborts the signal with `reason` (first reason wins). */
  abort(reason: SwarmError): void {
    if (this.reason !== null) return;
    this.reason = reason;
    this.dispose();
    this.controller?.abort(reason);
  }

  /** Releases the deadline timer. */
  dispose(): void {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** What a server-side session needs from the TransportServer. */
export interface ControlStreamSessionDeps {
  /** Runs one request; rejects with the handler's failure. */
  handle(req: ControlRequest, ctx: StreamCallContext): Promise<ControlResponse>;
  /**
   * Authorizes one request as a Control/Call (null forwarded = no forwarded identity); returns the caller's
   * identity (null on the local socket) or a refusal status (already logged).
   */
  authorize(call: ControlStreamCall): { peer: PeerIdentity | null } | { refused: GrpcStatus };
  /** Maps a handler failure to its status (and logs unexpected ones), as the unary path does. */
  failed(err: unknown): GrpcStatus;
  /** True on the local control socket. */
  local: boolean;
  timers: Timers;
  maxInFlight: number;
  /** Largest message the server may send, bytes. */
  maxMessageBytes: number;
  /** Called once when the session is over (stream ended, cancelled or failed). */
  onClose(): void;
}

/** One control stream on the server: dispatches requests, batches results, bounds what is outstanding. */
export class ControlStreamSession {
  private readonly running = new Map<number, StreamCallContext>();
  /** Results not yet handed to gRPC, in batches of at most the batch limit (the last one still filling). */
  private batches: { results: ControlStreamResult[]; bytes: number }[] = [];
  /** Results in {@link batches}. */
  private queued = 0;
  private flushScheduled = false;
  private blocked = false;
  private closed = false;
  private clientDone = false;
  private draining = false;

  constructor(
    private readonly call: grpc.ServerDuplexStream<ControlStreamRequest, ControlStreamResponse>,
    private readonly d: ControlStreamSessionDeps,
  ) {
    call.on('data', (m: ControlStreamRequest) => this.onMessage(m));
    call.on('end', () => {
      this.clientDone = true;
      this.maybeEnd();
    });
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
  }

  /** Requests running or answered but not yet handed to gRPC. */
  get outstanding(): number {
    return this.running.size + this.queued;
  }

  /** Server shutdown: refuse new requests, end the stream once the outstanding ones are answered. */
  drain(): void {
    this.draining = true;
    this.maybeEnd();
  }

  private onMessage(m: ControlStreamRequest): void {
    if (this.closed) return;
    for (const c of m.calls) {
      if (c.cancel) {
        this.running.get(c.id)?.abort(new SwarmError(Code.CANCELLED, 'call cancelled'));
        continue;
      }
      this.start(c);
    }
  }

  private start(c: ControlStreamCall): void {
    if (this.draining) return this.answerError(c.id, new UnavailableError('control stream: the server is shutting down'));
    if (this.running.has(c.id)) {
      return this.answerError(c.id, new SwarmError(Code.INVALID_ARGUMENT, `control stream: request id ${c.id} is already in flight`));
    }
    if (this.outstanding >= this.d.maxInFlight) return this.answerError(c.id, inFlightExceeded(this.d.maxInFlight));
    const auth = this.d.authorize(c);
    if ('refused' in auth) return this.push({ id: c.id, responseJson: '', code: auth.refused.code, message: auth.refused.details });
    const deadlineAt = c.timeoutMs > 0 ? this.d.timers.now() + c.timeoutMs : 0;
    const ctx = new StreamCallContext(CONTROL_CALL_PATH, auth.peer, this.d.local, this.d.timers, deadlineAt);
    this.running.set(c.id, ctx);
    let p: Promise<ControlResponse>;
    try {
      p = this.d.handle({ method: c.method, requestJson: c.requestJson }, ctx);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (res) => this.finish(c.id, ctx, { id: c.id, responseJson: res.responseJson, code: 0, message: '' }),
      (err: unknown) => {
        const st = this.d.failed(err);
        this.finish(c.id, ctx, { id: c.id, responseJson: '', code: st.code, message: st.details });
      },
    );
  }

  private finish(id: number, ctx: StreamCallContext, r: ControlStreamResult): void {
    ctx.dispose();
    if (this.running.get(id) === ctx) this.running.delete(id);
    if (this.closed || ctx.cancelled) return this.maybeEnd();
    this.push(r);
  }

  private answerError(id: number, err: SwarmError): void {
    this.push({ id, responseJson: '', code: err.code, message: err.message });
  }

  private push(r: ControlStreamResult): void {
    if (this.closed) return;
    const limit = this.d.maxMessageBytes - ENTRY_OVERHEAD_BYTES;
    let bytes = utf8Bytes(r.responseJson, limit) + utf8Bytes(r.message, limit) + ENTRY_OVERHEAD_BYTES;
    if (bytes > limit) {
      bytes = Buffer.byteLength(r.responseJson, 'utf8');
      r = {
        id: r.id,
        responseJson: '',
        code: Code.RESOURCE_EXHAUSTED,
        message: `control stream: response of ${bytes} bytes exceeds the limit of ${this.d.maxMessageBytes} bytes`,
      };
      bytes = r.message.length + ENTRY_OVERHEAD_BYTES;
    }
    let last = this.batches[this.batches.length - 1];
    if (last === undefined || (last.results.length > 0 && last.bytes + bytes > Math.min(BATCH_SOFT_LIMIT_BYTES, limit))) {
      last = { results: [], bytes: 0 };
      this.batches.push(last);
    }
    last.results.push(r);
    last.bytes += bytes;
    this.queued++;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (!this.closed && !this.blocked && this.batches.length > 0) {
      const batch = this.batches.shift()!;
      this.queued -= batch.results.length;
      let ok: boolean;
      try {
        ok = this.call.write({ results: batch.results });
      } catch {
        return this.close();
      }
      if (!ok) {
        // The client is not reading: hold further results (they count as outstanding) until gRPC drains.
        this.blocked = true;
        this.call.once('drain', () => {
          this.blocked = false;
          this.flush();
        });
      }
    }
    this.maybeEnd();
  }

  /** Ends the stream once the client half-closed (or the server drains) and nothing is outstanding. */
  private maybeEnd(): void {
    if (this.closed || !(this.clientDone || this.draining) || this.outstanding > 0 || this.flushScheduled || this.blocked) return;
    this.closed = true;
    this.d.onClose();
    this.call.end();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ctx of this.running.values()) ctx.abort(new SwarmError(Code.CANCELLED, 'call cancelled'));
    this.running.clear();
    this.batches = [];
    this.queued = 0;
    this.d.onClose();
  }
}

// ------------------------------------------------------------------------------------------------ client

/** One request waiting for its answer. */
interface Pending extends AckedPending {
  resolve(res: ControlResponse): void;
  /** The request as sent, kept only to resend it on the unary path if the server has no stream. */
  req: ControlRequest;
  forwarded: ControlStreamCall['forwarded'];
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

/** How the mux opens a stream and falls back to the unary call. */
export interface ControlStreamMuxDeps {
  /** Opens a new Control/Stream call. */
  open(): grpc.ClientDuplexStream<ControlStreamRequest, ControlStreamResponse>;
  /** The unary Control/Call, for servers that do not serve the stream (UNIMPLEMENTED). */
  unary(req: ControlRequest, forwarded: ControlStreamCall['forwarded'], timeoutMs: number, signal: AbortSignal | undefined): Promise<ControlResponse>;
  timers: Timers;
  maxInFlight: number;
  /** Largest message the client may send, bytes. */
  maxMessageBytes: number;
  /** For error messages: where the stream goes. */
  target: string;
}

/** The client side of the control stream: ids, deadlines, cancellation, batching (the rest: AckedStreamMux). */
export class ControlStreamMux extends AckedStreamMux<ControlStreamRequest, ControlStreamResponse, Pending> {
  private out: ControlStreamCall[] = [];
  private outBytes = 0;
  private flushScheduled = false;

  constructor(private readonly d: ControlStreamMuxDeps) {
    super({ open: d.open, timers: d.timers, what: 'control stream', target: d.target });
  }

  /** One control request over the stream. `timeoutMs` is its deadline; `signal` cancels it. */
  request(req: ControlRequest, forwarded: ControlStreamCall['forwarded'], timeoutMs: number, signal: AbortSignal | undefined): Promise<ControlResponse> {
    if (this.unsupported) return this.d.unary(req, forwarded, timeoutMs, signal);
    if (this.closed) return Promise.reject(this.closedError());
    if (signal?.aborted === true) return Promise.reject(new SwarmError(Code.CANCELLED, 'Cancelled on client'));
    if (this.pending.size >= this.d.maxInFlight) return Promise.reject(inFlightExceeded(this.d.maxInFlight));
    const limit = this.d.maxMessageBytes - ENTRY_OVERHEAD_BYTES;
    const bytes = utf8Bytes(req.requestJson, limit) + utf8Bytes(req.method, limit) + ENTRY_OVERHEAD_BYTES + (forwarded === null ? 0 : 256);
    if (bytes > limit) {
      const exact = Buffer.byteLength(req.requestJson, 'utf8');
      return Promise.reject(
        new ResourceExhaustedError(`control stream: request of ${exact} bytes exceeds the limit of ${this.d.maxMessageBytes} bytes`),
      );
    }
    const id = this.allocateId();
    return new Promise<ControlResponse>((resolve, reject) => {
      // A request given up (deadline, cancel) is cancelled on the server too.
      const giveUp = (err: SwarmError): void => {
        if (this.pending.get(id) !== p) return;
        this.take(id);
        this.enqueue({ id, method: '', requestJson: '', timeoutMs: 0, cancel: true, forwarded: null }, ENTRY_OVERHEAD_BYTES);
        reject(err);
      };
      const timer = this.d.timers.setTimeout(() => giveUp(new DeadlineExceededError(`Deadline exceeded after ${timeoutMs} ms (${req.method})`)), timeoutMs);
      let unlink: (() => void) | undefined;
      if (signal !== undefined) {
        const onAbort = (): void => giveUp(new SwarmError(Code.CANCELLED, 'Cancelled on client'));
        signal.addEventListener('abort', onAbort, { once: true });
        unlink = () => signal.removeEventListener('abort', onAbort);
      }
      const p: Pending = { resolve, reject, timer, unlink, req, forwarded, timeoutMs, signal };
      this.pending.set(id, p);
      // uint32 on the wire; a longer deadline (about 50 days) is only kept by the client.
      const wireTimeoutMs = Math.min(timeoutMs, 0xffff_ffff);
      this.enqueue({ id, method: req.method, requestJson: req.requestJson, timeoutMs: wireTimeoutMs, cancel: false, forwarded }, bytes);
    });
  }

  protected onData(m: ControlStreamResponse): void {
    for (const r of m.results) {
      const p = this.take(r.id);
      if (p === undefined) continue; // timed out or cancelled: a late answer is dropped
      if (r.code === 0) p.resolve({ responseJson: r.responseJson });
      else p.reject(errorFromStatus(r.code, r.message));
    }
  }

  protected dropBuffered(): void {
    this.out = [];
    this.outBytes = 0;
  }

  protected resendUnary(p: Pending): void {
    this.d.unary(p.req, p.forwarded, p.timeoutMs, p.signal).then(p.resolve, p.reject);
  }

  private enqueue(c: ControlStreamCall, bytes: number): void {
    // A cancel for a stream that is gone has nothing to cancel: the request went with it.
    if (c.cancel && this.current() === null) return;
    this.stream();
    if (this.out.length > 0 && this.outBytes + bytes > Math.min(BATCH_SOFT_LIMIT_BYTES, this.d.maxMessageBytes - ENTRY_OVERHEAD_BYTES)) {
      this.flush();
    }
    this.out.push(c);
    this.outBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    const call = this.current();
    if (call === null || this.out.length === 0) return;
    const calls = this.out;
    this.out = [];
    this.outBytes = 0;
    this.write(call, { calls });
  }
}
