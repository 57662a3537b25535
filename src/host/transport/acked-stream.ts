/**
 * What the two multiplexed client streams (Control/Stream, Raft/MessageStream) share: requests numbered on one
 * long-lived bidi stream, each waiting for its own answer with a timer; the stream opened on first use and
 * reopened after a break; a break failing every waiting request UNAVAILABLE (the next request opens a new
 * stream); a server without the stream (UNIMPLEMENTED before any answer: an older node) served by the unary
 * call from then on, the waiting requests resent there; close() refusing everything after.
 */
import type * as grpc from '@grpc/grpc-js';
import { Code, UnavailableError, type SwarmError } from '../api/errors.js';
import type { TimerHandle, Timers } from '../env/index.js';
import { errorFromCallFailure } from './status.js';

/** What every waiting request keeps. */
export interface AckedPending {
  reject(err: SwarmError): void;
  timer: TimerHandle;
  /** Detaches the request's cancel signal, if it has one. */
  unlink?(): void;
}

/** How a mux opens its stream. */
export interface AckedStreamDeps<Req, Res> {
  open(): grpc.ClientDuplexStream<Req, Res>;
  timers: Timers;
  /** For error messages: what the stream is ("control stream", "raft stream") and where it goes. */
  what: string;
  target: string;
}

/** The shared client machinery (see the module comment); subclasses read answers and resend unary. */
export abstract class AckedStreamMux<Req, Res, P extends AckedPending> {
  private call: grpc.ClientDuplexStream<Req, Res> | null = null;
  protected readonly pending = new Map<number, P>();
  private nextId = 1;
  /** Set when the server answered the stream UNIMPLEMENTED: every later request uses the unary call. */
  protected unsupported = false;
  protected closed = false;

  constructor(private readonly base: AckedStreamDeps<Req, Res>) {}

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Ends the stream; waiting requests are rejected UNAVAILABLE and later ones refused. */
  close(): void {
    this.closed = true;
    const call = this.call;
    if (call !== null) {
      this.broken(call, new UnavailableError(`${this.base.what} to ${this.base.target}: client closed`));
      call.cancel();
    }
  }

  /** The error a closed mux refuses requests with. */
  protected closedError(): UnavailableError {
    return new UnavailableError(`${this.base.what} to ${this.base.target}: client closed`);
  }

  /** Handles one message from the server (answers: see {@link take}). */
  protected abstract onData(m: Res): void;
  /** Drops what the subclass buffered for the stream that is gone. */
  protected abstract dropBuffered(): void;
  /** Sends a waiting request again as a unary call (the server has no stream), settling it from there. */
  protected abstract resendUnary(p: P): void;

  /** A number for a new request: 1..2^32-1, wrapping, skipping any still waiting. */
  protected allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /** Forgets waiting request `id` (timer cleared, signal detached) and returns it; undefined if not waiting. */
  protected take(id: number): P | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    this.base.timers.clearTimeout(p.timer);
    p.unlink?.();
    return p;
  }

  /** The open stream, opened now if there is none. */
  protected stream(): grpc.ClientDuplexStream<Req, Res> {
    return (this.call ??= this.openStream());
  }

  /** The open stream, if any (a cancel for a stream that is gone has nothing to cancel). */
  protected current(): grpc.ClientDuplexStream<Req, Res> | null {
    return this.call;
  }

  /** Writes `m` on `call`; a write that throws breaks the stream. */
  protected write(call: grpc.ClientDuplexStream<Req, Res>, m: Req): void {
    try {
      call.write(m);
    } catch (err) {
      this.broken(call, errorFromCallFailure(err));
    }
  }

  private openStream(): grpc.ClientDuplexStream<Req, Res> {
    const call = this.base.open();
    let gotData = false;
    call.on('data', (m: Res) => {
      gotData = true;
      this.onData(m);
    });
    call.on('error', (err: unknown) => {
      const e = errorFromCallFailure(err);
      if (e.code === Code.UNIMPLEMENTED && !gotData) return this.fallBack(call);
      this.broken(call, e);
    });
    call.on('end', () => this.broken(call, new UnavailableError(`${this.base.what} to ${this.base.target}: the server ended the stream`)));
    call.on('close', () => this.broken(call, new UnavailableError(`${this.base.what} to ${this.base.target}: the stream closed`)));
    return call;
  }

  /** Rejects everything waiting on `call` with UNAVAILABLE (keeping the cause's text) and forgets the stream. */
  private broken(call: grpc.ClientDuplexStream<Req, Res>, cause: SwarmError): void {
    if (this.call !== call) return;
    this.call = null;
    this.dropBuffered();
    const err =
      cause.code === Code.UNAVAILABLE ? new UnavailableError(cause.message) : new UnavailableError(`${this.base.what} to ${this.base.target} broke: ${cause.message}`);
    for (const id of [...this.pending.keys()]) this.take(id)!.reject(err);
  }

  /** The server has no such stream: nothing on it was handled, so the waiting requests go unary, and all later ones. */
  private fallBack(call: grpc.ClientDuplexStream<Req, Res>): void {
    if (this.call !== call) return;
    this.call = null;
    this.unsupported = true;
    this.dropBuffered();
    for (const id of [...this.pending.keys()]) this.resendUnary(this.take(id)!);
  }
}
