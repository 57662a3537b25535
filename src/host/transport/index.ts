/**
 * Transport: gRPC servers and clients between nodes over mutual TLS, per-RPC authorization from the peer
 * certificate, SwarmError ⇄ gRPC status mapping, leader forwarding, the local control socket, health, and
 * the reconnect policy for long-lived streams. See docs/transport.md.
 */
export {
  MANAGER_ROLE,
  WORKER_ROLE,
  METHOD_POLICIES,
  FORWARDED_CN,
  FORWARDED_OU,
  FORWARDED_ORG,
  FORWARDED_ADDR,
  authorize,
  identityFromSubject,
  AuthRefusal,
} from './auth.js';
export type { NodeRole, PeerIdentity, MethodPolicy, CertSubject, AuthInput, ForwardedIdentity, AuthPolicyContext } from './auth.js';
export * from './messages.js';
export { PROTO_DIR, PROTO_FILES, SERVICE_NAMES, method, methods, packageDefinition, serviceDefinition } from './proto.js';
export type { MethodInfo, MethodKind, ServiceName } from './proto.js';
export { statusFromError, errorFromStatus, errorFromCallFailure } from './status.js';
export type { GrpcStatus } from './status.js';
export { MANAGER_SERVER_NAME, ServerTlsIdentity, clientCredentials } from './tls.js';
export type { TlsMaterial, ClientTls } from './tls.js';
export {
  TransportServer,
  HealthStatus,
  DEFAULT_MAX_MESSAGE_BYTES,
  SWARM_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_STREAMED_MESSAGE_BYTES,
  DEFAULT_SHUTDOWN_GRACE_MS,
} from './server.js';
export type {
  TransportServerOptions,
  TransportLogger,
  ServerSecurity,
  CallContext,
  RaftHandlers,
  RaftMembershipHandlers,
  CAHandlers,
  NodeCAHandlers,
  DispatcherHandlers,
  ControlHandlers,
} from './server.js';
export {
  TransportClient,
  forwardedMetadata,
  isTransient,
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_RAFT_SEND_TIMEOUT_MS,
  DEFAULT_STREAM_SEND_TIMEOUT_MS,
  DEFAULT_STREAM_OPEN_TIMEOUT_MS,
  DEFAULT_STREAM_CHUNK_BYTES,
  DEFAULT_KEEPALIVE_TIME_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
} from './client.js';
export type { TransportClientOptions, CallOptions } from './client.js';
export { forwardOptions } from './forward.js';
export {
  ControlStreamMux,
  ControlStreamSession,
  StreamCallContext,
  CONTROL_CALL_PATH,
  CONTROL_STREAM_PATH,
  DEFAULT_CONTROL_STREAM_MAX_IN_FLIGHT,
  inFlightExceeded,
} from './control-stream.js';
export type { ControlStreamMuxDeps, ControlStreamSessionDeps } from './control-stream.js';
export { RaftStreamMux, RAFT_STREAM_PATH, DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT, DEFAULT_RAFT_STREAM_MAX_IN_FLIGHT_BYTES } from './raft-stream.js';
export type { RaftStreamMuxDeps } from './raft-stream.js';
export { Backoff, DEFAULT_BACKOFF_MIN_MS, DEFAULT_BACKOFF_MAX_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { keepStreamOpen } from './reconnect.js';
export type { KeepStreamOpenOptions } from './reconnect.js';
