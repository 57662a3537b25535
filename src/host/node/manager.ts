import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from '../api/errors.js';
import type { Cluster, Node } from '../api/objects.js';
import { defaultClusterSpec } from '../api/cluster-defaults.js';
import { newRootCARecord, type RootCAMaterial } from '../ca/index.js';
import { withDeadline, type Clock, type Rng, type Timers } from '../env/index.js';
import { RealFs } from '../env/fs-real.js';
import { createRaftCore } from '../raft/core.js';
import { RaftNode, type RaftLogger } from '../raft/driver.js';
import { decodeMessage, encodeMessage } from '../raft/message-codec.js';
import { openRaftStorage, type DiskRaftStorage } from '../raft/raft-storage.js';
import { MessageType, NotLeaderError, Role, type ConfChange, type Message, type RaftConfig, type RaftId } from '../raft/types.js';
import { Store } from '../store/index.js';
import {
  TransportClient,
  forwardOptions,
  type CallContext,
  type ClientTls,
  type JoinRequest,
  type JoinResponse,
  type LeaveRequest,
  type LeaveResponse,
  SWARM_MAX_MESSAGE_BYTES,
} from '../transport/index.js';
import { CAService, bootstrapNodeObject } from './ca-service.js';
import {
  MemberBook,
  decodeSnapshotEnvelope,
  encodeMemberContext,
  encodeSnapshotEnvelope,
  newRaftId,
  type RaftMemberInfo,
} from './members.js';
import type { Logger } from './logger.js';

/** Raft timing of a manager. Ticks are counts of `tickMs`. */
export interface RaftTiming {
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
}

/** Defaults chosen for a leader failover under 2 s on a LAN (SwarmKit's 1 s tick × 10 takes 10–20 s). */
export const DEFAULT_RAFT_TIMING: RaftTiming = { tickMs: 100, electionTick: 10, heartbeatTick: 1 };

/** A component that runs only on the leader (orchestrators, scheduler, dispatcher, ...). */
export interface LeaderComponent {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** Options of a {@link Manager}. */
export interface ManagerOptions {
  nodeId: string;
  clusterId: string;
  /** '' for a manager that has not joined Raft yet: {@link Manager.assignRaftId} sets it before start(). */
  raftId: RaftId;
  /** Address other managers reach this one at (host:port). */
  advertiseAddr: string;
  stateDir: string;
  raftDir: string;
  timing: RaftTiming;
  timers: Timers;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  /** TLS for calls to other managers (this node's certificate). */
  clientTls: () => ClientTls;
  /** Brand-new cluster: this manager is its only initial voter and writes the cluster object. */
  bootstrap?: { root: RootCAMaterial; nodeCertPem: string };
  /** Members known from outside the log (a join reply, state.json). */
  knownMembers: RaftMemberInfo[];
  /** Snapshot every this many entries (default 10,000). */
  snapshotInterval?: number;
  /** Called when the member book changes (the node persists it for restarts and pushes it to agents). */
  onMembersChanged?: (members: RaftMemberInfo[]) => void;
  /** Called when this manager has been removed from Raft (demotion or removal). */
  onRemoved?: () => void;
}

/** How long the leader waits for a joining manager's Raft health check, ms (SwarmKit: 5 s). */
export const JOIN_HEALTH_CHECK_TIMEOUT_MS = 5_000;

/** How long the leader waits for a membership change to apply, ms. */
export const MEMBERSHIP_CHANGE_TIMEOUT_MS = 25_000;

/**
 * One manager: the replicated store on Raft (real WAL and snapshots), the Raft transport to its peers over
 * mutual TLS, the membership RPCs, the CA service, forwarding of writes to the leader, and the leader-only
 * components, started when this manager becomes leader and stopped when it stops being one.
 */
export class Manager {
  readonly store: Store;
  readonly book = new MemberBook();
  readonly ca: CAService;
  /** The manager's randomness (ids, tokens) and clock. */
  readonly rng: Rng;
  readonly clock: Clock;
  readonly timers: Timers;
  private raft!: RaftNode;
  /** True once start() has begun (the Raft id can no longer change). */
  private raftStarted = false;
  private storage!: DiskRaftStorage;
  private readonly clients = new Map<string, TransportClient>();
  private readonly lastContactMs = new Map<RaftId, number>();
  private readonly components: LeaderComponent[] = [];
  private readonly membersListeners = new Set<() => void>();
  private leading = false;
  private leaderTransition: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  /** Store proposals handed to Raft by this manager, and those that failed (metrics). */
  readonly proposalCounts = { proposed: 0, failed: 0 };

