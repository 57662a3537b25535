/**
 * The replicated store: applied tables + indexes, the write pipeline (transactions grouped into proposals),
 * the apply path every manager runs, reads, snapshots and watches. See docs/store.md for the design.
 */
import {
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
  invariant,
  type StoreObject,
  type SwarmError,
  type TableName,
} from '../api/index.js';
import { TABLES } from '../api/index.js';
import type { Clock, Rng } from '../env/index.js';
import { applyEntry } from './apply.js';
import {
  decodeActions,
  decodeSnapshot,
  encodeEntry,
  encodeSnapshot,
  encodeTx,
  entryOverheadBytes,
  peekProposal,
  type Action,
  type EncodedTx,
} from './codec.js';
import { deepFreeze } from './freeze.js';
import { KIND } from './indexes.js';
import { emptyTables, type Tables } from './tables.js';
import {
  LayeredSource,
  ReadTxImpl,
  WriteTxImpl,
  tablesSource,
  type Layer,
  type ReadTx,
  type Source,
  type WriteTx,
} from './transaction.js';
import { indexKeys, matches, resolveFind, type FindBy, type IndexName, type ResolvedFind } from './indexes.js';
import { WatchQueue, type StoreEvent, type WatchOptions, type Watcher } from './watch.js';

/**
 * How the store gets a proposal replicated. Resolves after the entry is committed AND applied locally (via
 * store.applyCommitted); rejects with NotLeaderError / lost leadership etc.
 */
export interface Proposer {
  propose(data: Uint8Array): Promise<void>;
}

/** SwarmKit's maximum proposal size: 1.5 MiB. */
export const DEFAULT_MAX_PROPOSAL_BYTES = 1_572_864;
/** SwarmKit's batch flushes every 200 changes; also the cap on actions per grouped proposal. */
export const DEFAULT_MAX_ACTIONS_PER_PROPOSAL = 200;
/** Default bound on update() calls waiting for their turn (a batch counts as one). */
export const DEFAULT_MAX_QUEUED_TRANSACTIONS = 4096;
/** Default number of proposals the store keeps in flight at once (see docs/store.md, "Pipelined proposals"). */
export const DEFAULT_MAX_PROPOSALS_IN_FLIGHT = 4;

/** Construction options. */
export interface StoreOptions {
  /** Stamps createdAt/updatedAt (ms since epoch) on the proposing side. */
  clock: Clock;
  /** Source of this store instance's proposal-id prefix. */
  rng: Rng;
  /** Where proposals go; may be set later with setProposer (the Raft driver is usually built after the store). */
  proposer?: Proposer;
  /** Largest entry the store proposes, in bytes. Default 1,572,864 (1.5 MiB). */
  maxProposalBytes?: number;
  /** Most actions (object changes) in one proposal. Default 200. */
  maxActionsPerProposal?: number;
  /** Most update()/batch() calls queued behind the in-flight proposals. Default 4096. */
  maxQueuedTransactions?: number;
  /**
   * Most proposals in flight at once. Default 4. A proposal built while others are in flight only takes
   * transactions that do not depend on them (see docs/store.md); 1 = the next proposal waits for the last.
   */
  maxProposalsInFlight?: number;
}

/** Handle given to a batch() callback: registers atomic sub-transactions. */
export interface Batch {
  /** Adds one sub-transaction; it runs later, atomically, against the then-current state. */
  update(fn: (tx: WriteTx) => void): void;
}

/** Outcome of a batch: how many sub-transactions were applied, and which failed with what. */
export interface BatchResult {
  applied: number;
  failed: { index: number; error: Error }[];
}

/** A read result and a watcher that starts exactly after the state the read saw. */
export interface ViewAndWatch<T> {
  result: T;
  watcher: Watcher;
}

