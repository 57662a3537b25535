import { X509Certificate } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from '../api/errors.js';
import { NodeRole, TABLES, type Cluster, type Node } from '../api/objects.js';
import {
  CERTIFICATES_DIR,
  DEFAULT_NODE_CERT_EXPIRY_MS,
  KeyStore,
  ROOT_KEY_FILE,
  bootstrapClusterCA,
  checkRootAgainstToken,
  generateKeyAndCsr,
  parseNodeIdentity,
  verifyCsr,
  type NodeIdentity,
  type NodeTlsMaterial,
} from '../ca/index.js';
import { RealTimers, cryptoRng, type Rng } from '../env/index.js';
import { newId } from '../store/index.js';
import {
  ServerTlsIdentity,
  TransportClient,
  TransportServer,
  forwardOptions,
  type CallContext,
  type ClientTls,
  type ControlRequest,
  type ControlResponse,
  SWARM_MAX_MESSAGE_BYTES,
} from '../transport/index.js';
import type { SessionMessage } from '../transport/messages.js';
import { CertRenewer } from './cert-renewer.js';
import type { Logger } from './logger.js';
import { DEFAULT_RAFT_TIMING, Manager, type RaftTiming } from './manager.js';
import { newRaftId, type RaftMemberInfo } from './members.js';
import { RoleSwitcher, type RoleSwitchHost } from './role-switch.js';
import { readNodeState, statePaths, writeNodeState, type NodeState } from './state.js';


/** Executes a control API call on the leader. Provided by the control API module. */
export type ControlDispatch = (method: string, request: unknown, ctx: { manager: Manager }) => Promise<unknown>;

/** Options of one swarmhost process (SwarmKit's swarmd flags). */
export interface SwarmNodeOptions {
  stateDir: string;
  hostname?: string;
  /** host:port the remote API listens on (default 0.0.0.0:4242). */
  listenRemoteApi: string;
  /** host:port other nodes use to reach this one (default: the listen address, 0.0.0.0 resolved to an IP). */
  advertiseRemoteApi?: string;
  /** Unix socket path of the control API (managers). */
  listenControlApi?: string;
  joinAddr?: string;
  joinToken?: string;
  timing?: RaftTiming;
  logger: Logger;
  /** The control API; until set, control calls answer Unavailable. */
  control?: ControlDispatch;
  /** Bound on the whole join flow, ms (default 60,000). */
  joinTimeoutMs?: number;
  rng?: Rng;
}

/** Leader-only and node-level hooks other subsystems attach to (dispatcher, orchestration, agent). */
export interface SwarmNodeHooks {
  /** Called once the manager exists and before it starts (register leader components here). */
  onManager?: (m: Manager, node: SwarmNode) => void;
  /** Called once the node is up (start the agent here). */
  onStarted?: (node: SwarmNode) => void | Promise<void>;
  /** Called first on stop. */
  onStopping?: (node: SwarmNode) => void | Promise<void>;
  /** Called while the manager's remote API server is set up (mount more services here). */
  onRemoteServer?: (server: TransportServer, m: Manager, node: SwarmNode) => void;
}

/**
 * One swarmhost process: its identity (certificates and state.json in the state dir), the remote API over
 * mutual TLS, and — on managers — Raft, the store, the CA service and the control socket. A node with no
 * certificate either creates a new cluster (no join address) or joins one with a token; a restarted node
 * reuses its identity and never needs the token again.
 */
export class SwarmNode {
  readonly timers = new RealTimers();
  readonly rng: Rng;
  identity!: NodeIdentity;
  material!: NodeTlsMaterial;
  state!: NodeState;
  manager: Manager | undefined;
  private remote: TransportServer | undefined;
  private controlServer: TransportServer | undefined;
  private serverIdentity: ServerTlsIdentity | undefined;
  private readonly log: Logger;
  private stopped = false;
  private renewer: CertRenewer | undefined;
  private roles: RoleSwitcher | undefined;
  advertiseAddr = '';

  constructor(
    readonly o: SwarmNodeOptions,
    private readonly hooks: SwarmNodeHooks = {},
  ) {
    this.rng = o.rng ?? cryptoRng;
    this.log = o.logger;
  }

