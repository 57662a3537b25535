/**
 * The pure Raft state machine (etcd-raft style semantics, written from the Raft paper and thesis): elections
 * with pre-vote and check-quorum, log replication with per-follower flow control, snapshots, one-at-a-time
 * membership changes and leadership transfer. No timers, I/O, Date or Math.random: inputs are method calls,
 * outputs come out of ready(). See docs/raft.md for the Ready contract and the defaults.
 */
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError, invariant } from '../api/errors.js';
import type { Rng } from '../env/index.js';
import { decodeConfChange, encodeConfChange } from './conf-change.js';
import { Progress } from './progress.js';
import { committedIndex, quorumSize, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import {
  ConfChangeRefusedError,
  EntryType,
  MessageType,
  NotLeaderError,
  ProposalTooLargeError,
  Role,
} from './types.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  RaftBootstrap,
  RaftConfig,
  RaftCore,
  RaftId,
  RaftStatus,
  Ready,
  Snapshot,
  SoftState,
} from './types.js';

/** Vote/TimeoutNow context marking a campaign started by a leadership transfer (it bypasses the lease). */
export const TRANSFER_CONTEXT = 'transfer';

/** Default upper bound on one proposal's payload (SwarmKit: 1.5 MiB), when RaftConfig.maxProposalBytes is unset. */
export const DEFAULT_MAX_PROPOSAL_BYTES = 1_572_864;

/** Default bound on the leader's uncommitted tail, when RaftConfig.maxUncommittedEntriesBytes is unset. */
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES = 64 * 1024 * 1024;

/**
 * A leader waits this many election timeouts for a follower to acknowledge a snapshot (when the driver does
 * not call reportSnapshot) before probing it again, which re-sends the snapshot if it is still needed.
 */
export const SNAPSHOT_RETRY_ELECTION_TIMEOUTS = 5;

type CampaignKind = 'pre' | 'elect' | 'transfer';

interface HandedReady {
  appliedTo: number;
  hadSnapshot: boolean;
}

/** Default tick length the driver should use with {@link defaultRaftConfig}: 100 ms. */
export const DEFAULT_TICK_MS = 100;

/**
 * swarmhost's defaults: with 100 ms ticks, an election timeout of 1–2 s and a heartbeat every 100 ms (a
 * failover of about 2 s at most, instead of SwarmKit's 10–20 s at 1 s ticks); SwarmKit's message, window and
 * slow-follower sizes. See docs/raft.md.
 */
export function defaultRaftConfig(id: RaftId): RaftConfig {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: 65_535,
    maxInflightMsgs: 256,
    logEntriesForSlowFollowers: 500,
    maxProposalBytes: DEFAULT_MAX_PROPOSAL_BYTES,
    maxUncommittedEntriesBytes: DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES,
  };
}

/** Checks a RaftConfig; throws InvalidArgumentError naming the field and the rule. */
export function validateRaftConfig(c: RaftConfig): void {
  const intAtLeast = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`raft config: ${name} must be an integer >= ${min} (got ${v})`);
  };
  if (typeof c.id !== 'string' || c.id === '' || c.id === '0') {
    throw new InvalidArgumentError('raft config: id must be a non-empty raft id other than "0"');
  }
  intAtLeast('heartbeatTick', c.heartbeatTick, 1);
  intAtLeast('electionTick', c.electionTick, 1);
  if (c.electionTick <= c.heartbeatTick) {
    throw new InvalidArgumentError(
      `raft config: electionTick must be greater than heartbeatTick (got ${c.electionTick} <= ${c.heartbeatTick})`,
    );
  }
  intAtLeast('maxSizePerMsgBytes', c.maxSizePerMsgBytes, 1);
  intAtLeast('maxInflightMsgs', c.maxInflightMsgs, 1);
  intAtLeast('logEntriesForSlowFollowers', c.logEntriesForSlowFollowers, 0);
  if (c.maxProposalBytes !== undefined) intAtLeast('maxProposalBytes', c.maxProposalBytes, 1);
  if (c.maxUncommittedEntriesBytes !== undefined) intAtLeast('maxUncommittedEntriesBytes', c.maxUncommittedEntriesBytes, 1);
}

