/**
 * SwarmError ⇄ gRPC status, both ways. The server turns a thrown SwarmError into its code and message; the
 * client turns a status back into the same SwarmError subclass with the same message, so that a failure
 * deep in the leader reaches swarmctl intact.
 */
import {
  AbortedError,
  AlreadyExistsError,
  Code,
  DataLossError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  SwarmError,
  UnavailableError,
  UnimplementedError,
} from '../api/errors.js';

/** A gRPC status as grpc-js handlers return it (`code` is a gRPC status number, `details` the message). */
export interface GrpcStatus {
  code: number;
  details: string;
}

/** Codes that have their own SwarmError subclass; the other codes come back as a plain SwarmError. */
const SUBCLASS: Partial<Record<Code, new (message: string) => SwarmError>> = {
  [Code.INVALID_ARGUMENT]: InvalidArgumentError,
  [Code.NOT_FOUND]: NotFoundError,
  [Code.ALREADY_EXISTS]: AlreadyExistsError,
  [Code.FAILED_PRECONDITION]: FailedPreconditionError,
  [Code.PERMISSION_DENIED]: PermissionDeniedError,
  [Code.UNAVAILABLE]: UnavailableError,
  [Code.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [Code.UNIMPLEMENTED]: UnimplementedError,
  [Code.ABORTED]: AbortedError,
  [Code.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [Code.DATA_LOSS]: DataLossError,
};

/** Server side: the status a handler's failure is sent as. Non-SwarmErrors become UNKNOWN with their message. */
export function statusFromError(err: unknown): GrpcStatus {
  if (err instanceof SwarmError) return { code: err.code, details: err.message };
  if (err instanceof Error) return { code: Code.UNKNOWN, details: err.message };
  return { code: Code.UNKNOWN, details: String(err) };
}

/** Client side: the SwarmError a failed call's status becomes (the subclass for its code, same message). */
export function errorFromStatus(code: number, details: string): SwarmError {
  const cls = SUBCLASS[code as Code];
  if (cls !== undefined) return new cls(details);
  const known = code >= Code.CANCELLED && code <= Code.UNAUTHENTICATED;
  return new SwarmError(known ? (code as Code) : Code.UNKNOWN, details);
}

/** Converts whatever a grpc-js call failed with (a ServiceError has `code` and `details`) into a SwarmError. */
export function errorFromCallFailure(err: unknown): SwarmError {
  if (err instanceof SwarmError) return err;
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number') {
    const e = err as { code: number; details?: unknown; message?: unknown };
    const details = typeof e.details === 'string' ? e.details : String(e.message ?? '');
    return errorFromStatus(e.code, details);
  }
  return new SwarmError(Code.UNKNOWN, err instanceof Error ? err.message : String(err));
}