interface TxItem {
  kind: 'tx';
  fn: (tx: WriteTx) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface BatchItem {
  kind: 'batch';
  subs: ((tx: WriteTx) => void)[];
  next: number;
  unsettled: number;
  result: BatchResult;
  resolve: (r: BatchResult) => void;
}

type Item = TxItem | BatchItem;

/** One transaction placed into the entry being built, and how to report its outcome. */
interface Member {
  encoded: EncodedTx | undefined;
  settle: (err: Error | undefined) => void;
}

/** The replicated store. One per manager; only the leader's `update`/`batch` succeed (the proposer decides). */
export class Store {
  private tables: Tables = emptyTables();
  private applied = 0;
  private proposer: Proposer | undefined;
  private readonly clock: Clock;
  private readonly queue: Item[] = [];
  /** Change layers of this store's proposals in flight, by proposal id, until applied or settled. */
  private readonly inFlightLayers = new Map<string, Layer>();
  private inFlight = 0;
  /** A transaction at the queue head depends on in-flight changes: build nothing until all have settled. */
  private blocked = false;
  private pumpScheduled = false;
  private readonly proposalPrefix: string;
  private proposalSeq = 0;
  /** Apply outcomes of this store's own proposals, filled by applyCommitted, read when propose() resolves. */
  private readonly outcomes = new Map<string, (SwarmError | undefined)[] | null>();
  /**
   * Actions of this store's in-flight proposals, by proposal id. When its own entry comes back through
   * applyCommitted, the store applies these (already validated, normalised and frozen by adoptJson) instead
   * of decoding the bytes; other managers decode and reach the same state (tested byte-for-byte).
   */
  private readonly ownActions = new Map<string, { txs: Action[][]; data: Uint8Array }>();
  private readonly watches = new WatchQueue();
  private closedError: Error | undefined;
  /** Largest entry proposed, in bytes. */
  readonly maxProposalBytes: number;
  /** Most actions per proposal. */
  readonly maxActionsPerProposal: number;
  /** Most queued update()/batch() calls. */
  readonly maxQueuedTransactions: number;
  /** Most proposals in flight at once. */
  readonly maxProposalsInFlight: number;
  /** Entries proposed by this store so far (observability and tests). */
  proposalsMade = 0;

  constructor(opts: StoreOptions) {
    this.clock = opts.clock;
    this.proposer = opts.proposer;
    this.maxProposalBytes = positiveInt(opts.maxProposalBytes ?? DEFAULT_MAX_PROPOSAL_BYTES, 'maxProposalBytes');
    this.maxActionsPerProposal = positiveInt(opts.maxActionsPerProposal ?? DEFAULT_MAX_ACTIONS_PER_PROPOSAL, 'maxActionsPerProposal');
    this.maxQueuedTransactions = positiveInt(opts.maxQueuedTransactions ?? DEFAULT_MAX_QUEUED_TRANSACTIONS, 'maxQueuedTransactions');
    this.maxProposalsInFlight = positiveInt(opts.maxProposalsInFlight ?? DEFAULT_MAX_PROPOSALS_IN_FLIGHT, 'maxProposalsInFlight');
    const b = opts.rng.bytes(8);
    this.proposalPrefix = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /** Sets (or replaces) where proposals go. */
  setProposer(p: Proposer): void {
    this.proposer = p;
  }

  /** Raft index of the last entry applied (0 before any). */
  get appliedIndex(): number {
    return this.applied;
  }

  // ---------------------------------------------------------------- reads

  /** A consistent synchronous read of the applied state. The ReadTx is unusable after `fn` returns. */
  view<T>(fn: (tx: ReadTx) => T): T {
    const tx = new ReadTxImpl(tablesSource(this.tables));
    try {
      return fn(tx);
    } finally {
      tx.open = false;
    }
  }

  /** Registers a watcher: every event applied from now on, in order, filtered per `opts`. */
  watch(opts: WatchOptions = {}): Watcher {
    return this.watches.watch(opts);
  }

  /** An atomic read plus a watcher whose first event is the first change after that read. */
  viewAndWatch<T>(fn: (tx: ReadTx) => T, opts: WatchOptions = {}): ViewAndWatch<T> {
    const watcher = this.watches.watch(opts);
    try {
      return { result: this.view(fn), watcher };
    } catch (e) {
      watcher.close();
      throw e;
    }
  }

  // ---------------------------------------------------------------- writes

  /**
   * Runs `fn` as one atomic write transaction and resolves with its return value once its proposal has been
   * committed and applied. `fn` runs synchronously against the applied state plus the earlier transactions of
   * the same proposal; it must have no side effects outside `tx`, because in the rare case that its changes do
   * not fit in the proposal being filled it is discarded and run again as the first of the next proposal.
   * Rejects with the tx-time error, the apply-time error (same on every manager), or the proposer's error.
   */
  update<T>(fn: (tx: WriteTx) => T): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.queue.length >= this.maxQueuedTransactions) {
      return Promise.reject(
        new ResourceExhaustedError(`store: write queue full (maxQueuedTransactions=${this.maxQueuedTransactions})`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ kind: 'tx', fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedulePump();
    });
  }