  constructor(private readonly o: ManagerOptions) {
    this.log = o.logger.child({ component: 'manager' });
    this.rng = o.rng;
    this.clock = o.clock;
    this.timers = o.timers;
    this.store = new Store({ clock: o.clock, rng: o.rng });
    this.ca = new CAService(this.store, { clock: o.clock, rng: o.rng });
    for (const m of o.knownMembers) this.book.remember(m);
    this.book.remember({ raftId: o.raftId, nodeId: o.nodeId, addr: o.advertiseAddr });
  }

  /** Calls `fn` after every applied membership change (e.g. the dispatcher pushes the new manager list). */
  addMembersListener(fn: () => void): () => void {
    this.membersListeners.add(fn);
    return () => this.membersListeners.delete(fn);
  }

  /** Registers a leader-only component (started/stopped with leadership). */
  addLeaderComponent(c: LeaderComponent): void {
    this.components.push(c);
    if (this.leading) void (async () => c.start())().catch((e) => this.log.error({ err: String(e), component: c.name }, 'leader component failed to start'));
  }

  /**
   * Sets the Raft id of a manager created before it joined Raft (its servers listen first, so that the leader
   * can health-check it and reach it as soon as the membership change applies), with the members the join
   * reply listed. Only before start().
   */
  assignRaftId(raftId: RaftId, members: RaftMemberInfo[]): void {
    if (this.raftStarted) throw new FailedPreconditionError('assignRaftId: the manager has started already');
    if (this.o.raftId !== '') throw new FailedPreconditionError(`assignRaftId: the manager already has raft id ${this.o.raftId}`);
    if (raftId === '') throw new InvalidArgumentError('assignRaftId: raftId must not be empty');
    this.o.raftId = raftId;
    for (const m of members) this.book.remember(m);
    this.book.remember({ raftId, nodeId: this.o.nodeId, addr: this.o.advertiseAddr });
  }

  /** Opens the WAL, recovers the store and starts Raft. */
  async start(): Promise<void> {
    if (this.o.raftId === '') throw new FailedPreconditionError('manager.start: no raft id (join raft and assignRaftId first)');
    this.raftStarted = true;
    const walLog = { warn: (msg: string, fields?: Record<string, unknown>) => this.log.warn({ ...fields }, msg) };
    const { storage, recovered } = await openRaftStorage(new RealFs(), this.o.raftDir, {}, walLog);
    this.storage = storage;
    const fresh = recovered.snapshot === undefined && recovered.entries.length === 0 && (recovered.hardState?.term ?? 0) === 0;
    const bootstrap = { ...recovered, ...(fresh && this.o.bootstrap ? { initialVoters: [this.o.raftId] } : {}) };
    const config: RaftConfig = {
      id: this.o.raftId,
      electionTick: this.o.timing.electionTick,
      heartbeatTick: this.o.timing.heartbeatTick,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 256,
      logEntriesForSlowFollowers: 500,
    };
    const raftLog: RaftLogger = {
      info: (msg, f) => this.log.info({ ...f }, msg),
      warn: (msg, f) => this.log.warn({ ...f }, msg),
      error: (msg, f) => this.log.error({ ...f }, msg),
    };
    this.raft = new RaftNode({
      config,
      bootstrap,
      createCore: createRaftCore,
      timers: this.o.timers,
      rng: this.o.rng,
      storage,
      stateMachine: {
        apply: (index, data) => this.store.applyCommitted(index, data),
        snapshot: () => encodeSnapshotEnvelope(this.book, this.store.snapshot()),
        restore: (data) => {
          const env = decodeSnapshotEnvelope(data);
          this.book.load(env.book);
          this.book.remember({ raftId: this.o.raftId, nodeId: this.o.nodeId, addr: this.o.advertiseAddr });
          this.store.restore(env.store);
        },
      },
      send: (msgs) => this.send(msgs),
      reportsSnapshotStatus: true,
      tickMs: this.o.timing.tickMs,
      snapshotInterval: this.o.snapshotInterval ?? 10_000,
      // The cluster object's raft spec applies live, as in SwarmKit (swarmctl cluster update).
      liveSettings: () => this.store.view((tx) => (tx.get('clusters', this.o.clusterId) ?? tx.list('clusters')[0])?.spec.raft),
      onSoftState: (s) => this.onSoftState(s.role === Role.Leader),
      onConfChange: (cc) => this.onConfChange(cc),
      onFatal: (err) => this.log.error({ err: String(err) }, 'raft stopped after a fatal error'),
      logger: raftLog,
    });
    this.store.setProposer({
      propose: async (data) => {
        this.proposalCounts.proposed++;
        try {
          await this.raft.propose(data);
        } catch (e) {
          this.proposalCounts.failed++;
          throw e;
        }
      },
    });
    this.raft.start();
    if (fresh && this.o.bootstrap) {
      // A lone bootstrap voter campaigns at once, once its membership entries are applied.
      await this.raft.whenIdle();
      this.raft.campaign();
    }
  }

