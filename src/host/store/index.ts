/**
 * The replicated store's public surface: tables, indexes, transactions, watch, the entry/snapshot codec and
 * object ids. See docs/store.md.
 */
export {
  Store,
  LocalProposer,
  createLocalStore,
  DEFAULT_MAX_PROPOSAL_BYTES,
  DEFAULT_MAX_ACTIONS_PER_PROPOSAL,
  DEFAULT_MAX_QUEUED_TRANSACTIONS,
} from './store.js';
export type { Proposer, StoreOptions, Batch, BatchResult, ViewAndWatch } from './store.js';
export type { ReadTx, WriteTx, Stored } from './transaction.js';
export type { FindBy } from './indexes.js';
export { KIND, UNIQUE_NAME_TABLES } from './indexes.js';
export { WatchOverflowError, DEFAULT_WATCH_BUFFER_EVENTS } from './watch.js';
export type { Watcher, WatchOptions, StoreEvent, ObjectEvent } from './watch.js';
export { encodeActions, decodeActions, encodeSnapshot, decodeSnapshot, CODEC_VERSION } from './codec.js';
export type { Action, EntryPayload, SnapshotPayload } from './codec.js';
export { newId, ID_LENGTH_CHARS } from './ids.js';
export { deepFreeze, mutableCopy } from './freeze.js';