/**
 * Creates a Raft member from its configuration and what its WAL/snapshot hold. `rng` randomizes election
 * timeouts (inject a SeededRng in simulations for reproducible runs).
 */
export function createRaftCore(config: RaftConfig, bootstrap: RaftBootstrap, rng: Rng): RaftCore {
  return new Raft(config, bootstrap, rng);
}

class Raft implements RaftCore {
  readonly id: RaftId;
  private readonly cfg: RaftConfig;
  private readonly rng: Rng;
  private readonly maxProposalBytes: number;
  private readonly maxUncommittedEntriesBytes: number;
  /** Leader only: payload bytes of entries appended in this term and not yet committed. */
  private uncommittedBytes = 0;

  // Persistent state.
  private term = 0;
  private vote: RaftId | '' = '';
  private readonly log: RaftLog;

  // Volatile state.
  private role: Role = Role.Follower;
  private lead: RaftId | '' = '';
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since creation; progress.lastHeardTick is measured against it. */
  private tickCount = 0;
  private votes = new Map<RaftId, boolean>();
  private prs = new Map<RaftId, Progress>();
  private leadTransferee: RaftId | '' = '';
  /** Index of the latest membership change proposed (or of the no-op, on election); refuse another until applied. */
  private pendingConfIndex = 0;

  // Membership, as of the last applied (handed-out) change; history keeps the conf at each change for snapshots.
  private voters = new Set<RaftId>();
  private removed = new Set<RaftId>();
  private confHistory: { index: number; conf: ConfState }[] = [];

  // Snapshots.
  /** Latest application snapshot (from compact(), a received Snap, or bootstrap), sent to lagging followers. */
  private appSnapshot: Snapshot | undefined;
  /** Snapshot received from the leader and not yet handed out in a Ready. */
  private pendingSnapshot: Snapshot | undefined;

  // Ready bookkeeping.
  private msgs: Message[] = [];
  /** Last committed index handed out in committedEntries (or covered by a handed-out snapshot). */
  private appliedHanded: number;
  /** Last index the driver acknowledged as applied (advance()). */
  private applied: number;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private handed: HandedReady | undefined;