  /**
   * Large writes: every `b.update(fn)` is an atomic sub-transaction; they are packed into proposals of at most
   * maxActionsPerProposal actions and maxProposalBytes bytes. Not atomic as a whole. Resolves when every
   * sub-transaction has been applied or has failed; failures are listed in the result, never thrown.
   */
  batch(fn: (b: Batch) => void): Promise<BatchResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    const subs: ((tx: WriteTx) => void)[] = [];
    let open = true;
    fn({
      update(sub) {
        if (!open) throw new InvalidArgumentError('batch.update: called after the batch callback returned');
        subs.push(sub);
      },
    });
    open = false;
    if (subs.length === 0) return Promise.resolve({ applied: 0, failed: [] });
    if (this.queue.length >= this.maxQueuedTransactions) {
      return Promise.reject(
        new ResourceExhaustedError(`store: write queue full (maxQueuedTransactions=${this.maxQueuedTransactions})`),
      );
    }
    return new Promise<BatchResult>((resolve) => {
      this.queue.push({ kind: 'batch', subs, next: 0, unsettled: subs.length, result: { applied: 0, failed: [] }, resolve });
      this.schedulePump();
    });
  }

  /** Rejects queued writes and closes every watcher; in-flight proposals still settle. */
  close(reason: Error = new UnavailableError('store closed')): void {
    this.closedError = reason;
    for (const item of this.queue.splice(0)) {
      if (item.kind === 'tx') item.reject(reason);
      else failRest(item, reason);
    }
    this.watches.closeAll();
  }