  /** Node id (valid after start). */
  get nodeId(): string {
    return this.identity.nodeId;
  }

  /** TLS for calls this node makes to managers. */
  clientTls(): ClientTls {
    return {
      kind: 'verify',
      rootCaPem: Buffer.from(this.material.rootPem),
      certPem: Buffer.from(this.material.certPem),
      keyPem: Buffer.from(this.material.keyPem),
    };
  }

  /** Starts the node: identity, servers, manager. Throws with a message naming what went wrong. */
  async start(): Promise<void> {
    await mkdir(this.o.stateDir, { recursive: true, mode: 0o700 });
    this.advertiseAddr = resolveAdvertise(this.o.advertiseRemoteApi ?? this.o.listenRemoteApi);
    const keystore = new KeyStore(this.o.stateDir);
    const loaded = await keystore.load();
    let bootstrap: { rootPem: string; rootKeyPem: string } | undefined;
    if (loaded === undefined) {
      if (this.o.joinAddr) {
        await this.joinCluster(keystore);
      } else {
        bootstrap = await this.createCluster(keystore);
      }
    } else {
      if (this.o.joinToken) this.log.info({}, 'node already has an identity: --join-token ignored');
      this.material = { certPem: loaded.certPem, keyPem: loaded.keyPem, rootPem: loaded.rootPem };
      this.identity = loaded.identity;
      const st = await readNodeState(this.o.stateDir);
      if (st === undefined) throw new FailedPreconditionError(`${statePaths(this.o.stateDir).stateFile}: missing while certificates exist`);
      this.state = st;
      if (st.bootstrapper) {
        const root = await keystore.loadRootCA();
        if (root) bootstrap = { rootPem: root.certPem, rootKeyPem: root.keyPem };
      }
    }
    this.log.info({ nodeId: this.identity.nodeId, role: NodeRole[this.identity.role], clusterId: this.identity.clusterId }, 'node identity');

    this.roles = new RoleSwitcher({ host: this.roleSwitchHost(), timers: this.timers, logger: this.log.child({ component: 'role-switch' }) });
    if (this.identity.role === NodeRole.MANAGER) await this.startManagerRole(bootstrap);
    this.renewer = new CertRenewer({
      timers: this.timers,
      rng: this.rng,
      logger: this.log.child({ component: 'cert-renewer' }),
      current: () => this.material,
      issue: (csr) => this.requestCertificate(csr),
      install: (m) => this.installMaterial(m),
    });
    this.renewer.start();
    await this.hooks.onStarted?.(this);
    this.log.info({ addr: this.advertiseAddr, control: this.o.listenControlApi ?? null }, 'node started');
  }

  // ------------------------------------------------------------------ manager role (start, promotion, demotion)

  /**
   * Starts the manager role. A manager without a Raft id listens first and then asks the leader to add it (the
   * leader health-checks it before the membership change, as SwarmKit does); then Raft starts.
   */
  private async startManagerRole(bootstrap?: { rootPem: string; rootKeyPem: string }): Promise<void> {
    const manager = new Manager({
      nodeId: this.identity.nodeId,
      clusterId: this.identity.clusterId,
      raftId: this.state.raftId ?? '',
      advertiseAddr: this.advertiseAddr,
      stateDir: this.o.stateDir,
      raftDir: statePaths(this.o.stateDir).raft,
      timing: this.o.timing ?? DEFAULT_RAFT_TIMING,
      timers: this.timers,
      clock: this.timers,
      rng: this.rng,
      logger: this.log,
      clientTls: () => this.clientTls(),
      knownMembers: this.state.managers.filter((m) => m.raftId !== ''),
      ...(bootstrap ? { bootstrap: { root: { certPem: bootstrap.rootPem, keyPem: bootstrap.rootKeyPem }, nodeCertPem: this.material.certPem } } : {}),
      onMembersChanged: (members) => void this.saveManagers(members),
      onRemoved: () => {
        this.log.warn({}, 'removed from raft: this node no longer acts as a manager');
        this.roles?.removedFromRaft();
      },
    });
    this.manager = manager;
    this.hooks.onManager?.(manager, this);
    await this.startRemoteServer(manager);
    if (!this.state.raftId) {
      await this.joinRaft();
      manager.assignRaftId(this.state.raftId!, this.state.managers);
    }
    await manager.start();
    if (this.o.listenControlApi) await this.startControlSocket(manager, this.o.listenControlApi);
  }

