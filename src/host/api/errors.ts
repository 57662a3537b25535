/**
 * Typed errors. Each carries a code that maps one-to-one to a gRPC status code, so that a failure inside the
 * host reaches `swarmctl` with a meaningful status and the original message.
 */

/** gRPC status codes (numbers as in the gRPC spec). */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** Base class: an error with a gRPC-mappable code. */
export class SwarmError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: the message names the field and the rule it breaks. */
export class InvalidArgumentError extends SwarmError {
  constructor(message: string) {
    super(Code.INVALID_ARGUMENT, message);
  }
}

export class NotFoundError extends SwarmError {
  constructor(message: string) {
    super(Code.NOT_FOUND, message);
  }
}

export class AlreadyExistsError extends SwarmError {
  constructor(message: string) {
    super(Code.ALREADY_EXISTS, message);
  }
}

/** The request is valid but the system is not in a state to perform it (stale version, quorum at risk, ...). */
export class FailedPreconditionError extends SwarmError {
  constructor(message: string) {
    super(Code.FAILED_PRECONDITION, message);
  }
}

export class PermissionDeniedError extends SwarmError {
  constructor(message: string) {
    super(Code.PERMISSION_DENIED, message);
  }
}

/** Temporarily unable to serve (no leader, shutting down, rate-limited); the caller may retry. */
export class UnavailableError extends SwarmError {
  constructor(message: string) {
    super(Code.UNAVAILABLE, message);
  }
}

export class DeadlineExceededError extends SwarmError {
  constructor(message: string) {
    super(Code.DEADLINE_EXCEEDED, message);
  }
}

export class UnimplementedError extends SwarmError {
  constructor(message: string) {
    super(Code.UNIMPLEMENTED, message);
  }
}

export class AbortedError extends SwarmError {
  constructor(message: string) {
    super(Code.ABORTED, message);
  }
}

export class ResourceExhaustedError extends SwarmError {
  constructor(message: string) {
    super(Code.RESOURCE_EXHAUSTED, message);
  }
}

/** Durable data is damaged (e.g. a WAL checksum failure in the middle of the log). */
export class DataLossError extends SwarmError {
  constructor(message: string) {
    super(Code.DATA_LOSS, message);
  }
}

/** A broken invariant inside a core: a bug. Never caught to continue; it must crash loudly. */
export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionFailure';
  }
}

/** Throws {@link AssertionFailure} when `cond` is false. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionFailure(message);
}