  private canBuild(): boolean {
    return this.inFlight === 0 || (!this.blocked && this.inFlight < this.maxProposalsInFlight);
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.canBuild()) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Builds proposals from the queue head and sends them, up to maxProposalsInFlight; runs again as they settle. */
  private pump(): void {
    while (this.canBuild() && this.queue.length > 0) {
      const proposal = `${this.proposalPrefix}.${++this.proposalSeq}`;
      // With proposals in flight, transactions read the applied state through a guard that stops any whose
      // reads would see (or miss) an in-flight change: what goes into this proposal never depends on them.
      const guard = this.inFlight > 0 ? new IndependentSource(tablesSource(this.tables), [...this.inFlightLayers.values()]) : undefined;
      const group = new LayeredSource(guard ?? tablesSource(this.tables));
      const members: Member[] = [];
      const encoded: EncodedTx[] = [];
      const txs: Action[][] = [];
      let bytes = entryOverheadBytes(proposal, 1);
      let actions = 0;
      const softLimitBytes = Math.floor((this.maxProposalBytes * 3) / 4);
      while (this.queue.length > 0 && actions < this.maxActionsPerProposal && bytes < softLimitBytes) {
        const item = this.queue[0]!;
        const fn = item.kind === 'tx' ? item.fn : item.subs[item.next]!;
        const tx = new WriteTxImpl(group, encoded.length, this.clock);
        let value: unknown;
        let txActions: Action[];
        try {
          value = fn(tx);
          txActions = tx.actions();
        } catch (e) {
          if (guard?.conflicted) break;
          this.advance(item)(toError(e));
          continue;
        } finally {
          tx.open = false;
        }
        // Also when fn caught the guard's signal itself: the transaction waits for the in-flight proposals.
        if (guard?.conflicted) break;
        if (txActions.length === 0) {
          // Read-only: nothing to propose; it settles with the proposal its reads may depend on.
          members.push({ encoded: undefined, settle: this.settler(item, value) });
          continue;
        }
        const enc = encodeTx(txActions);
        if (enc.sizeBytes + entryOverheadBytes(proposal, 1) > this.maxProposalBytes) {
          this.advance(item)(tooLarge(txActions, enc.sizeBytes, this.maxProposalBytes));
          continue;
        }
        const fits =
          bytes + enc.sizeBytes + 1 <= this.maxProposalBytes && actions + txActions.length <= this.maxActionsPerProposal;
        if (!fits && encoded.length > 0) break; // re-run first in the next proposal
        for (const [table, changes] of tx.layer) for (const [id, obj] of changes) group.set(table, id, obj);
        encoded.push(enc);
        txs.push(txActions);
        bytes += enc.sizeBytes + (encoded.length > 1 ? 1 : 0);
        actions += txActions.length;
        members.push({ encoded: enc, settle: this.settler(item, value) });
      }
      if (guard?.conflicted) this.blocked = true;
      if (encoded.length === 0) {
        for (const m of members) m.settle(undefined);
        continue;
      }
      this.send(proposal, encodeEntry(proposal, encoded), txs, members, group.layer);
    }
  }

  /** Removes the head unit (a tx, or one sub-transaction of a batch) and returns how to settle it. */
  private advance(item: Item): (err: Error | undefined, value?: unknown) => void {
    if (item.kind === 'tx') {
      this.queue.shift();
      return (err, value) => (err ? item.reject(err) : item.resolve(value));
    }
    const index = item.next++;
    if (item.next === item.subs.length) this.queue.shift();
    return (err) => {
      if (err) item.result.failed.push({ index, error: err });
      else item.result.applied++;
      if (--item.unsettled === 0) {
        item.result.failed.sort((a, b) => a.index - b.index);
        item.resolve(item.result);
      }
    };
  }

  private settler(item: Item, value: unknown): (err: Error | undefined) => void {
    const done = this.advance(item);
    return (err) => done(err, value);
  }

  private send(proposal: string, data: Uint8Array, txs: Action[][], members: Member[], layer: Layer): void {
    const proposer = this.proposer;
    if (!proposer) {
      const err = new UnavailableError('store: no proposer (this manager cannot write)');
      for (const m of members) m.settle(err);
      return;
    }
    this.inFlight++;
    this.proposalsMade++;
    this.outcomes.set(proposal, null);
    this.ownActions.set(proposal, { txs, data });
    this.inFlightLayers.set(proposal, layer);
    const finish = (proposerErr: Error | undefined): void => {
      const outcome = this.outcomes.get(proposal);
      this.outcomes.delete(proposal);
      this.ownActions.delete(proposal);
      this.inFlightLayers.delete(proposal);
      this.inFlight--;
      if (this.inFlight === 0) this.blocked = false;
      let i = 0;
      for (const m of members) {
        if (proposerErr) m.settle(proposerErr);
        else if (!outcome) m.settle(new UnavailableError(`store: proposal ${proposal} resolved but was not applied here (restored from a snapshot?)`));
        else if (m.encoded) m.settle(outcome[i++]);
        else m.settle(undefined);
      }
      if (proposerErr) this.failBatchesAtHead(proposerErr);
      this.schedulePump();
    };
    let p: Promise<void>;
    try {
      p = proposer.propose(data);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => finish(undefined),
      (e: unknown) => finish(toError(e)),
    );
  }