  /**
   * Stops the manager role (demotion or removal from Raft): control socket, remote API, Raft and store; the
   * Raft id and log are forgotten, so that a later promotion joins Raft afresh (a removed id never comes back),
   * and a root CA key file is deleted.
   */
  private async stopManagerRole(): Promise<void> {
    if (this.manager === undefined) return;
    await this.closeManager();
    delete this.state.raftId;
    this.state.bootstrapper = false;
    this.state.managers = this.state.managers.filter((x) => x.nodeId !== this.identity.nodeId && x.addr !== this.advertiseAddr);
    await writeNodeState(this.o.stateDir, this.state);
    await rm(statePaths(this.o.stateDir).raft, { recursive: true, force: true });
    // A worker holds no CA key (the bootstrapping manager kept a copy on disk; the cluster object has it).
    await rm(join(this.o.stateDir, CERTIFICATES_DIR, ROOT_KEY_FILE), { force: true });
    this.log.info({}, 'manager stopped: this node continues as a worker');
  }

  /** Closes the control socket, the remote API and the manager (Raft state on disk is kept). */
  private async closeManager(): Promise<void> {
    const m = this.manager;
    const control = this.controlServer;
    const remote = this.remote;
    this.controlServer = undefined;
    this.remote = undefined;
    this.serverIdentity = undefined;
    await control?.close().catch(() => undefined);
    await remote?.close().catch(() => undefined);
    await m?.stop();
    this.manager = undefined;
  }

  /** A promotion's manager start; a failure closes what was started (the Raft id is kept for the retry). */
  private async startPromotedManager(): Promise<void> {
    try {
      await this.startManagerRole();
    } catch (e) {
      await this.closeManager();
      throw e;
    }
  }

  /**
   * Called with every session message the agent receives: remembers the pushed manager list (workers use it
   * to renew certificates) and follows the node's observed role (promotion, demotion).
   */
  onSessionMessage(msg: SessionMessage): void {
    if (this.stopped) return;
    this.rememberManagers(msg.managers);
    if (msg.nodeJson === '') return;
    let role: NodeRole;
    try {
      role = (JSON.parse(msg.nodeJson) as Node).role;
    } catch (e) {
      this.log.warn({ err: String(e) }, 'session message: node object is not JSON');
      return;
    }
    this.roles?.observe(role);
  }

  /** The role switcher's view of this node. */
  private roleSwitchHost(): RoleSwitchHost {
    return {
      certRole: () => this.identity.role,
      managerRunning: () => this.manager !== undefined,
      managerIsLeader: () => this.manager?.isLeader ?? false,
      renewCertificate: () => this.renewCertificate(),
      startManager: () => this.startPromotedManager(),
      stopManager: () => this.stopManagerRole(),
    };
  }

  /** Stops everything this node started (bounded: servers cut calls after their grace). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.hooks.onStopping?.(this);
    await this.roles?.stop();
    this.renewer?.stop();
    await this.controlServer?.close();
    await this.remote?.close();
    await this.manager?.stop();
    this.timers.clearAll();
  }

  /** Renews this node's certificate now (a role change); resolves when the attempt ends. */
  renewCertificate(): Promise<void> {
    if (this.renewer === undefined) return Promise.reject(new UnavailableError('node not started'));
    return this.renewer.renewNow();
  }