  constructor(config: RaftConfig, bootstrap: RaftBootstrap, rng: Rng) {
    validateRaftConfig(config);
    this.cfg = config;
    this.id = config.id;
    this.rng = rng;
    this.maxProposalBytes = config.maxProposalBytes ?? DEFAULT_MAX_PROPOSAL_BYTES;
    this.maxUncommittedEntriesBytes = config.maxUncommittedEntriesBytes ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES;

    const snap = bootstrap.snapshot;
    const hs = bootstrap.hardState;
    const fresh = !snap && bootstrap.entries.length === 0 && (!hs || hs.term === 0);
    let prevHs: HardState = { term: 0, vote: '', commit: 0 };
    if (fresh && bootstrap.initialVoters && bootstrap.initialVoters.length > 0) {
      // A brand-new cluster: write one membership entry per initial voter at term 1 (committed), so that a
      // member joining later learns the full membership by replaying the log from index 1.
      const ids = bootstrap.initialVoters;
      if (!ids.includes(this.id)) {
        throw new InvalidArgumentError(`raft bootstrap: initialVoters must include this member's id ${this.id}`);
      }
      if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('raft bootstrap: initialVoters must not repeat an id');
      const ents: Entry[] = ids.map((id, i) => ({
        term: 1,
        index: i + 1,
        type: EntryType.ConfChange,
        data: encodeConfChange({ type: 'add', id, context: new Uint8Array(0) }),
      }));
      this.log = new RaftLog(0, 0, ents, ents.length);
      this.log.unstableFrom = 1; // the driver must persist them
      this.term = 1;
      for (const id of ids) this.voters.add(id);
      this.confHistory.push({ index: ents.length, conf: this.confState() });
      this.appliedHanded = 0;
      this.applied = 0;
    } else {
      const offset = snap ? snap.metadata.index : 0;
      const offsetTerm = snap ? snap.metadata.term : 0;
      const commit = Math.max(hs?.commit ?? 0, offset);
      const ents = bootstrap.entries.filter((e) => e.index > offset);
      if (ents.length > 0 && ents[0]!.index !== offset + 1) {
        throw new InvalidArgumentError(`raft bootstrap: entries must start at index ${offset + 1} (got ${ents[0]!.index})`);
      }
      if (commit > offset + ents.length) {
        throw new InvalidArgumentError(`raft bootstrap: hardState.commit ${commit} is beyond the last entry ${offset + ents.length}`);
      }
      this.log = new RaftLog(offset, offsetTerm, ents, commit);
      if (snap) {
        for (const v of snap.metadata.conf.voters) this.voters.add(v);
        for (const r of snap.metadata.conf.removed) this.removed.add(r);
        this.appSnapshot = snap;
        this.confHistory.push({ index: offset, conf: this.confState() });
      }
      // Committed membership changes after the snapshot take effect now (and again, idempotently, when handed out).
      for (let i = offset + 1; i <= commit; i++) {
        const e = this.log.entry(i);
        if (e.type === EntryType.ConfChange) this.applyConfChange(i, decodeConfChange(e.data), false);
      }
      if (hs) {
        this.term = hs.term;
        this.vote = hs.vote;
        prevHs = { term: hs.term, vote: hs.vote, commit };
      }
      this.appliedHanded = offset;
      this.applied = offset;
    }
    this.prevHardState = prevHs;
    this.prevSoftState = { leader: '', role: Role.Follower };
    this.becomeFollower(this.term, '');
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickCount++;
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? 'pre' : 'elect');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    // Check-quorum over a sliding window: step down as soon as a quorum has been silent for an election timeout.
    if (this.cfg.checkQuorum && !this.quorumActive()) {
      this.becomeFollower(this.term, '');
      return;
    }
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.leadTransferee !== '') this.leadTransferee = ''; // the transfer did not happen in time: abort
      if (!this.voters.has(this.id)) this.handOffAfterSelfRemoval(); // removed leader: try another voter
    }
    const retryTicks = this.cfg.electionTick * SNAPSHOT_RETRY_ELECTION_TIMEOUTS;
    for (const pr of this.prs.values()) {
      if (pr.state === 'snapshot' && this.tickCount - pr.snapshotSentTick >= retryTicks) pr.becomeProbe();
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  campaign(): void {
    this.hup(this.cfg.preVote ? 'pre' : 'elect');
  }

  propose(data: Uint8Array): { index: number; term: number } {
    if (data.byteLength === 0) {
      throw new InvalidArgumentError('propose: data must not be empty (empty entries are reserved for the leader no-op)');
    }
    return this.proposeEntry(EntryType.Normal, data);
  }

  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    if (cc.type !== 'add' && cc.type !== 'remove') throw new InvalidArgumentError('proposeConfChange: type must be "add" or "remove"');
    if (typeof cc.id !== 'string' || cc.id === '' || cc.id === '0') {
      throw new InvalidArgumentError('proposeConfChange: id must be a non-empty raft id other than "0"');
    }
    this.requireLeaderForProposal();
    if (this.pendingConfIndex > this.applied) {
      throw new ConfChangeRefusedError('raft: a membership change is already in progress');
    }
    if (this.removed.has(cc.id)) {
      throw new ConfChangeRefusedError(`raft: member ${cc.id} was removed from the cluster and cannot rejoin`);
    }
    if (cc.type === 'remove') {
      if (!this.voters.has(cc.id)) throw new ConfChangeRefusedError(`raft: member ${cc.id} is not a member of the cluster`);
      const remaining = [...this.voters].filter((v) => v !== cc.id);
      const reachable = remaining.filter((v) => v === this.id || this.isRecentlyActive(v)).length;
      if (remaining.length === 0 || reachable < quorumSize(remaining.length)) {
        throw new ConfChangeRefusedError('raft: member cannot be removed, because removing it may result in loss of quorum');
      }
    }
    const r = this.proposeEntry(EntryType.ConfChange, encodeConfChange(cc));
    this.pendingConfIndex = r.index;
    return r;
  }

  /**
   * A leader whose own removal was applied transfers leadership to the remaining voter with the highest
   * match index (ties: lowest id, for determinism); with no voter left it simply steps down.
   */
  private handOffAfterSelfRemoval(): void {
    let best: RaftId | '' = '';
    let bestMatch = -1;
    for (const id of [...this.voters].sort()) {
      const pr = this.prs.get(id);
      if (pr !== undefined && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === '') {
      this.becomeFollower(this.term, '');
      return;
    }
    this.transferLeadership(best);
  }

  transferLeadership(to: RaftId): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead);
    if (to === this.id) throw new InvalidArgumentError('transferLeadership: to must be another member (it is this leader)');
    if (!this.voters.has(to)) throw new InvalidArgumentError(`transferLeadership: to must be a voting member (${to} is not)`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer must complete within one election timeout
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  /**
   * Optional driver feedback: a snapshot send to `to` finished (`ok`) or failed. On failure the leader probes
   * again at once instead of waiting for the retry timeout.
   */
  reportSnapshot(to: RaftId, ok: boolean): void {
    if (this.role !== Role.Leader) return;
    const pr = this.prs.get(to);
    if (!pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's answer (or a heartbeat response) before probing
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (this.removed.has(m.from)) return; // removed members may never influence the cluster again
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease = this.cfg.checkQuorum && this.lead !== '' && this.electionElapsed < this.cfg.electionTick;
        if (!force && inLease) {
          // The lease: we heard from a live leader within the election timeout; do not help depose it.
          if (m.type === MessageType.PreVote) this.send(this.reply(m, MessageType.PreVoteResp, { term: this.term, reject: true }));
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote carries a future term; it never changes ours.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-votes echo the future term of our pre-campaign; counted below.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. after a partition) learns our term and steps down, instead of being ignored.
        this.send(this.reply(m, MessageType.AppResp, {}));
      } else if (m.type === MessageType.PreVote) {
        this.send(this.reply(m, MessageType.PreVoteResp, { term: this.term, reject: true }));
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      case Role.Follower:
        this.stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- elections

  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.lead === '') ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted vote answers at the request's term (for a pre-vote: the future term being canvassed).
      this.send(this.reply(m, respType, { term: m.term, reject: false }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(this.reply(m, respType, { term: this.term, reject: true }));
    }
  }

  private hup(kind: CampaignKind): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // A committed but unapplied membership change could change who votes: wait until it is applied.
    for (let i = this.appliedHanded + 1; i <= this.log.committed; i++) {
      if (i >= this.log.firstIndex() && this.log.entry(i).type === EntryType.ConfChange) return;
    }
    this.campaignNow(kind);
  }

  private campaignNow(kind: CampaignKind): void {
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = MessageType.Vote;
    }
    this.votes.set(this.id, true);
    const res = voteResult(this.voters, this.votes);
    if (res === 'won') {
      if (kind === 'pre') this.campaignNow('elect');
      else this.becomeLeader();
      return;
    }
    for (const v of this.sortedVoters()) {
      if (v === this.id) continue;
      const msg = this.newMessage(type, v, {
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
      });
      if (kind === 'transfer') msg.context = TRANSFER_CONTEXT;
      this.send(msg);
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.PreVoteResp:
      case MessageType.VoteResp: {
        if (m.type !== myResp) return; // a response from an earlier phase
        if (!this.voters.has(m.from)) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        const res = voteResult(this.voters, this.votes);
        if (res === 'won') {
          if (this.role === Role.PreCandidate) this.campaignNow('elect');
          else this.becomeLeader();
        } else if (res === 'lost') {
          this.becomeFollower(this.term, '');
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        // Leadership transfer: campaign at once, skipping pre-vote and the lease.
        if (this.promotable()) this.hup('transfer');
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower side of replication

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(this.reply(m, MessageType.AppResp, { index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(this.reply(m, MessageType.AppResp, { index: lastNew }));
      return;
    }
    // Reject with a hint: the largest index at or below the probe whose term is <= the leader's term there,
    // so the leader can skip a whole conflicting term per round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      this.reply(m, MessageType.AppResp, { index: m.index, reject: true, rejectHint: hint.index, logTermHint: hint.term }),
    );
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends commit = min(our match, its commit), so it never exceeds what we hold.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const resp = this.reply(m, MessageType.HeartbeatResp, {});
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    invariant(snap !== undefined, 'Snap message without a snapshot');
    const { index, term } = snap.metadata;
    if (index <= this.log.committed) {
      // Already have it (a duplicate or a late one): report where we are.
      this.send(this.reply(m, MessageType.AppResp, { index: this.log.committed }));
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // Our log already contains the snapshot's last entry: just commit up to it.
      this.log.commitTo(index);
      this.send(this.reply(m, MessageType.AppResp, { index: this.log.lastIndex() }));
      return;
    }
    this.log.restore(index, term);
    this.voters = new Set(snap.metadata.conf.voters);
    this.removed = new Set(snap.metadata.conf.removed);
    this.confHistory = [{ index, conf: this.confState() }];
    this.appSnapshot = snap;
    this.pendingSnapshot = snap;
    this.appliedHanded = index;
    this.pendingConfIndex = 0;
    this.send(this.reply(m, MessageType.AppResp, { index: this.log.lastIndex() }));
  }

  // ---------------------------------------------------------------- leader side

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return; // not a member (yet, or any more)
    pr.lastHeardTick = this.tickCount;
    switch (m.type) {
      case MessageType.AppResp: {
        if (m.reject) {
          let probe = m.rejectHint;
          if (m.logTermHint > 0) probe = this.log.findConflictByTerm(m.rejectHint, m.logTermHint).index;
          if (pr.maybeDecrTo(m.index, probe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from, true);
          }
          return;
        }
        const wasPaused = pr.paused();
        if (pr.maybeUpdate(m.index)) {
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
          else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
          if (this.maybeCommit()) this.bcastAppend();
          else if (wasPaused) this.sendAppend(m.from, true);
          while (this.sendAppend(m.from, false)) {
            // keep filling the inflight window
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        }
        return;
      }
      case MessageType.HeartbeatResp:
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        return;
      default:
        return;
    }
  }

  private requireLeaderForProposal(): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead);
    if (this.leadTransferee !== '') {
      throw new UnavailableError(
        `raft: leadership transfer to ${this.leadTransferee} in progress; proposals are refused until it completes`,
      );
    }
  }

  private proposeEntry(type: EntryType, data: Uint8Array): { index: number; term: number } {
    this.requireLeaderForProposal();
    if (data.byteLength > this.maxProposalBytes) throw new ProposalTooLargeError(data.byteLength, this.maxProposalBytes);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.maxUncommittedEntriesBytes) {
      throw new ResourceExhaustedError(
        `raft: too many uncommitted entries (${this.uncommittedBytes} bytes pending, limit maxUncommittedEntriesBytes=${this.maxUncommittedEntriesBytes})`,
      );
    }
    const e = this.appendEntry(type, data);
    this.bcastAppend();
    return { index: e.index, term: e.term };
  }

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([e]);
    this.uncommittedBytes += data.byteLength;
    const self = this.prs.get(this.id);
    if (self) self.maybeUpdate(e.index);
    this.maybeCommit();
    return e;
  }

  /** Advances commit to the highest index on a majority, but only if that entry is of the current term (Figure 8). */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const v of this.voters) matches.push(this.prs.get(v)?.match ?? 0);
    const mci = committedIndex(matches);
    if (mci > this.log.committed && this.log.term(mci) === this.term) {
      for (let i = this.log.committed + 1; i <= mci; i++) {
        if (this.log.term(i) === this.term) this.uncommittedBytes -= this.log.entry(i).data.byteLength;
      }
      if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
      this.log.commitTo(mci);
      return true;
    }
    return false;
  }

  private bcastAppend(): void {
    for (const id of this.sortedFollowers()) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    for (const id of this.sortedFollowers()) {
      const pr = this.prs.get(id)!;
      this.send(this.newMessage(MessageType.Heartbeat, id, { commit: Math.min(pr.match, this.log.committed) }));
    }
  }

  /** Sends the next App (or a snapshot) to `to` if its progress allows; returns whether a message was sent. */
  private sendAppend(to: RaftId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.paused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      const snap = this.appSnapshot;
      invariant(snap !== undefined, `follower ${to} needs entries below ${this.log.firstIndex()} but there is no snapshot`);
      invariant(snap.metadata.index >= this.log.firstIndex() - 1, 'the snapshot must cover the compacted prefix');
      pr.becomeSnapshot(snap.metadata.index, this.tickCount);
      this.send(this.newMessage(MessageType.Snap, to, { snapshot: snap }));
      return true;
    }
    const ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxSizePerMsgBytes);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      this.newMessage(MessageType.App, to, { index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }),
    );
    if (pr.state === 'replicate') {
      if (ents.length > 0) {
        const last = ents[ents.length - 1]!.index;
        pr.next = last + 1;
        pr.inflights.add(last);
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendTimeoutNow(to: RaftId): void {
    this.send(this.newMessage(MessageType.TimeoutNow, to, {}));
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) if (v === this.id || this.isRecentlyActive(v)) active++;
    return active >= quorumSize(this.voters.size);
  }

  private isRecentlyActive(id: RaftId): boolean {
    if (id === this.id) return true;
    const pr = this.prs.get(id);
    return pr !== undefined && this.tickCount - pr.lastHeardTick < this.cfg.electionTick;
  }

  reachablePeers(): RaftId[] {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead);
    return this.sortedVoters().filter((v) => this.isRecentlyActive(v));
  }

  // ---------------------------------------------------------------- role changes

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTick + this.rng.int(this.cfg.electionTick);
    this.votes = new Map();
    this.prs = new Map();
    this.leadTransferee = '';
    this.uncommittedBytes = 0;
  }

  private becomeFollower(term: number, lead: RaftId | ''): void {
    this.reset(term);
    this.role = Role.Follower;
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== Role.Leader, 'leader cannot become pre-candidate');
    // Term and vote stay: a pre-campaign must not disturb anyone.
    this.role = Role.PreCandidate;
    this.lead = '';
    this.votes = new Map();
  }

  private becomeCandidate(): void {
    invariant(this.role !== Role.Leader, 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    invariant(this.role === Role.Candidate, 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = Role.Leader;
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const v of this.voters) {
      const pr = new Progress(last + 1, this.cfg.maxInflightMsgs, this.tickCount);
      if (v === this.id) {
        pr.match = last;
        pr.becomeReplicate(); // the leader's own log is always current
      }
      this.prs.set(v, pr);
    }
    // Entries of earlier terms may hold an unapplied membership change: no new change until our no-op applies.
    this.pendingConfIndex = last + 1;
    this.appendEntry(EntryType.Normal, new Uint8Array(0));
    this.bcastAppend();
  }

  private promotable(): boolean {
    return this.voters.has(this.id);
  }

  // ---------------------------------------------------------------- membership

  private confState(): ConfState {
    return { voters: [...this.voters].sort(), removed: [...this.removed].sort() };
  }

  /** Applies a committed membership change (idempotent: a replay after restart changes nothing). */
  private applyConfChange(index: number, cc: ConfChange, live: boolean): void {
    if (cc.type === 'add') {
      if (this.removed.has(cc.id) || this.voters.has(cc.id)) return;
      this.voters.add(cc.id);
      if (live && this.role === Role.Leader) {
        this.prs.set(cc.id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs, this.tickCount));
        this.sendAppend(cc.id, true); // start probing the newcomer now rather than at the next heartbeat
      }
    } else {
      if (this.removed.has(cc.id)) return;
      this.voters.delete(cc.id);
      this.removed.add(cc.id);
      this.prs.delete(cc.id);
    }
    this.confHistory.push({ index, conf: this.confState() });
    if (!live || this.role !== Role.Leader) return;
    if (cc.type === 'remove' && cc.id === this.id) {
      // Stepping down at once could strand the remaining voters: they may not know yet that the removal is
      // committed, so they still need this member's vote, which a longer log here would refuse. Keep
      // leading (proposals refused) and hand leadership to the most caught-up voter instead.
      this.handOffAfterSelfRemoval();
      return;
    }
    if (cc.type === 'remove') {
      if (this.leadTransferee === cc.id) this.leadTransferee = '';
      if (this.maybeCommit()) this.bcastAppend();
    }
  }

  private confAt(index: number): ConfState {
    let conf: ConfState | undefined;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf ?? { voters: [], removed: [] };
  }

  // ---------------------------------------------------------------- snapshots

  compact(index: number, data: Uint8Array, keepEntries = this.cfg.logEntriesForSlowFollowers): void {
    if (!Number.isInteger(keepEntries) || keepEntries < 0) {
      throw new InvalidArgumentError(`compact: keepEntries must be an integer >= 0 (got ${keepEntries})`);
    }
    if (!Number.isInteger(index) || index < 1) throw new InvalidArgumentError(`compact: index must be an integer >= 1 (got ${index})`);
    if (index > this.applied) {
      throw new InvalidArgumentError(`compact: index must be <= the applied index ${this.applied} (got ${index})`);
    }
    const cur = this.appSnapshot?.metadata.index ?? 0;
    if (index < cur) throw new InvalidArgumentError(`compact: index must be >= the current snapshot index ${cur} (got ${index})`);
    const term = this.log.term(index);
    invariant(term !== undefined, `compact: term of applied index ${index} is not retained`);
    this.appSnapshot = { metadata: { index, term, conf: this.confAt(index) }, data };
    const to = index - keepEntries;
    if (to > 0) this.log.compact(to);
    // Keep only the conf history a future snapshot may still need.
    const keepFrom = this.confHistory.findLastIndex((h) => h.index <= index);
    if (keepFrom > 0) this.confHistory = this.confHistory.slice(keepFrom);
  }

  // ---------------------------------------------------------------- ready / advance

  hasReady(): boolean {
    if (this.msgs.length > 0) return true;
    if (this.pendingSnapshot) return true;
    if (this.log.unstableFrom <= this.log.lastIndex()) return true;
    if (this.log.committed > this.appliedHanded) return true;
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) return true;
    return this.lead !== this.prevSoftState.leader || this.role !== this.prevSoftState.role;
  }

  ready(): Ready {
    invariant(this.handed === undefined, 'ready() called again before advance()');
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = undefined;
    const entries = this.log.unstableEntries();
    this.log.markHandedOut();
    // Every committed entry is now in this or an earlier Ready's entries, so it may be applied after persisting.
    const committedEntries: Entry[] = [];
    const hi = Math.min(this.log.committed, this.log.lastIndex());
    const lo = this.appliedHanded + 1;
    if (hi >= lo) {
      committedEntries.push(...this.log.slice(lo, hi + 1));
      this.appliedHanded = hi;
    }
    // Membership changes take effect as they are handed out (this may make a removed leader step down).
    for (const e of committedEntries) {
      if (e.type === EntryType.ConfChange) this.applyConfChange(e.index, decodeConfChange(e.data), true);
    }
    const rd: Ready = { entries, committedEntries, messages: this.msgs };
    if (snapshot) rd.snapshot = snapshot;
    this.msgs = [];
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    if (this.lead !== this.prevSoftState.leader || this.role !== this.prevSoftState.role) {
      rd.softState = { leader: this.lead, role: this.role };
      this.prevSoftState = rd.softState;
    }
    this.handed = { appliedTo: this.appliedHanded, hadSnapshot: snapshot !== undefined };
    return rd;
  }

  advance(): void {
    invariant(this.handed !== undefined, 'advance() without a preceding ready()');
    this.applied = Math.max(this.applied, this.handed.appliedTo);
    this.handed = undefined;
  }

  // ---------------------------------------------------------------- status

  status(): RaftStatus {
    const st: RaftStatus = {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      voters: [...this.voters].sort(),
      removed: [...this.removed].sort(),
      leadTransferee: this.leadTransferee,
    };
    if (this.role === Role.Leader) {
      const progress: NonNullable<RaftStatus['progress']> = {};
      for (const [id, pr] of [...this.prs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: this.isRecentlyActive(id) };
      }
      st.progress = progress;
    }
    return st;
  }

  // ---------------------------------------------------------------- helpers

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private sortedVoters(): RaftId[] {
    return [...this.voters].sort();
  }

  private sortedFollowers(): RaftId[] {
    return [...this.prs.keys()].filter((id) => id !== this.id).sort();
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private newMessage(type: MessageType, to: RaftId, fields: Partial<Message>): Message {
    return {
      type,
      from: this.id,
      to,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      logTermHint: 0,
      ...fields,
    };
  }

  private reply(m: Message, type: MessageType, fields: Partial<Message>): Message {
    return this.newMessage(type, m.from, fields);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