  /** After a proposer failure, the rest of a batch at the head fails with the same error rather than retrying. */
  private failBatchesAtHead(err: Error): void {
    const head = this.queue[0];
    if (head && head.kind === 'batch' && head.next > 0) {
      this.queue.shift();
      failRest(head, err);
    }
  }

  // ---------------------------------------------------------------- apply (every manager)

  /**
   * Applies one committed Normal entry. Called by the Raft driver on every manager in log order. Empty data
   * (the leader's no-op) only advances appliedIndex. Events are published after the whole entry is applied.
   */
  applyCommitted(index: number, data: Uint8Array): void {
    invariant(Number.isInteger(index) && index > this.applied, `store: applyCommitted(${index}) after ${this.applied}`);
    if (data.length === 0) {
      this.applied = index;
      return;
    }
    const own = peekProposal(data);
    // Our own entries are applied from memory (no decode), but only when the committed bytes are exactly
    // what we proposed: a proposal id is random, not a proof, and must never let another entry's content
    // be replaced by ours.
    const own0 = own === undefined ? undefined : this.ownActions.get(own);
    const mine = own0 !== undefined && Buffer.compare(own0.data, data) === 0 ? own0.txs : undefined;
    const payload = mine ? { proposal: own!, txs: mine } : decodeActions(data);
    if (mine) this.ownActions.delete(own!);
    // Applied: its changes are in the tables now; transactions built from here on may read them.
    if (own !== undefined) this.inFlightLayers.delete(own);
    const { errors, events } = applyEntry(this.tables, index, payload);
    this.applied = index;
    if (this.outcomes.has(payload.proposal)) this.outcomes.set(payload.proposal, errors);
    this.watches.publish(events);
  }

  // ---------------------------------------------------------------- snapshots

  /** The applied state as bytes (objects sorted by id: equal states give equal bytes). */
  snapshot(): Uint8Array {
    const tables = {} as Record<TableName, StoreObject[]>;
    for (const t of TABLES) tables[t] = [...this.tables[t].objects.values()];
    return encodeSnapshot({ index: this.applied, tables });
  }

  /** Replaces the whole state with a snapshot and emits one `restored` event so watchers resync. */
  restore(data: Uint8Array): void {
    const snap = decodeSnapshot(data);
    const tables = emptyTables();
    for (const t of TABLES) {
      for (const obj of snap.tables[t]) {
        invariant(typeof obj?.id === 'string' && obj.id !== '', `store snapshot: ${KIND[t]} without id`);
        tables[t].put(deepFreeze(obj));
      }
    }
    this.tables = tables;
    this.applied = snap.index;
    const ev: StoreEvent = { kind: 'restored', version: snap.index };
    this.watches.publish([ev]);
  }
}

/** Thrown by {@link IndependentSource} (and remembered, in case a transaction catches it). */
class InFlightConflict extends Error {
  constructor() {
    super('store: transaction depends on an in-flight proposal (it will run after it)');
  }
}

/**
 * The applied state as seen by a transaction built while proposals are in flight. Any read whose result an
 * in-flight change could alter (a get of an object they wrote, a list of a table they changed, a find that one
 * of their old or new objects matches) marks the source conflicted and throws: such a transaction waits until
 * the in-flight proposals have settled and then runs against their outcome. Reads that pass are independent
 * of them, so the proposal stays correct whether or not the earlier ones commit.
 */
class IndependentSource implements Source {
  conflicted = false;
  constructor(
    private readonly base: Source,
    private readonly layers: readonly Layer[],
  ) {}

  private conflict(): never {
    this.conflicted = true;
    throw new InFlightConflict();
  }

  get(table: TableName, id: string): StoreObject | undefined {
    for (const l of this.layers) if (l.get(table)?.has(id)) this.conflict();
    return this.base.get(table, id);
  }

  list(table: TableName): StoreObject[] {
    for (const l of this.layers) if ((l.get(table)?.size ?? 0) > 0) this.conflict();
    return this.base.list(table);
  }