  /** Stops leader components, Raft and the peer connections. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.setLeading(false);
    this.raft?.stop();
    await this.raft?.whenIdle().catch(() => undefined);
    this.store.close();
    await this.storage?.close().catch(() => undefined);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** True when this manager is the Raft leader. */
  get isLeader(): boolean {
    return this.raft?.isLeader ?? false;
  }

  /** The leader's member info, if a leader is known. */
  leaderInfo(): RaftMemberInfo | undefined {
    const id = this.raft?.leader;
    return id ? this.book.get(id) : undefined;
  }

  /** Raft status (term, commit, ...) for status reporting. */
  raftStatus(): ReturnType<RaftNode['status']> {
    return this.raft.status();
  }

  /** Members with reachability as SwarmKit reports it: self, and peers heard from recently. */
  members(): (RaftMemberInfo & { reachable: boolean; leader: boolean })[] {
    const now = this.o.clock.now();
    const recentMs = this.o.timing.tickMs * this.o.timing.electionTick * 2;
    const leader = this.raft?.leader ?? '';
    return this.book.list().map((m) => ({
      ...m,
      leader: m.raftId === leader,
      reachable: m.raftId === this.o.raftId || now - (this.lastContactMs.get(m.raftId) ?? 0) <= recentMs,
    }));
  }

  // ------------------------------------------------------------------ Raft transport

  /** Handles ProcessRaftMessage: the sender must be the swarm node its Raft id belongs to. */
  async receive(buf: Uint8Array, ctx: CallContext): Promise<void> {
    if (this.raft === undefined) throw new UnavailableError('raft: this manager is still starting');
    const m = decodeMessage(buf);
    if (m.to !== this.o.raftId) throw new InvalidArgumentError(`raft message for member ${m.to} reached member ${this.o.raftId}`);
    if (this.book.isRemoved(m.from)) {
      throw new FailedPreconditionError(removedMemberMessage(m.from));
    }
    const known = this.book.get(m.from);
    if (known !== undefined && known.nodeId !== '' && ctx.peer !== null && ctx.peer.nodeId !== known.nodeId) {
      throw new InvalidArgumentError(`raft message from member ${m.from} sent by node ${ctx.peer.nodeId}, which is not that member`);
    }
    this.lastContactMs.set(m.from, this.o.clock.now());
    this.raft.step(m);
  }

