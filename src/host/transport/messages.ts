/**
 * TypeScript shapes of the messages in src/host/api/proto/*.proto, as @grpc/proto-loader produces them with
 * {@link PROTO_LOADER_OPTIONS} (camelCase fields, 64-bit integers as numbers, enums as their names, bytes as
 * Buffer, defaults filled in). Hand-written to mirror the .proto files; test/unit/transport/proto.test.ts
 * fails when the two drift (field sets compared per message, every field round-tripped through the codec).
 */

/** Options every loader of our .proto files uses, so that the runtime shapes match these interfaces. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  oneofs: false,
} as const;

// ---- Raft (raft.proto) ----

/** One raft message, encoded by the raft codec; at most `maxMessageBytes` (4 MiB by default). */
export interface ProcessRaftMessageRequest {
  message: Buffer;
}
/** Empty acknowledgement. */
export interface ProcessRaftMessageResponse {}
/** One chunk of an encoded raft message too large for a single gRPC message (snapshots). */
export interface StreamRaftMessageRequest {
  chunk: Buffer;
  /** Size of the whole encoded message in bytes, the same on every chunk of a stream. */
  totalBytes: number;
}
/** Empty acknowledgement of a whole streamed message. */
export interface StreamRaftMessageResponse {}
/** One raft message on a member's MessageStream to a peer; `seq` (uint32, wrapping) names it in its ack. */
export interface RaftStreamItem {
  seq: number;
  message: Buffer;
}
/** Raft messages written together on a MessageStream, in order. */
export interface RaftStreamRequest {
  items: RaftStreamItem[];
}
/** The outcome of one MessageStream message: code 0 = handed to the peer's raft, else a gRPC status code. */
export interface RaftStreamAck {
  seq: number;
  code: number;
  message: string;
}
/** Acknowledgements written together on a MessageStream. */
export interface RaftStreamResponse {
  acks: RaftStreamAck[];
}
/** Asks which address a raft member listens on. */
export interface ResolveAddressRequest {
  raftId: string;
}
/** host:port of the member. */
export interface ResolveAddressResponse {
  addr: string;
}
/** A raft member; raft ids are decimal strings (64-bit). */
export interface RaftMember {
  raftId: string;
  nodeId: string;
  addr: string;
}
/** A manager asks the leader to add it to raft; addr is the host:port of its remote API. */
export interface JoinRequest {
  addr: string;
}
/** The newcomer's raft id and the current membership. */
export interface JoinResponse {
  raftId: string;
  members: RaftMember[];
  removedMembers: string[];
}
/** A member asks to be removed from raft. */
export interface LeaveRequest {
  raftId: string;
}
/** Empty acknowledgement. */
export interface LeaveResponse {}

// ---- CA (ca.proto) ----

/** Empty: asks for the root CA bundle. */
export interface GetRootCACertificateRequest {}
/** PEM bundle of the trust root(s) as served (its SHA-256 is the join token's digest). */
export interface GetRootCACertificateResponse {
  certificate: Buffer;
}
/** A node's certificate request with its join token. */
export interface IssueNodeCertificateRequest {
  csr: Buffer;
  token: string;
  /** "active" | "pause" | "drain". */
  availability: string;
}
/** The node id the CA assigned, and the node's membership ("pending" | "accepted"). */
export interface IssueNodeCertificateResponse {
  nodeId: string;
  nodeMembership: string;
}
/** Polls the issuance state of a node's certificate. */
export interface NodeCertificateStatusRequest {
  nodeId: string;
}
/** Issuance state: "pending" | "renew" | "issued" | "failed" | "rotate", with the error when failed. */
export interface IssuanceStatus {
  state: string;
  err: string;
}
/** Status, and the PEM certificate once issued (empty before). */
export interface NodeCertificateStatusResponse {
  status: IssuanceStatus | null;
  certificate: Buffer;
}
/** Empty: asks for the autolock key (managers only). */
export interface GetUnlockKeyRequest {}
/** The unlock key (empty when autolock is off) and its version. */
export interface GetUnlockKeyResponse {
  unlockKey: Buffer;
  version: number;
}