  find(table: TableName, by: FindBy): StoreObject[] {
    let r: ResolvedFind | undefined;
    for (const l of this.layers) {
      const changes = l.get(table);
      if (!changes || changes.size === 0) continue;
      r ??= resolveFind(table, by);
      if (r.kind === 'index') {
        if (touchedKeys(table, changes, this.base).get(r.index)?.has(r.key)) this.conflict();
        continue;
      }
      for (const [id, next] of changes) {
        if (next && matches(table, next, by, r)) this.conflict();
        const old = this.base.get(table, id);
        if (old && matches(table, old, by, r)) this.conflict();
      }
    }
    return this.base.find(table, by);
  }
}

/** Per in-flight change set: every index key its old and new objects are filed under (built once, lazily). */
const touchedCache = new WeakMap<Map<string, StoreObject | null>, Map<IndexName, Set<string>>>();

function touchedKeys(table: TableName, changes: Map<string, StoreObject | null>, base: Source): Map<IndexName, Set<string>> {
  let out = touchedCache.get(changes);
  if (out) return out;
  out = new Map();
  const add = (obj: StoreObject): void => {
    const keys = indexKeys(table, obj);
    for (const ix of Object.keys(keys) as IndexName[]) {
      let set = out!.get(ix);
      if (!set) out!.set(ix, (set = new Set()));
      set.add(keys[ix]!);
    }
  };
  // The old objects are the applied ones: an in-flight change set is independent of the others in flight,
  // so nothing else can change these objects before it applies.
  for (const [id, next] of changes) {
    if (next) add(next);
    const old = base.get(table, id);
    if (old) add(old);
  }
  touchedCache.set(changes, out);
  return out;
}

function failRest(item: BatchItem, err: Error): void {
  for (let i = item.next; i < item.subs.length; i++) item.result.failed.push({ index: i, error: err });
  item.unsettled -= item.subs.length - item.next;
  item.next = item.subs.length;
  if (item.unsettled === 0) {
    item.result.failed.sort((a, b) => a.index - b.index);
    item.resolve(item.result);
  }
}

function tooLarge(actions: Action[], sizeBytes: number, max: number): InvalidArgumentError {
  let worst = actions[0]!;
  let worstBytes = -1;
  for (const a of actions) {
    const n = encodeTx([a]).sizeBytes;
    if (n > worstBytes) [worst, worstBytes] = [a, n];
  }
  const id = 'object' in worst ? worst.object.id : worst.id;
  return new InvalidArgumentError(
    `transaction too large: encodes to ${sizeBytes} bytes, maxProposalBytes is ${max}; largest change is ${KIND[worst.table]} ${id} (${worstBytes} bytes)`,
  );
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function positiveInt(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`store.${field}: must be an integer >= 1 (got ${v})`);
  return v;
}

/** Applies proposals at once, without Raft: a single manager (tests, benches). Indexes increase by one. */
export class LocalProposer implements Proposer {
  private index: number;
  /** Every entry proposed, when constructed with `record: true` (to replay into another store). */
  readonly entries: { index: number; data: Uint8Array }[] = [];

  constructor(
    private readonly target: { applyCommitted(index: number, data: Uint8Array): void; readonly appliedIndex: number },
    private readonly opts: { record?: boolean } = {},
  ) {
    this.index = target.appliedIndex;
  }

  propose(data: Uint8Array): Promise<void> {
    this.index = Math.max(this.index, this.target.appliedIndex) + 1;
    if (this.opts.record) this.entries.push({ index: this.index, data });
    this.target.applyCommitted(this.index, data);
    return Promise.resolve();
  }
}

/** A store wired to a LocalProposer: the usual single-manager setup. */
export function createLocalStore(opts: Omit<StoreOptions, 'proposer'> & { record?: boolean }): {
  store: Store;
  proposer: LocalProposer;
} {
  const store = new Store(opts);
  const proposer = new LocalProposer(store, { record: opts.record ?? false });
  store.setProposer(proposer);
  return { store, proposer };
}