  private send(msgs: Message[]): void {
    for (const m of msgs) {
      const snap = m.type === MessageType.Snap;
      const peer = this.book.get(m.to);
      if (peer === undefined || peer.addr === '') {
        if (snap) this.raft.reportSnapshot(m.to, false);
        continue; // unknown address: Raft retransmits later
      }
      const c = this.client(peer.addr);
      c.sendRaftMessage(encodeMessage(m)).then(
        () => {
          this.lastContactMs.set(m.to, this.o.clock.now());
          // The peer took the snapshot (the call returns once its Raft has it): replicate from its index.
          if (snap) this.raft.reportSnapshot(m.to, true);
        },
        // Lost messages are Raft's business (reachability shows it), with one exception: a member that says
        // we were removed. That happens to a manager demoted or removed while its process was down: its own
        // log never got the conf change, so only its peers can tell it. A failed snapshot is re-probed at once.
        (e: unknown) => {
          if (snap) this.raft.reportSnapshot(m.to, false);
          this.onPeerRefusal(m.to, e);
        },
      );
    }
  }

  /** A cached mTLS client to another manager. */
  client(addr: string): TransportClient {
    let c = this.clients.get(addr);
    if (c === undefined) {
      // Large enough for forwarded control answers.
      c = new TransportClient(addr, { tls: this.o.clientTls(), timers: this.o.timers, maxMessageBytes: SWARM_MAX_MESSAGE_BYTES });
      this.clients.set(addr, c);
    }
    return c;
  }

  /** A client to the current leader; Unavailable when no leader is known. */
  leaderClient(): TransportClient {
    const l = this.leaderInfo();
    if (l === undefined || l.addr === '') throw new UnavailableError('raft: no leader is known right now; retry shortly');
    if (l.raftId === this.o.raftId) throw new FailedPreconditionError('this manager is the leader');
    return this.client(l.addr);
  }