  /** Asks a manager's CA (this node's own server on a manager) to sign a CSR for this node. */
  private async requestCertificate(csrPem: string): Promise<string> {
    const addrs = this.manager ? [this.advertiseAddr] : this.state.managers.map((m) => m.addr).filter((a) => a !== '');
    let lastErr: unknown = new UnavailableError('no manager address known for certificate renewal');
    for (const addr of addrs) {
      const c = new TransportClient(addr, { tls: this.clientTls() });
      try {
        const { nodeId } = await c.issueNodeCertificate({ csr: Buffer.from(csrPem), token: '', availability: '' });
        // The status is a local read on the answering manager: wait (bounded) until it has applied the new
        // certificate, recognised by the CSR's public key.
        const want = verifyCsr(csrPem).subjectPublicKeyDer;
        const deadline = this.timers.now() + 15_000;
        for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
          const st = await c.nodeCertificateStatus({ nodeId });
          if (st.status?.state === 'failed') throw new FailedPreconditionError(`certificate renewal failed: ${st.status.err}`);
          if (st.status?.state === 'issued' && st.certificate.length > 0) {
            const got = new X509Certificate(st.certificate).publicKey.export({ type: 'spki', format: 'der' });
            if (Buffer.compare(got, want) === 0) return st.certificate.toString('utf8');
          }
          if (this.timers.now() > deadline) throw new UnavailableError('the renewed certificate did not reach this manager within 15 s');
          await new Promise((r) => this.timers.setTimeout(() => r(undefined), wait));
        }
      } catch (e) {
        lastErr = e;
      } finally {
        c.close();
      }
    }
    throw lastErr;
  }

  /** Saves renewed material and makes servers and clients use it. */
  private async installMaterial(m: NodeTlsMaterial): Promise<void> {
    await new KeyStore(this.o.stateDir).saveNode(m);
    this.material = m;
    this.identity = parseNodeIdentity(m.certPem);
    this.serverIdentity?.update({ rootCaPem: Buffer.from(m.rootPem), certPem: Buffer.from(m.certPem), keyPem: Buffer.from(m.keyPem) });
    this.manager?.resetClients();
  }

  // ------------------------------------------------------------------ cluster creation and joining

  private async createCluster(keystore: KeyStore): Promise<{ rootPem: string; rootKeyPem: string }> {
    const nodeId = newId(this.rng);
    const clusterId = newId(this.rng);
    const raftId = newRaftId(this.rng.bytes(8));
    const res = bootstrapClusterCA({ clock: this.timers, rng: this.rng }, { clusterId, nodeId, expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
    await keystore.saveRootCA(res.root);
    await keystore.saveNode(res.node);
    this.material = res.node;
    this.identity = parseNodeIdentity(res.node.certPem);
    this.state = { nodeId, clusterId, raftId, bootstrapper: true, managers: [{ raftId, nodeId, addr: this.advertiseAddr }] };
    await writeNodeState(this.o.stateDir, this.state);
    this.log.info({ nodeId, clusterId }, 'created a new cluster');
    return { rootPem: res.root.certPem, rootKeyPem: res.root.keyPem };
  }

  /** The join flow: fetch and check the root CA, send a CSR with the token, wait for the certificate. */
  private async joinCluster(keystore: KeyStore): Promise<void> {
    const addr = this.o.joinAddr!;
    const token = this.o.joinToken ?? '';
    if (token === '') throw new InvalidArgumentError('--join-token is required to join a cluster (get one with: swarmctl cluster inspect default)');
    const deadline = this.timers.now() + (this.o.joinTimeoutMs ?? 60_000);
    const insecure = new TransportClient(addr, { tls: { kind: 'insecureSkipVerify' } });
    let rootPem: string;
    try {
      rootPem = (await insecure.getRootCACertificate()).certificate.toString('utf8');
    } finally {
      insecure.close();
    }
    checkRootAgainstToken(rootPem, token);
    const { keyPem, csrPem } = generateKeyAndCsr();
    const ca = new TransportClient(addr, { tls: { kind: 'verify', rootCaPem: Buffer.from(rootPem) } });
    try {
      // A manager answers Unavailable while no leader is known (an election, a membership change): retry
      // with backoff until the join deadline rather than failing the join.
      let nodeId = '';
      for (let wait = 200; nodeId === ''; wait = Math.min(wait * 2, 2_000)) {
        try {
          nodeId = (await ca.issueNodeCertificate({ csr: Buffer.from(csrPem), token, availability: 'active' })).nodeId;
        } catch (e) {
          if (!(e instanceof UnavailableError) || this.timers.now() + wait > deadline) throw e;
          this.log.info({ err: e.message, retryInMs: wait }, 'join: the cluster is not ready, retrying');
          await new Promise((r) => this.timers.setTimeout(() => r(undefined), wait));
        }
      }
      let certPem = '';
      for (let wait = 200; certPem === ''; wait = Math.min(wait * 2, 2_000)) {
        const st = await ca.nodeCertificateStatus({ nodeId });
        if (st.status?.state === 'issued' && st.certificate.length > 0) certPem = st.certificate.toString('utf8');
        else if (st.status?.state === 'failed') throw new FailedPreconditionError(`certificate issuance failed: ${st.status.err}`);
        else if (this.timers.now() > deadline) throw new UnavailableError(`no certificate issued for node ${nodeId} before the join timeout`);
        else await new Promise((r) => this.timers.setTimeout(() => r(undefined), wait));
      }
      this.material = { certPem, keyPem, rootPem };
      this.identity = parseNodeIdentity(certPem);
      await keystore.saveNode(this.material);
      this.state = { nodeId, clusterId: this.identity.clusterId, managers: [{ raftId: '', nodeId: '', addr }] };
      await writeNodeState(this.o.stateDir, this.state);
      this.log.info({ nodeId, role: NodeRole[this.identity.role] }, 'joined the cluster');
    } finally {
      ca.close();
    }
  }

  /** A manager without a Raft id asks the leader (through any known manager) to add it to Raft. */
  private async joinRaft(): Promise<void> {
    const candidates = [this.o.joinAddr, ...this.state.managers.map((m) => m.addr)].filter((a): a is string => !!a);
    let lastErr: unknown = new UnavailableError('no manager address known to join raft');
    for (const addr of [...new Set(candidates)]) {
      const c = new TransportClient(addr, { tls: this.clientTls() });
      try {
        const res = await c.join({ addr: this.advertiseAddr }, { timeoutMs: 30_000 });
        this.state.raftId = res.raftId;
        this.state.managers = res.members.map((m) => ({ raftId: m.raftId, nodeId: m.nodeId, addr: m.addr }));
        await writeNodeState(this.o.stateDir, this.state);
        this.log.info({ raftId: res.raftId, members: res.members.length }, 'added to raft');
        return;
      } catch (e) {
        lastErr = e;
      } finally {
        c.close();
      }
    }
    throw lastErr;
  }

  /** A worker remembers the manager list its session pushes, so that a restart can reach any of them. */
  rememberManagers(peers: { nodeId: string; addr: string }[]): void {
    if (this.manager !== undefined || peers.length === 0) return;
    const next = peers.map((p) => ({ raftId: '', nodeId: p.nodeId, addr: p.addr }));
    if (JSON.stringify(next) === JSON.stringify(this.state.managers)) return;
    void this.saveManagers(next);
  }

  private async saveManagers(members: RaftMemberInfo[]): Promise<void> {
    this.state.managers = members;
    await writeNodeState(this.o.stateDir, this.state).catch((e) => this.log.warn({ err: String(e) }, 'could not save state.json'));
  }

  // ------------------------------------------------------------------ servers

  private isRemoved(nodeId: string): boolean {
    const m = this.manager;
    if (m === undefined) return false;
    return m.store.view((tx) => {
      const c = tx.list('clusters')[0] as Cluster | undefined;
      return c !== undefined && c.blacklistedCertificates[nodeId] !== undefined;
    });
  }

  private async startRemoteServer(manager: Manager): Promise<void> {
    this.serverIdentity = new ServerTlsIdentity({
      rootCaPem: Buffer.from(this.material.rootPem),
      certPem: Buffer.from(this.material.certPem),
      keyPem: Buffer.from(this.material.keyPem),
    });
    const server = new TransportServer({
      security: { kind: 'mtls', identity: this.serverIdentity, clusterId: this.identity.clusterId, isRemoved: (id) => this.isRemoved(id) },
      logger: transportLogger(this.log),
      timers: this.timers,
      // Control calls forwarded from other managers carry the same large answers as the control socket.
      maxMessageBytes: SWARM_MAX_MESSAGE_BYTES,
    });
    server.addRaft({
      processRaftMessage: (buf, ctx) => manager.receive(buf, ctx),
      resolveAddress: async (req) => {
        const m = manager.book.get(req.raftId);
        if (m === undefined) throw new InvalidArgumentError(`raft member ${req.raftId} is unknown`);
        return { addr: m.addr };
      },
    });
    server.addRaftMembership({ join: (req, ctx) => manager.join(req, ctx), leave: (req, ctx) => manager.leave(req, ctx) });
    server.addCA({
      getRootCACertificate: async () => ({ certificate: Buffer.from(this.material.rootPem) }),
      getUnlockKey: async () => ({ unlockKey: Buffer.alloc(0), version: 0 }),
    });
    server.addNodeCA({
      issueNodeCertificate: (req, ctx) =>
        manager.isLeader ? manager.ca.issue(req, ctx) : manager.leaderClient().issueNodeCertificate(req, forwardOptions(ctx)),
      nodeCertificateStatus: async (req) => manager.ca.status(req),
    });
    server.addControl({ call: (req, ctx) => this.controlCall(manager, req, ctx) });
    this.hooks.onRemoteServer?.(server, manager, this);
    server.addHealth();
    server.health.set('Raft', 'SERVING');
    await server.listen(this.o.listenRemoteApi);
    this.remote = server;
  }

  private async startControlSocket(manager: Manager, path: string): Promise<void> {
    const server = new TransportServer({
      security: { kind: 'local' },
      logger: transportLogger(this.log),
      timers: this.timers,
      maxMessageBytes: SWARM_MAX_MESSAGE_BYTES,
    });
    server.addControl({ call: (req, ctx) => this.controlCall(manager, req, ctx) });
    await server.listenUnix(path);
    this.controlServer = server;
  }

  /** Runs a control call on the leader, forwarding it there from any other manager. */
  private async controlCall(manager: Manager, req: ControlRequest, ctx: CallContext): Promise<ControlResponse> {
    // NodeInfo describes the manager that answers (never forwarded): identity, Raft position, store counts.
    if (req.method === 'NodeInfo') return { responseJson: JSON.stringify(this.nodeInfo(manager)) };
    // RenewCertificate renews the answering node's own certificate now (never forwarded).
    if (req.method === 'RenewCertificate') {
      await this.renewCertificate();
      const id = parseNodeIdentity(this.material.certPem);
      return { responseJson: JSON.stringify({ nodeId: id.nodeId, serial: id.serialHex, notAfter: new Date(id.notAfterMs).toISOString() }) };
    }
    if (!manager.isLeader) return manager.leaderClient().control(req, forwardOptions(ctx));
    const control = this.o.control;
    if (control === undefined) throw new UnavailableError('control API not available on this node');
    let request: unknown;
    try {
      request = req.requestJson === '' ? {} : JSON.parse(req.requestJson);
    } catch (e) {
      throw new InvalidArgumentError(`control request for ${req.method}: body is not JSON (${(e as Error).message})`);
    }
    const res = await control(req.method, request, { manager });
    return { responseJson: JSON.stringify(res ?? {}) };
  }

  /** This manager's identity, Raft position and store object counts (for operators and tests). */
  nodeInfo(manager: Manager): Record<string, unknown> {
    const st = manager.raftStatus();
    const counts = manager.store.view((tx) => Object.fromEntries(TABLES.map((t) => [t, tx.list(t).length])));
    return {
      nodeId: this.identity.nodeId,
      clusterId: this.identity.clusterId,
      role: NodeRole[this.identity.role].toLowerCase(),
      raftId: st.id,
      raftRole: st.role,
      term: st.term,
      leaderNodeId: manager.leaderInfo()?.nodeId ?? '',
      commit: st.commit,
      applied: manager.store.appliedIndex,
      members: manager.members(),
      counts,
    };
  }

  /** Path of a file in the state dir. */
  statePath(...parts: string[]): string {
    return join(this.o.stateDir, ...parts);
  }
}

function transportLogger(log: Logger): Logger {
  return log.child({ component: 'transport' });
}

/** "0.0.0.0:4242" → "<first non-internal IPv4>:4242" (or 127.0.0.1), so peers can dial the address. */
export function resolveAdvertise(addr: string): string {
  const m = /^(.*):(\d+)$/.exec(addr);
  if (!m) throw new InvalidArgumentError(`address must be host:port, got "${addr}"`);
  if (m[1] !== '0.0.0.0' && m[1] !== '' && m[1] !== '[::]') return addr;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return `${i.address}:${m[2]}`;
  }
  return `127.0.0.1:${m[2]}`;
}
