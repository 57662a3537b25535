/**
 * swarmhost's object model: SwarmKit's objects (nodes, services, tasks, clusters, secrets, configs, networks)
 * as plain JSON-able TypeScript types. Durations are milliseconds (`...Ms`), sizes are bytes, CPU is nano-CPUs
 * (1e9 = one core), times are ms since the Unix epoch. Enum values keep SwarmKit's numbers so that ordering
 * comparisons (`state > TaskState.RUNNING`) mean the same thing.
 */

/** Version, creation and update stamps written by the store. `version` is the Raft index of the last change. */
export interface Meta {
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** Name and labels of an object. */
export interface Annotations {
  name: string;
  labels: Record<string, string>;
}

/** Task observed states; values are SwarmKit's, so numeric comparison orders them. */
export enum TaskState {
  NEW = 0,
  PENDING = 64,
  ASSIGNED = 192,
  ACCEPTED = 256,
  PREPARING = 320,
  READY = 384,
  STARTING = 448,
  RUNNING = 512,
  COMPLETE = 576,
  SHUTDOWN = 640,
  FAILED = 704,
  REJECTED = 768,
  REMOVE = 800,
  ORPHANED = 832,
}

export enum NodeRole {
  WORKER = 0,
  MANAGER = 1,
}

export enum NodeMembership {
  PENDING = 0,
  ACCEPTED = 1,
}

export enum NodeAvailability {
  ACTIVE = 0,
  PAUSE = 1,
  DRAIN = 2,
}

export enum NodeStatusState {
  UNKNOWN = 0,
  DOWN = 1,
  READY = 2,
  DISCONNECTED = 3,
}

export enum Reachability {
  UNKNOWN = 0,
  UNREACHABLE = 1,
  REACHABLE = 2,
}

export enum IssuanceState {
  UNKNOWN = 0,
  RENEW = 1,
  PENDING = 2,
  ISSUED = 3,
  FAILED = 4,
  ROTATE = 5,
}

/** Compute resources: CPU in nano-CPUs, memory in bytes, discrete generic resources by kind. */
export interface Resources {
  nanoCpus: number;
  memoryBytes: number;
  /** Discrete generic resources requested/offered, `kind -> count`. */
  generic?: Record<string, number>;
  /** Named generic resources a node offers, `kind -> values` (e.g. GPU ids). */
  genericNamed?: Record<string, string[]>;
}

export interface Platform {
  architecture: string;
  os: string;
}

export interface EngineDescription {
  engineVersion: string;
  labels: Record<string, string>;
  plugins: { type: string; name: string }[];
}

export interface NodeDescription {
  hostname: string;
  platform: Platform;
  resources: Resources;
  engine: EngineDescription;
  /** Executor plugin name@version the agent runs (reported by the agent). */
  executor?: string;
  tlsInfo?: { trustRoot: string; certIssuerSubject: string; certIssuerPublicKey: string };
}

export interface NodeSpec {
  annotations: Annotations;
  desiredRole: NodeRole;
  membership: NodeMembership;
  availability: NodeAvailability;
}

export interface NodeStatus {
  state: NodeStatusState;
  message: string;
  /** IP address the manager observed for the node. */
  addr: string;
}

export interface ManagerStatus {
  raftId: string;
  addr: string;
  leader: boolean;
  reachability: Reachability;
}

export interface NodeCertificate {
  role: NodeRole;
  csr: string;
  status: { state: IssuanceState; err: string };
  certificate: string;
  cn: string;
}

export interface Node {
  id: string;
  meta: Meta;
  spec: NodeSpec;
  description?: NodeDescription;
  status: NodeStatus;
  /** Computed on read from live Raft membership; never stored. */
  managerStatus?: ManagerStatus;
  certificate: NodeCertificate;
  /** Observed role: what the CA currently grants. */
  role: NodeRole;
}

export enum RestartCondition {
  NONE = 0,
  ON_FAILURE = 1,
  ANY = 2,
}

export interface RestartPolicy {
  condition: RestartCondition;
  delayMs: number;
  /** 0 = unlimited. */
  maxAttempts: number;
  /** 0 = unlimited window. */
  windowMs: number;
}

export interface PlacementPreference {
  /** `node.labels.<k>` or `engine.labels.<k>`. */
  spreadDescriptor: string;
}

export interface Placement {
  constraints: string[];
  preferences: PlacementPreference[];
  platforms: Platform[];
  /** 0 = unlimited. */
  maxReplicas: number;
}

export enum PortProtocol {
  TCP = 0,
  UDP = 1,
  SCTP = 2,
}

export enum PublishMode {
  INGRESS = 0,
  HOST = 1,
}

export interface PortConfig {
  name: string;
  protocol: PortProtocol;
  targetPort: number;
  publishedPort: number;
  publishMode: PublishMode;
}

export interface ContainerSpec {
  image: string;
  command: string[];
  args: string[];
  env: string[];
  labels: Record<string, string>;
  hostname: string;
  dir: string;
  user: string;
  tty: boolean;
  stopSignal: string;
  stopGracePeriodMs: number;
}

export interface TaskSpec {
  container: ContainerSpec;
  resources: { limits: Resources; reservations: Resources };
  restart: RestartPolicy;
  placement: Placement;
  /** Bumped by `--force` to make every task dirty. */
  forceUpdate: number;
}

export enum UpdateFailureAction {
  PAUSE = 0,
  CONTINUE = 1,
  ROLLBACK = 2,
}

export enum UpdateOrder {
  STOP_FIRST = 0,
  START_FIRST = 1,
}

export interface UpdateConfig {
  /** 0 = all dirty slots at once (lockstep). */
  parallelism: number;
  delayMs: number;
  failureAction: UpdateFailureAction;
  monitorMs: number;
  maxFailureRatio: number;
  order: UpdateOrder;
}

export type ServiceMode =
  | { replicated: { replicas: number } }
  | { global: Record<string, never> }
  | { replicatedJob: { maxConcurrent: number; totalCompletions: number } }
  | { globalJob: Record<string, never> };

export interface EndpointSpec {
  mode: 'vip' | 'dnsrr';
  ports: PortConfig[];
}

export interface ServiceSpec {
  annotations: Annotations;
  task: TaskSpec;
  mode: ServiceMode;
  update?: UpdateConfig;
  rollback?: UpdateConfig;
  endpoint?: EndpointSpec;
}

export enum UpdateState {
  UNKNOWN = 0,
  UPDATING = 1,
  PAUSED = 2,
  COMPLETED = 3,
  ROLLBACK_STARTED = 4,
  ROLLBACK_PAUSED = 5,
  ROLLBACK_COMPLETED = 6,
}

export interface UpdateStatus {
  state: UpdateState;
  startedAt: number;
  completedAt: number;
  message: string;
}

export interface Service {
  id: string;
  meta: Meta;
  spec: ServiceSpec;
  /** 0 at create; on update = the service's previous meta.version. Copied into tasks. */
  specVersion: number;
  previousSpec?: ServiceSpec;
  previousSpecVersion?: number;
  updateStatus?: UpdateStatus;
  jobStatus?: { jobIteration: number; lastExecution: number };
}

export interface TaskStatus {
  timestamp: number;
  state: TaskState;
  message: string;
  err: string;
  container?: { containerId: string; pid: number; exitCode: number };
  portStatus?: PortConfig[];
  appliedBy: string;
  appliedAt: number;
}

export interface Task {
  id: string;
  meta: Meta;
  spec: TaskSpec;
  specVersion: number;
  serviceId: string;
  /** >= 1 for replicated, 0 for global, 0-based for replicated jobs. */
  slot: number;
  /** Empty until scheduled; preset for global kinds. */
  nodeId: string;
  annotations: Annotations;
  serviceAnnotations: Annotations;
  status: TaskStatus;
  desiredState: TaskState;
  endpoint?: EndpointSpec;
  /** Concrete generic resource values claimed on the node, `kind -> values`. */
  assignedGenericResources?: Record<string, string[]>;
  jobIteration?: number;
}

export interface JoinTokens {
  worker: string;
  manager: string;
}

export interface RaftSettings {
  snapshotInterval: number;
  keepOldSnapshots: number;
  logEntriesForSlowFollowers: number;
  heartbeatTick: number;
  electionTick: number;
}

export interface ClusterSpec {
  annotations: Annotations;
  orchestration: { taskHistoryRetentionLimit: number };
  raft: RaftSettings;
  dispatcher: { heartbeatPeriodMs: number };
  caConfig: { nodeCertExpiryMs: number };
}

export interface RootCA {
  /** Never returned by reads through the control API. */
  caKey: string;
  caCert: string;
  caCertHash: string;
  joinTokens: JoinTokens;
}

export interface Cluster {
  id: string;
  meta: Meta;
  spec: ClusterSpec;
  rootCA: RootCA;
  /** Certificate CN -> expiry (ms) of removed nodes; their certificates are refused. */
  blacklistedCertificates: Record<string, { expiry: number }>;
  /**
   * The leader's active manager-side plugin versions, by slot name (`orchestrator.replicated`, `restartPolicy`,
   * `strategy`, ...): `version` is the full content hash. Written by the leader when they change, so that a new
   * leader can serve the same versions. Absent on clusters that never ran a plugin host.
   */
  pluginVersions?: Record<string, { name: string; version: string }>;
}

export interface Secret {
  id: string;
  meta: Meta;
  spec: { annotations: Annotations; data: string; driver?: string };
}

export interface Config {
  id: string;
  meta: Meta;
  spec: { annotations: Annotations; data: string };
}

export interface Network {
  id: string;
  meta: Meta;
  spec: {
    annotations: Annotations;
    driver: string;
    ingress: boolean;
    attachable: boolean;
    ipam: { subnet: string; gateway: string; range: string }[];
  };
}

/** Every object kind the store holds, by table name. */
export interface ObjectsByTable {
  nodes: Node;
  services: Service;
  tasks: Task;
  clusters: Cluster;
  secrets: Secret;
  configs: Config;
  networks: Network;
}

export type TableName = keyof ObjectsByTable;
export type StoreObject = ObjectsByTable[TableName];

/** All table names, in the order snapshots write them. */
export const TABLES: readonly TableName[] = ['nodes', 'services', 'tasks', 'clusters', 'secrets', 'configs', 'networks'];