// ---- Dispatcher (dispatcher.proto) ----

/** Opens (session_id empty) or resumes an agent session. */
export interface SessionRequest {
  descriptionJson: string;
  sessionId: string;
}
/** A manager an agent may connect to, with its weight (10 for every manager). */
export interface WeightedPeer {
  nodeId: string;
  addr: string;
  weight: number;
}
/** Pushed on the session stream at once and whenever managers, keys, root CA or the node object change. */
export interface SessionMessage {
  sessionId: string;
  nodeJson: string;
  managers: WeightedPeer[];
  networkBootstrapKeysJson: string;
  rootCa: Buffer;
}
/** Keeps a session alive. */
export interface HeartbeatRequest {
  sessionId: string;
}
/** Milliseconds to wait before the next heartbeat. */
export interface HeartbeatResponse {
  periodMs: number;
}
/** One task's new status (JSON of TaskStatus). */
export interface TaskStatusUpdate {
  taskId: string;
  statusJson: string;
}
/** A batch of task status reports from one session. */
export interface UpdateTaskStatusRequest {
  sessionId: string;
  updates: TaskStatusUpdate[];
}
/** Empty acknowledgement. */
export interface UpdateTaskStatusResponse {}
/** Opens the assignment stream of a session. */
export interface AssignmentsRequest {
  sessionId: string;
}
/** What to do with one assignment. */
export type AssignmentAction = 'UPDATE' | 'REMOVE';
/** One assignment change (JSON of {task|secret|config|volume}). */
export interface AssignmentChange {
  assignmentJson: string;
  action: AssignmentAction;
}
/** COMPLETE replaces the agent's whole set; INCREMENTAL applies changes. */
export type AssignmentsType = 'COMPLETE' | 'INCREMENTAL';
/** One message of the assignment stream; `appliesTo` is the previous `resultsIn` ("" first). */
export interface AssignmentsMessage {
  type: AssignmentsType;
  appliesTo: string;
  resultsIn: string;
  changes: AssignmentChange[];
}

// ---- Control (control.proto) ----

/** A control API call: method name and JSON request. */
export interface ControlRequest {
  method: string;
  requestJson: string;
}
/** The JSON response of a control API call. */
export interface ControlResponse {
  responseJson: string;
}
/** The original caller of a forwarded control-stream call (the unary path carries it as metadata). */
export interface ControlForwardedIdentity {
  cn: string;
  ou: string;
  org: string;
  addr: string;
}
/** One request on the control stream (or, with `cancel`, the cancellation of request `id`). */
export interface ControlStreamCall {
  /** Unique among the client's requests in flight on the stream. */
  id: number;
  method: string;
  requestJson: string;
  /** Remaining deadline in ms when sent; 0 = none. */
  timeoutMs: number;
  cancel: boolean;
  /** Null unless a manager forwards the call for another caller. */
  forwarded: ControlForwardedIdentity | null;
}
/** The answer to one control-stream request: `code` 0 with a response, or a gRPC status code with its message. */
export interface ControlStreamResult {
  id: number;
  responseJson: string;
  code: number;
  message: string;
}
/** Client → server message of the control stream: a batch of calls. */
export interface ControlStreamRequest {
  calls: ControlStreamCall[];
}
/** Server → client message of the control stream: a batch of results, in completion order. */
export interface ControlStreamResponse {
  results: ControlStreamResult[];
}

// ---- Health (health.proto, grpc.health.v1) ----

/** Asks for the health of one service ("" = the server as a whole). */
export interface HealthCheckRequest {
  service: string;
}
/** grpc.health.v1 serving states. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
/** The serving state of the asked service. */
export interface HealthCheckResponse {
  status: ServingStatus;
}