  /** Drops cached clients (after this node's certificate changed). */
  resetClients(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // ------------------------------------------------------------------ membership

  /** RaftMembership.Join on the leader (forwarded by other managers). */
  async join(req: JoinRequest, ctx: CallContext): Promise<JoinResponse> {
    if (!this.isLeader) return this.leaderClient().join(req, forwardOptions(ctx));
    const nodeId = ctx.peer?.nodeId;
    if (!nodeId) throw new InvalidArgumentError('join: the caller has no node identity');
    const addr = normalizeJoinAddr(req.addr, ctx.peer?.addr ?? '');
    const node = this.store.view((tx) => tx.get('nodes', nodeId) as Node | undefined);
    if (node === undefined) throw new NotFoundError(`node ${nodeId} not found`);
    const existing = this.book.byNodeId(nodeId);
    if (existing !== undefined) {
      return this.joinResponse(existing.raftId);
    }
    // The newcomer must answer before it becomes a voter: adding an unreachable member can cost the quorum
    // (1 → 2 managers needs both), and this also opens the connection Raft will use right after the change.
    // A fresh connection: a cached one to this address may be backing off after an earlier failure.
    this.clients.get(addr)?.close();
    this.clients.delete(addr);
    await this.client(addr)
      .healthCheck('Raft', { timeoutMs: JOIN_HEALTH_CHECK_TIMEOUT_MS })
      .then((r) => {
        if (r.status !== 'SERVING') throw new Error(`status ${r.status}`);
      })
      .catch((e: unknown) => {
        throw new UnavailableError(`join: the new manager at ${addr} did not answer a Raft health check: ${e instanceof Error ? e.message : String(e)}`);
      });
    let raftId = newRaftId(this.o.rng.bytes(8));
    while (this.book.get(raftId) !== undefined || this.book.isRemoved(raftId)) raftId = newRaftId(this.o.rng.bytes(8));
    await withDeadline(
      this.o.timers,
      this.raft.proposeConfChange({ type: 'add', id: raftId, context: encodeMemberContext(nodeId, addr) }),
      MEMBERSHIP_CHANGE_TIMEOUT_MS,
      () => new UnavailableError(`raft: membership change (add) was not applied in time (${MEMBERSHIP_CHANGE_TIMEOUT_MS} ms)`),
    );
    this.log.info({ raftId, nodeId, addr }, 'manager joined raft');
    return this.joinResponse(raftId);
  }

  private joinResponse(raftId: RaftId): JoinResponse {
    return {
      raftId,
      members: this.book.list().map((m) => ({ raftId: m.raftId, nodeId: m.nodeId, addr: m.addr })),
      removedMembers: this.book.removed(),
    };
  }

  /** RaftMembership.Leave on the leader: removes a member (refused when quorum would be at risk). */
  async leave(req: LeaveRequest, ctx: CallContext): Promise<LeaveResponse> {
    if (!this.isLeader) {
      await this.leaderClient().leave(req, forwardOptions(ctx));
      return {};
    }
    await this.removeMember(req.raftId);
    return {};
  }

  /**
   * Removes a Raft member (leader only). Removing the leader itself first hands leadership to another voter
   * (the core does it as the removal applies); a removal that would lose quorum is refused by the core.
   */
  async removeMember(raftId: RaftId): Promise<void> {
    if (!this.isLeader) throw new NotLeaderError(this.raft.leader);
    if (this.book.get(raftId) === undefined) throw new NotFoundError("can't find manager in raft memberlist");
    await withDeadline(
      this.o.timers,
      this.raft.proposeConfChange({ type: 'remove', id: raftId, context: new Uint8Array() }),
      MEMBERSHIP_CHANGE_TIMEOUT_MS,
      () => new UnavailableError(`raft: membership change (remove) was not applied in time (${MEMBERSHIP_CHANGE_TIMEOUT_MS} ms)`),
    );
  }

  /** This manager's Raft id ('' until it has joined Raft). */
  get raftId(): RaftId {
    return this.o.raftId;
  }

  /**
   * Hands leadership to the most caught-up recently active voter (leader only) and resolves once this manager
   * no longer leads; rejects when no voter can take over or the hand-off does not happen within `timeoutMs`.
   * Used before the leader's own demotion, so that its removal is proposed by the next leader.
   */
  async transferLeadership(timeoutMs = this.o.timing.tickMs * this.o.timing.electionTick * 3): Promise<RaftId> {
    if (!this.isLeader) throw new NotLeaderError(this.raft.leader);
    const progress = this.raft.status().progress ?? {};
    let best: RaftId | '' = '';
    let bestMatch = -1;
    for (const [id, pr] of Object.entries(progress).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (id === this.o.raftId || !pr.recentActive) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === '') throw new FailedPreconditionError('raft: no other active voter can take over leadership');
    this.log.info({ to: best }, 'transferring leadership');
    await this.raft.transferLeadership(best);
    const deadline = this.o.clock.now() + timeoutMs;
    while (this.isLeader) {
      if (this.o.clock.now() > deadline) throw new UnavailableError(`raft: leadership transfer to ${best} did not complete within ${timeoutMs} ms`);
      await new Promise<void>((r) => this.o.timers.setTimeout(() => r(), 20));
    }
    return best;
  }

  private removedByPeer = false;

  private onPeerRefusal(peer: RaftId, e: unknown): void {
    if (this.removedByPeer || !(e instanceof FailedPreconditionError)) return;
    if (!e.message.includes(removedMemberMessage(this.o.raftId))) return;
    this.removedByPeer = true;
    this.log.warn({ raftId: this.o.raftId, peer }, 'a raft peer reports this manager was removed from raft');
    this.o.onRemoved?.();
  }

  private onConfChange(cc: ConfChange): void {
    this.book.apply(cc);
    // A bootstrap voter's entry carries no context: keep what we know of ourselves.
    if (cc.id === this.o.raftId && cc.type === 'add') {
      this.book.remember({ raftId: this.o.raftId, nodeId: this.o.nodeId, addr: this.o.advertiseAddr });
    }
    this.o.onMembersChanged?.(this.book.list());
    for (const l of this.membersListeners) l();
    if (cc.type === 'remove' && cc.id === this.o.raftId) {
      this.log.warn({ raftId: cc.id }, 'this manager was removed from raft');
      this.o.onRemoved?.();
    }
  }

  // ------------------------------------------------------------------ leadership

  private onSoftState(leader: boolean): void {
    void this.setLeading(leader);
  }

  /** Starts or stops the leader components; transitions run one at a time, in order. */
  private setLeading(leader: boolean): Promise<void> {
    this.leaderTransition = this.leaderTransition.then(async () => {
      if (leader === this.leading) return;
      if (leader && this.stopped) return;
      // A new leader's store may still miss entries committed in earlier terms: leader components (which act
      // on what the store says) start only once it has applied an entry of its own term. False = it lost
      // leadership meanwhile (the transition that follows has nothing to stop).
      if (leader && !(await this.raft.leaderReady())) return;
      this.leading = leader;
      if (leader) {
        this.log.info({ raftId: this.o.raftId }, 'became leader: starting leader components');
        await this.ensureClusterObject().catch((e) => this.log.error({ err: String(e) }, 'could not write the cluster object'));
        for (const c of this.components) {
          await (async () => c.start())().catch((e) => this.log.error({ err: String(e), component: c.name }, 'leader component failed to start'));
        }
      } else {
        this.log.info({ raftId: this.o.raftId }, 'lost leadership: stopping leader components');
        for (const c of [...this.components].reverse()) {
          await (async () => c.stop())().catch((e) => this.log.error({ err: String(e), component: c.name }, 'leader component failed to stop'));
        }
      }
    });
    return this.leaderTransition;
  }

  /** The bootstrapping manager writes the cluster object and its own node object on first leadership. */
  private async ensureClusterObject(): Promise<void> {
    const b = this.o.bootstrap;
    if (b === undefined) return;
    const exists = this.store.view((tx) => tx.list('clusters').length > 0);
    if (exists) return;
    const now = this.o.clock.now();
    const cluster: Cluster = {
      id: this.o.clusterId,
      meta: { version: 0, createdAt: now, updatedAt: now },
      spec: defaultClusterSpec({
        ...(this.o.snapshotInterval !== undefined ? { snapshotInterval: this.o.snapshotInterval } : {}),
        heartbeatTick: this.o.timing.heartbeatTick,
        electionTick: this.o.timing.electionTick,
      }),
      rootCA: newRootCARecord(b.root, this.o.rng),
      blacklistedCertificates: {},
    };
    await this.store.update((tx) => {
      if (tx.list('clusters').length > 0) return;
      tx.create('clusters', cluster);
      if (tx.get('nodes', this.o.nodeId) === undefined) {
        tx.create('nodes', bootstrapNodeObject({ nodeId: this.o.nodeId, certPem: b.nodeCertPem, now, addr: hostOf(this.o.advertiseAddr) }));
      }
    });
    this.log.info({ clusterId: this.o.clusterId }, 'cluster object created');
  }
}

/** "0.0.0.0:4243" from a caller at 127.0.0.5 becomes "127.0.0.5:4243" (SwarmKit's rule); the port must be set. */
export function normalizeJoinAddr(addr: string, callerAddr: string): string {
  const m = /^(.*):(\d+)$/.exec(addr ?? '');
  if (!m || Number(m[2]) <= 0 || Number(m[2]) > 65535) {
    throw new InvalidArgumentError(`join: addr must be host:port with a port in 1..65535, got "${addr}"`);
  }
  let host = m[1]!;
  if (host === '' || host === '0.0.0.0' || host === '[::]') host = hostOf(callerAddr) || host;
  return `${host}:${m[2]}`;
}

/** The refusal a manager answers a removed member's Raft message with; that member recognises it by this text. */
export function removedMemberMessage(raftId: RaftId): string {
  return `raft: member ${raftId} was removed from the cluster`;
}

/** The host part of "host:port" (IPv6 brackets kept off), or the input when it has no port. */
export function hostOf(addr: string): string {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  const h = m ? m[1]! : addr;
  return h.startsWith('ipv4:') ? h.slice(5) : h.replace(/^ipv6:/, '');
}

