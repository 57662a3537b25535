/**
 * The node table: SwarmKit's per-node scheduler state kept as columns in the WASM module's linear memory
 * (typed arrays over `memory.buffer`), strings interned to u32 ids, rows rewritten only when a node or its
 * tasks change. Each task group is one call into the module (never one per node).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Node, Task } from '../api/objects.js';
import { NodeAvailability, NodeStatusState, TaskState } from '../api/objects.js';
import { InvalidArgumentError, invariant } from '../api/errors.js';
import { constraintTarget, foldCase, ipOperand, OP_NE, roleName } from './constraint.js';
import { explain, FILTER_SLOTS, FilterCode, noSuitableNode } from './explain.js';
import { isV4, parseIp } from './ip.js';
import type { RecentFailures } from './failures.js';
import type { Assignment, SchedulePassResult } from './reference.js';
import { countsOnNode, isActive, isTracked, normalizeArch, taskRequirements, type TaskRequirements } from './task-info.js';

/** Default location of the built scheduler module (built by `npm run build`). */
export const SCHEDULER_WASM_URL = new URL('../../../build/scheduler.wasm', import.meta.url);

/** Most generic-resource kinds the table tracks. */
export const MAX_GENERIC_KINDS = 64;
/** Most distinct label keys (node + engine) the table keeps columns for. */
export const MAX_LABEL_COLUMNS = 1024;
/** Upper bound of the module's linear memory, in bytes (1 GiB). */
export const MAX_TABLE_MEMORY_BYTES = 1 << 30;

const PAGE = 65536;
/** Encoding unit of per-service counts: counts stay below it (2^21 tasks of one service on one node). */
const EPOCH_UNIT = 2 ** 21;
const ANY = 0xffffffff;
const UNKNOWN_ID = 0xfffffffe;
const OP_CONST = 1;
const OP_COL = 2;
const OP_IP = 3;

// Table header offsets (bytes), mirrors assembly/scheduler/layout.ts.
const T_CAP = 0, T_ROWS = 4, T_LIVE = 8, T_READY = 12, T_CPU = 16, T_MEM = 20, T_TOTAL = 24, T_SVC = 28, T_FAIL = 32;
const T_HASPLAT = 36, T_ARCH = 40, T_OS = 44, T_IPKIND = 48, T_IP = 52, T_GENK = 56, T_GEN = 60, T_FOLD = 64;
const T_ARCHNORM = 68, T_PORTS = 72, T_PORTCAP = 76, T_SCRATCH = 80, T_SCRATCHLEN = 84;
// Group header offsets (bytes).
const G_N = 0, G_MASK = 4, G_CPU = 8, G_MEM = 16, G_GENCOUNT = 24, G_GENKIND = 28, G_GENREQ = 32, G_PROGLEN = 36;
const G_PROG = 40, G_PLATCOUNT = 44, G_PLAT = 48, G_PORTCOUNT = 52, G_PORT = 56, G_MAXREP = 60, G_PREFCOUNT = 64;
const G_PREF = 68, G_OUT = 72, G_COUNTERS = 76, G_PRENODES = 80, G_CODES = 84, G_BITMAP = 88, G_SCORE = 92;

/** Byte offsets of the table header fields, for strategy hosts (docs/abi/strategy-v1.md). */
export const TABLE_HEADER = { T_CAP, T_ROWS, T_LIVE, T_READY, T_CPU, T_MEM, T_TOTAL, T_SVC, T_FAIL, T_HASPLAT, T_ARCH, T_OS, T_IPKIND, T_IP, T_GENK, T_GEN, T_FOLD, T_ARCHNORM, T_PORTS, T_PORTCAP, T_SCRATCH, T_SCRATCHLEN } as const;
/** Byte offsets of the group header fields. */
export const GROUP_HEADER = { G_N, G_MASK, G_CPU, G_MEM, G_GENCOUNT, G_GENKIND, G_GENREQ, G_PROGLEN, G_PROG, G_PLATCOUNT, G_PLAT, G_PORTCOUNT, G_PORT, G_MAXREP, G_PREFCOUNT, G_PREF, G_OUT, G_COUNTERS, G_PRENODES, G_CODES, G_BITMAP, G_SCORE } as const;

interface SchedExports {
  sched_scratch_bytes(rows: number, levels: number): number;
  sched_group(t: number, g: number): number;
  sched_preassigned(t: number, g: number): void;
  sched_evaluate(t: number, g: number): number;
  sched_heap_base(): number;
  sched_apply(t: number, g: number, placed: number): number;
}

let compiled: WebAssembly.Module | null = null;
function schedulerModule(): WebAssembly.Module {
  if (!compiled) compiled = new WebAssembly.Module(readFileSync(fileURLToPath(SCHEDULER_WASM_URL)));
  return compiled;
}

/** Result of evaluating one task's filters on every node (no accounting). */
export interface Evaluation {
  /** Node ids in row order (live rows only). */
  nodeIds: string[];
  /** First failing filter per node (FilterCode, 0 = feasible), same order. */
  codes: number[];
  feasible: number;
}

/** Options of a node table. */
export interface NodeTableOptions {
  /** Rows allocated up front (grows by doubling). */
  initialCapacity?: number;
  /** Upper bound of linear memory, bytes. */
  maxMemoryBytes?: number;
}

/**
 * Column store of scheduler node state in WASM memory, updated incrementally (`upsertNode`/`removeNode`) and
 * scheduled one task group per call.
 */
export class NodeTable {
  readonly memory: WebAssembly.Memory;
  private readonly ex: SchedExports;
  private readonly maxBytes: number;
  private bump: number;
  private buf!: ArrayBuffer;
  private U8!: Uint8Array;
  private U32!: Uint32Array;
  private I32!: Int32Array;
  private F64!: Float64Array;

  private readonly tHdr: number;
  private readonly gHdr: number;
  private cap = 0;
  private rows = 0;
  private readonly freeRows: number[] = [];
  private readonly rowOf = new Map<string, number>();
  private rowId: (string | null)[] = [];
  // column addresses
  private c = { live: 0, ready: 0, cpu: 0, mem: 0, total: 0, svc: 0, fail: 0, hasPlat: 0, arch: 0, os: 0, ipKind: 0, ip: 0, id: 0, host: 0, role: 0 };
  private genCap = 0;
  private genAddr = 0;
  private readonly genKind = new Map<string, number>();
  private readonly nodeLabelCol = new Map<string, number>();
  private readonly engineLabelCol = new Map<string, number>();
  private readonly rowLabels: { node: string[]; engine: string[] }[] = [];
  // strings
  private readonly strId = new Map<string, number>();
  private readonly strs: string[] = [];
  private strCap = 0;
  private foldAddr = 0;
  private normAddr = 0;
  // host ports
  private readonly rowPorts: Set<number>[] = [];
  private portCount = 0;
  private portsDirty = true;
  private portCap = 0;
  private portAddr = 0;
  // per-service active counts, for the sparse service column
  /**
   * Active tasks per service and row, encoded `epoch * EPOCH_UNIT + count`: an entry counts only while its epoch
   * equals the row's (rewriting or removing a row bumps the epoch, which invalidates every old entry at once;
   * stale entries are dropped when their service is loaded).
   */
  private readonly svcRows = new Map<string, Map<number, number>>();
  private rowEpoch: number[] = [];
  private loadedSvc: string | null = null;
  private failRows: number[] = [];
  private delta = new Int32Array(0);
  // scratch and group areas
  private scratchAddr = 0;
  private scratchLen = 0;
  private groupAddr = 0;
  private groupLen = 0;

  constructor(opts: NodeTableOptions = {}) {
    this.maxBytes = opts.maxMemoryBytes ?? MAX_TABLE_MEMORY_BYTES;
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: Math.floor(this.maxBytes / PAGE) });
    const inst = new WebAssembly.Instance(schedulerModule(), { env: { memory: this.memory } });
    this.ex = inst.exports as unknown as SchedExports;
    this.bump = Math.max(PAGE, align(this.ex.sched_heap_base(), 8));
    this.refresh();
    this.tHdr = this.alloc(128);
    this.gHdr = this.alloc(128);
    this.intern('');
    this.growRows(Math.max(16, opts.initialCapacity ?? 64));
  }

  // ---- memory ----
  private refresh(): void {
    if (this.buf === this.memory.buffer) return;
    this.buf = this.memory.buffer;
    this.U8 = new Uint8Array(this.buf);
    this.U32 = new Uint32Array(this.buf);
    this.I32 = new Int32Array(this.buf);
    this.F64 = new Float64Array(this.buf);
  }

  /** Bump allocation (8-byte aligned, zeroed). Regions replaced on growth are not reused (bounded by 2x). */
  private alloc(bytes: number): number {
    const at = align(this.bump, 8);
    const end = at + align(bytes, 8);
    if (end > this.maxBytes) throw new InvalidArgumentError(`node table: needs ${end} bytes of WASM memory, over maxMemoryBytes ${this.maxBytes}`);
    if (end > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((end - this.memory.buffer.byteLength) / PAGE));
    this.refresh();
    this.U8.fill(0, at, end);
    this.bump = end;
    return at;
  }

  private hdr(off: number, v: number): void {
    this.U32[(this.tHdr + off) >> 2] = v >>> 0;
  }

  private growRows(newCap: number): void {
    const old = { ...this.c };
    const oldCap = this.cap;
    const widths: Record<keyof NodeTable['c'], number> = { live: 1, ready: 1, cpu: 8, mem: 8, total: 4, svc: 4, fail: 4, hasPlat: 1, arch: 4, os: 4, ipKind: 1, ip: 16, id: 4, host: 4, role: 4 };
    for (const k of Object.keys(widths) as (keyof NodeTable['c'])[]) {
      const w = widths[k];
      const at = this.alloc(newCap * w);
      if (oldCap) this.U8.copyWithin(at, old[k], old[k] + oldCap * w);
      this.c[k] = at;
    }
    for (const m of [this.nodeLabelCol, this.engineLabelCol]) {
      for (const [k, addr] of m) {
        const at = this.alloc(newCap * 4);
        this.U8.copyWithin(at, addr, addr + oldCap * 4);
        m.set(k, at);
      }
    }
    const oldGen = this.genAddr;
    this.cap = newCap;
    this.genAddr = this.genCap ? this.alloc(this.genCap * newCap * 8) : 0;
    for (let k = 0; k < this.genKind.size; k++) {
      this.F64.copyWithin((this.genAddr >> 3) + k * newCap, (oldGen >> 3) + k * oldCap, (oldGen >> 3) + k * oldCap + oldCap);
    }
    while (this.rowId.length < newCap) this.rowId.push(null);
    this.writeHeader();
  }

  private writeHeader(): void {
    const c = this.c;
    this.hdr(T_CAP, this.cap);
    this.hdr(T_ROWS, this.rows);
    this.hdr(T_LIVE, c.live);
    this.hdr(T_READY, c.ready);
    this.hdr(T_CPU, c.cpu);
    this.hdr(T_MEM, c.mem);
    this.hdr(T_TOTAL, c.total);
    this.hdr(T_SVC, c.svc);
    this.hdr(T_FAIL, c.fail);
    this.hdr(T_HASPLAT, c.hasPlat);
    this.hdr(T_ARCH, c.arch);
    this.hdr(T_OS, c.os);
    this.hdr(T_IPKIND, c.ipKind);
    this.hdr(T_IP, c.ip);
    this.hdr(T_GENK, this.genKind.size);
    this.hdr(T_GEN, this.genAddr);
    this.hdr(T_FOLD, this.foldAddr);
    this.hdr(T_ARCHNORM, this.normAddr);
    this.hdr(T_PORTS, this.portAddr);
    this.hdr(T_PORTCAP, this.portCap);
    this.hdr(T_SCRATCH, this.scratchAddr);
    this.hdr(T_SCRATCHLEN, this.scratchLen);
  }

  // ---- strings ----
  /** Interns a string (exact case) and its folded and architecture-normalized forms. */
  private intern(s: string): number {
    const have = this.strId.get(s);
    if (have !== undefined) return have;
    const id = this.strs.length;
    this.strs.push(s);
    this.strId.set(s, id);
    if (id >= this.strCap) {
      const nc = Math.max(256, this.strCap * 2);
      const f = this.alloc(nc * 4);
      const a = this.alloc(nc * 4);
      if (this.strCap) {
        this.U8.copyWithin(f, this.foldAddr, this.foldAddr + this.strCap * 4);
        this.U8.copyWithin(a, this.normAddr, this.normAddr + this.strCap * 4);
      }
      this.foldAddr = f;
      this.normAddr = a;
      this.strCap = nc;
      this.hdr(T_FOLD, f);
      this.hdr(T_ARCHNORM, a);
    }
    const folded = foldCase(s);
    const fid = folded === s ? id : this.intern(folded);
    const norm = normalizeArch(s);
    const nid = norm === s ? id : this.intern(norm);
    this.U32[(this.foldAddr >> 2) + id] = fid;
    this.U32[(this.normAddr >> 2) + id] = nid;
    return id;
  }

  private lookup(s: string): number {
    return this.strId.get(s) ?? UNKNOWN_ID;
  }

  // ---- columns created on demand ----
  private labelColumn(which: 'node' | 'engine', key: string, create: boolean): number {
    const m = which === 'node' ? this.nodeLabelCol : this.engineLabelCol;
    let at = m.get(key);
    if (at === undefined && create) {
      if (this.nodeLabelCol.size + this.engineLabelCol.size >= MAX_LABEL_COLUMNS) {
        throw new InvalidArgumentError(`node table: more than ${MAX_LABEL_COLUMNS} distinct label keys (limit MAX_LABEL_COLUMNS)`);
      }
      at = this.alloc(this.cap * 4);
      m.set(key, at);
    }
    return at ?? 0;
  }

  private genIndex(kind: string): number {
    let k = this.genKind.get(kind);
    if (k !== undefined) return k;
    if (this.genKind.size >= MAX_GENERIC_KINDS) throw new InvalidArgumentError(`node table: more than ${MAX_GENERIC_KINDS} generic resource kinds (limit MAX_GENERIC_KINDS)`);
    k = this.genKind.size;
    if (k >= this.genCap) {
      const nc = Math.max(4, this.genCap * 2);
      const at = this.alloc(nc * this.cap * 8);
      if (this.genCap) this.U8.copyWithin(at, this.genAddr, this.genAddr + this.genCap * this.cap * 8);
      this.genAddr = at;
      this.genCap = nc;
    }
    this.genKind.set(kind, k);
    this.hdr(T_GENK, this.genKind.size);
    this.hdr(T_GEN, this.genAddr);
    return k;
  }

  // ---- rows ----
  /** Number of nodes in the table. */
  get size(): number {
    return this.rowOf.size;
  }

  /** `[row, nodeId]` of every node, in row order. */
  rowsInOrder(): [number, string][] {
    const out: [number, string][] = [];
    for (let r = 0; r < this.rows; r++) if (this.rowId[r] !== null) out.push([r, this.rowId[r]!]);
    return out;
  }

  /** Node ids in row order: the order that breaks ties and orders preference branches. */
  nodeOrder(): string[] {
    const out: string[] = [];
    for (let r = 0; r < this.rows; r++) if (this.rowId[r] !== null) out.push(this.rowId[r]!);
    return out;
  }

  /**
   * Inserts or rewrites a node's row from the node and the tasks assigned to it (only tasks observed
   * ASSIGNED..RUNNING count; reservations, generic claims, host ports and active counts are recomputed).
   */
  upsertNode(node: Node, tasksOnNode: readonly Task[]): void {
    let r = this.rowOf.get(node.id);
    if (r === undefined) {
      r = this.freeRows.length ? this.freeRows.pop()! : this.rows++;
      if (r >= this.cap) this.growRows(this.cap * 2);
      this.rowOf.set(node.id, r);
      this.rowId[r] = node.id;
      this.hdr(T_ROWS, this.rows);
    }
    const c = this.c;
    const d = node.description;
    // Intern and create columns first: either may grow the memory, which detaches the typed-array views.
    const idId = this.intern(node.id);
    const hostId = this.intern(d ? d.hostname : '');
    const roleId = this.intern(roleName(node.role));
    const archId = this.intern(d?.platform ? d.platform.architecture : '');
    const osId = this.intern(d?.platform ? d.platform.os : '');
    const nl = node.spec.annotations.labels ?? {};
    const el = d?.engine?.labels ?? {};
    const labelWrites: [number, number][] = [];
    for (const [k, v] of Object.entries(nl)) labelWrites.push([this.labelColumn('node', k, true), this.intern(v)]);
    for (const [k, v] of Object.entries(el)) labelWrites.push([this.labelColumn('engine', k, true), this.intern(v)]);
    this.U8[c.live + r] = 1;
    this.U8[c.ready + r] = node.status.state === NodeStatusState.READY && node.spec.availability === NodeAvailability.ACTIVE ? 1 : 0;
    this.U32[(c.id >> 2) + r] = idId;
    this.U32[(c.host >> 2) + r] = hostId;
    this.U32[(c.role >> 2) + r] = roleId;
    this.U8[c.hasPlat + r] = d?.platform ? 1 : 0;
    this.U32[(c.arch >> 2) + r] = archId;
    this.U32[(c.os >> 2) + r] = osId;
    const ip = parseIp(node.status.addr);
    this.U8[c.ipKind + r] = ip ? (isV4(ip) ? 4 : 6) : 0;
    this.U8.set(ip ?? new Uint8Array(16), c.ip + r * 16);
    // labels: clear the keys this row had, then write the current ones
    const prev = this.rowLabels[r];
    if (prev) {
      for (const k of prev.node) this.U32[(this.nodeLabelCol.get(k)! >> 2) + r] = 0;
      for (const k of prev.engine) this.U32[(this.engineLabelCol.get(k)! >> 2) + r] = 0;
    }
    for (const [col, id] of labelWrites) this.U32[(col >> 2) + r] = id;
    this.rowLabels[r] = { node: Object.keys(nl), engine: Object.keys(el) };
    // resources
    const res = d?.resources;
    let cpu = res?.nanoCpus ?? 0;
    let mem = res?.memoryBytes ?? 0;
    const gen = new Map<string, number>();
    for (const [k, v] of Object.entries(res?.genericNamed ?? {})) if (v.length > 0) gen.set(k, v.length);
    for (const [k, v] of Object.entries(res?.generic ?? {})) gen.set(k, v);
    const ports = new Set<number>();
    const svc = new Map<string, number>();
    let total = 0;
    const seen = new Set<string>();
    for (const t of tasksOnNode) {
      if (!countsOnNode(t) || t.nodeId !== node.id || seen.has(t.id)) continue;
      seen.add(t.id);
      const rv = t.spec.resources?.reservations;
      cpu -= rv?.nanoCpus ?? 0;
      mem -= rv?.memoryBytes ?? 0;
      for (const [k, v] of Object.entries(rv?.generic ?? {})) {
        if (!(v > 0)) continue;
        const have = gen.get(k);
        if (have === undefined) continue;
        if (have - v <= 0) gen.delete(k);
        else gen.set(k, have - v);
      }
      for (const p of t.endpoint?.ports ?? []) if (p.publishMode === 1 && p.publishedPort !== 0) ports.add(p.protocol * 65536 + p.publishedPort);
      if (isActive(t)) {
        total++;
        svc.set(t.serviceId, (svc.get(t.serviceId) ?? 0) + 1);
      }
    }
    for (const kind of gen.keys()) this.genIndex(kind);
    this.F64[(c.cpu >> 3) + r] = cpu;
    this.F64[(c.mem >> 3) + r] = mem;
    this.I32[(c.total >> 2) + r] = total;
    for (const [, k] of this.genKind) this.F64[(this.genAddr >> 3) + k * this.cap + r] = 0;
    for (const [kind, v] of gen) {
      const k = this.genIndex(kind);
      this.F64[(this.genAddr >> 3) + k * this.cap + r] = v;
    }
    this.setPorts(r, ports);
    this.setServiceCounts(r, svc);
  }

  /** Removes a node's row (its id is forgotten; the row is reused). */
  removeNode(id: string): void {
    const r = this.rowOf.get(id);
    if (r === undefined) return;
    this.rowOf.delete(id);
    this.rowId[r] = null;
    this.U8[this.c.live + r] = 0;
    this.U8[this.c.ready + r] = 0;
    this.setPorts(r, new Set());
    this.setServiceCounts(r, new Map());
    this.freeRows.push(r);
  }

  private setPorts(r: number, ports: Set<number>): void {
    const old = this.rowPorts[r];
    this.portCount += ports.size - (old ? old.size : 0);
    this.rowPorts[r] = ports;
    this.portsDirty = true;
  }

  private setServiceCounts(r: number, svc: Map<string, number>): void {
    const epoch = (this.rowEpoch[r] ?? 0) + 1;
    this.rowEpoch[r] = epoch;
    if (this.loadedSvc !== null) this.I32[(this.c.svc >> 2) + r] = svc.get(this.loadedSvc) ?? 0;
    for (const [s, n] of svc) {
      invariant(n < EPOCH_UNIT, 'active tasks of one service on one node exceed the counter range');
      let m = this.svcRows.get(s);
      if (!m) this.svcRows.set(s, (m = new Map()));
      m.set(r, epoch * EPOCH_UNIT + n);
    }
  }

  /** Points the service column at `svc` (sparse: rewrites only rows holding the old or new service). */
  private loadService(svc: string): void {
    if (this.loadedSvc === svc) return;
    const base = this.c.svc >> 2;
    if (this.loadedSvc !== null) for (const r of this.svcRows.get(this.loadedSvc)?.keys() ?? []) this.I32[base + r] = 0;
    const m = this.svcRows.get(svc);
    if (m) {
      for (const [r, v] of m) {
        if (Math.floor(v / EPOCH_UNIT) === this.rowEpoch[r]) this.I32[base + r] = v % EPOCH_UNIT;
        else m.delete(r);
      }
      if (m.size === 0) this.svcRows.delete(svc);
    }
    this.loadedSvc = svc;
  }

  /** Drops the host-side counts of a deleted service (its tasks are gone from every row). */
  forgetService(serviceId: string): void {
    if (this.loadedSvc === serviceId) {
      const base = this.c.svc >> 2;
      for (const r of this.svcRows.get(serviceId)?.keys() ?? []) this.I32[base + r] = 0;
      this.loadedSvc = null;
    }
    this.svcRows.delete(serviceId);
  }

  private loadFailures(req: TaskRequirements, failures: RecentFailures | undefined): void {
    const base = this.c.fail >> 2;
    for (const r of this.failRows) this.I32[base + r] = 0;
    this.failRows = [];
    if (!failures) return;
    for (const [id, n] of failures.nodesWith(req.serviceId, req.specVersion)) {
      const r = this.rowOf.get(id);
      if (r === undefined) continue;
      this.I32[base + r] = n;
      this.failRows.push(r);
    }
  }

  private ensurePorts(extra: number): void {
    let need = 16;
    while (need < 2 * (this.portCount + extra) + 16) need *= 2;
    if (!this.portsDirty && this.portCap >= need) return;
    if (this.portCap < need) {
      this.portAddr = this.alloc(need * 8);
      this.portCap = need;
    } else {
      this.U8.fill(0, this.portAddr, this.portAddr + this.portCap * 8);
    }
    const base = this.portAddr >> 2;
    const mask = this.portCap - 1;
    for (let r = 0; r < this.rowPorts.length; r++) {
      const ps = this.rowPorts[r];
      if (!ps) continue;
      for (const key of ps) {
        let s = (Math.imul(key ^ Math.imul(r, 0x85ebca6b), 0x9e3779b1) >>> 0) & mask;
        while (this.U32[base + s * 2] !== 0) s = (s + 1) & mask;
        this.U32[base + s * 2] = r + 1;
        this.U32[base + s * 2 + 1] = key;
      }
    }
    this.portsDirty = false;
    this.hdr(T_PORTS, this.portAddr);
    this.hdr(T_PORTCAP, this.portCap);
  }

  private ensureScratch(levels: number): void {
    const need = this.ex.sched_scratch_bytes(Math.max(this.rows, 1), levels);
    if (this.scratchLen < need) {
      this.scratchLen = Math.max(need, this.scratchLen * 2);
      this.scratchAddr = this.alloc(this.scratchLen);
    }
    this.hdr(T_SCRATCH, this.scratchAddr);
    this.hdr(T_SCRATCHLEN, this.scratchLen);
  }

  // ---- group descriptor ----
  /** Writes the group header and its arrays; returns the address of the decisions array. */
  private writeGroup(req: TaskRequirements, n: number): { out: number; counters: number; pre: number; codes: number; bitmap: number; score: number } {
    // Create columns a request names before laying out the group (creation may move memory).
    const genKinds = req.generic.map(([k]) => this.genIndex(k));
    const prog: number[] = [];
    const ipConsts: Uint8Array[] = [];
    for (const cst of req.constraints ?? []) {
      const t = constraintTarget(cst.key);
      const neg = cst.op === OP_NE ? 1 : 0;
      const want = this.lookup(foldCase(cst.value));
      switch (t.kind) {
        case 'id':
        case 'hostname':
        case 'role':
        case 'os':
        case 'arch': {
          const col = t.kind === 'id' ? this.c.id : t.kind === 'hostname' ? this.c.host : t.kind === 'role' ? this.c.role : t.kind === 'os' ? this.c.os : this.c.arch;
          prog.push(OP_COL, col, want, neg);
          break;
        }
        case 'nodeLabel':
        case 'engineLabel': {
          const col = this.labelColumn(t.kind === 'nodeLabel' ? 'node' : 'engine', t.label, false);
          if (col) prog.push(OP_COL, col, want, neg);
          else prog.push(OP_CONST, (foldCase(cst.value) === '') !== (neg === 1) ? 1 : 0, 0, 0);
          break;
        }
        case 'ip': {
          const o = ipOperand(cst.value);
          if (o.kind === 'bad') prog.push(OP_IP, 0, 0, neg);
          else {
            const k = new Uint8Array(32);
            if (o.kind === 'ip') k.set(o.bytes, 0);
            else {
              k.set(o.cidr.net, 0);
              k.set(o.cidr.mask, 16);
            }
            prog.push(OP_IP, o.kind === 'ip' ? 1 : o.cidr.v4 ? 4 : 6, ipConsts.length, neg);
            ipConsts.push(k);
          }
          break;
        }
        case 'never':
          prog.push(OP_CONST, 0, 0, 0);
          break;
      }
    }
    const prefCols = req.spread.map((l) => this.labelColumn(l.source, l.label, false));
    const cap = this.cap;
    const sizes = {
      genKind: genKinds.length * 4,
      genReq: genKinds.length * 8,
      prog: prog.length * 4,
      ipc: ipConsts.length * 32,
      plat: req.platforms.length * 8,
      port: req.hostPorts.length * 4,
      pref: prefCols.length * 4,
      out: n * 4,
      counters: FILTER_SLOTS * 4,
      pre: n * 4,
      codes: cap,
      bitmap: Math.ceil(cap / 8),
      score: cap * 8,
    };
    let need = 0;
    for (const v of Object.values(sizes)) need += align(v, 8);
    if (this.groupLen < need) {
      this.groupLen = Math.max(need, this.groupLen * 2);
      this.groupAddr = this.alloc(this.groupLen);
    }
    let at = this.groupAddr;
    const take = (bytes: number) => {
      const a = at;
      at += align(bytes, 8);
      return a;
    };
    const a = {
      genKind: take(sizes.genKind),
      genReq: take(sizes.genReq),
      prog: take(sizes.prog),
      ipc: take(sizes.ipc),
      plat: take(sizes.plat),
      port: take(sizes.port),
      pref: take(sizes.pref),
      out: take(sizes.out),
      counters: take(sizes.counters),
      pre: take(sizes.pre),
      codes: take(sizes.codes),
      bitmap: take(sizes.bitmap),
      score: take(sizes.score),
    };
    const U32 = this.U32;
    genKinds.forEach((k, i) => {
      U32[(a.genKind >> 2) + i] = k;
      this.F64[(a.genReq >> 3) + i] = req.generic[i]![1];
    });
    ipConsts.forEach((k, i) => this.U8.set(k, a.ipc + i * 32));
    for (let i = 0; i < prog.length; i += 4) {
      if (prog[i] === OP_IP) prog[i + 2] = a.ipc + prog[i + 2]! * 32;
    }
    for (let i = 0; i < prog.length; i++) U32[(a.prog >> 2) + i] = prog[i]! >>> 0;
    req.platforms.forEach((p, i) => {
      const arch = normalizeArch(p.architecture);
      U32[(a.plat >> 2) + 2 * i] = arch === '' ? ANY : this.lookup(arch);
      U32[(a.plat >> 2) + 2 * i + 1] = p.os === '' ? ANY : this.lookup(p.os);
    });
    req.hostPorts.forEach((k, i) => (U32[(a.port >> 2) + i] = k));
    prefCols.forEach((col, i) => (U32[(a.pref >> 2) + i] = col));
    let mask = 1 << FilterCode.READY;
    if (req.nanoCpus > 0 || req.memoryBytes > 0 || req.generic.length > 0) mask |= 1 << FilterCode.RESOURCES;
    if (req.constraints !== null) mask |= 1 << FilterCode.CONSTRAINTS;
    if (req.platforms.length > 0) mask |= 1 << FilterCode.PLATFORM;
    if (req.hostPorts.length > 0) mask |= 1 << FilterCode.HOST_PORTS;
    if (req.maxReplicas > 0) mask |= 1 << FilterCode.MAX_REPLICAS;
    const g = this.gHdr >> 2;
    U32[g + G_N / 4] = n;
    U32[g + G_MASK / 4] = mask;
    this.F64[(this.gHdr + G_CPU) >> 3] = req.nanoCpus;
    this.F64[(this.gHdr + G_MEM) >> 3] = req.memoryBytes;
    U32[g + G_GENCOUNT / 4] = genKinds.length;
    U32[g + G_GENKIND / 4] = a.genKind;
    U32[g + G_GENREQ / 4] = a.genReq;
    U32[g + G_PROGLEN / 4] = prog.length / 4;
    U32[g + G_PROG / 4] = a.prog;
    U32[g + G_PLATCOUNT / 4] = req.platforms.length;
    U32[g + G_PLAT / 4] = a.plat;
    U32[g + G_PORTCOUNT / 4] = req.hostPorts.length;
    U32[g + G_PORT / 4] = a.port;
    U32[g + G_MAXREP / 4] = req.maxReplicas;
    U32[g + G_PREFCOUNT / 4] = prefCols.length;
    U32[g + G_PREF / 4] = a.pref;
    U32[g + G_OUT / 4] = a.out;
    U32[g + G_COUNTERS / 4] = a.counters;
    U32[g + G_PRENODES / 4] = a.pre;
    U32[g + G_CODES / 4] = a.codes;
    U32[g + G_BITMAP / 4] = a.bitmap;
    U32[g + G_SCORE / 4] = a.score;
    this.U8.fill(0, a.counters, a.counters + FILTER_SLOTS * 4);
    return { out: a.out, counters: a.counters, pre: a.pre, codes: a.codes, bitmap: a.bitmap, score: a.score };
  }

  /** Prepares the table for a call about `req` with `n` tasks; returns the group arrays' addresses. */
  private prepare(req: TaskRequirements, n: number, failures: RecentFailures | undefined) {
    this.loadService(req.serviceId);
    this.loadFailures(req, failures);
    this.ensurePorts(n * req.hostPorts.length);
    this.ensureScratch(req.spread.length);
    const a = this.writeGroup(req, n);
    this.writeHeader();
    this.refresh();
    return a;
  }

  /** After a call: mirror what the module accounted (service counts, host ports) on the host side. */
  private accountDecisions(req: TaskRequirements, rows: ArrayLike<number>): void {
    if (rows.length === 0) return;
    if (this.delta.length < this.cap) this.delta = new Int32Array(this.cap);
    const delta = this.delta;
    const touched: number[] = [];
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      if (delta[r] === 0) touched.push(r);
      delta[r]!++;
    }
    let m = this.svcRows.get(req.serviceId);
    if (!m) this.svcRows.set(req.serviceId, (m = new Map()));
    const epochs = this.rowEpoch;
    for (const r of touched) {
      const prev = m.get(r);
      const base = epochs[r]! * EPOCH_UNIT;
      const count = prev !== undefined && prev >= base && prev < base + EPOCH_UNIT ? prev - base : 0;
      m.set(r, base + count + delta[r]!);
      delta[r] = 0;
      if (req.hostPorts.length) {
        const ps = this.rowPorts[r]!;
        for (const key of req.hostPorts) {
          if (!ps.has(key)) {
            ps.add(key);
            this.portCount++;
          }
        }
      }
    }
  }

  /**
   * Schedules one task group (same service and spec version, PENDING, unassigned) in one WASM call.
   * Appends decisions and unplaceable tasks (with SwarmKit's explanation) to `out`.
   */
  scheduleGroup(group: readonly Task[], out: SchedulePassResult, failures?: RecentFailures): void {
    if (group.length === 0) return;
    const req = taskRequirements(group[0]!);
    const n = group.length;
    const a = this.prepare(req, n, failures);
    const placed = this.ex.sched_group(this.tHdr, this.gHdr);
    this.refresh();
    const outI = this.I32.subarray(a.out >> 2, (a.out >> 2) + placed);
    const ids = this.rowId;
    const assignments = out.assignments;
    for (let k = 0; k < placed; k++) {
      const id = ids[outI[k]!];
      invariant(id != null, 'scheduler module returned a row without a node');
      assignments.push({ taskId: group[k]!.id, nodeId: id });
    }
    this.accountDecisions(req, outI);
    if (placed < n) {
      const err = noSuitableNode(explain(this.I32.subarray(a.counters >> 2, (a.counters >> 2) + FILTER_SLOTS)));
      for (let k = placed; k < n; k++) out.unplaceable.push({ taskId: group[k]!.id, err });
    }
  }

  /** Checks preassigned tasks of one (service, spec version), each against its own node, in one call. */
  schedulePreassigned(tasks: readonly Task[], out: SchedulePassResult): void {
    const present = tasks.filter((t) => this.rowOf.has(t.nodeId));
    if (present.length === 0) return;
    const req = taskRequirements(present[0]!);
    const a = this.prepare(req, present.length, undefined);
    present.forEach((t, i) => (this.I32[(a.pre >> 2) + i] = this.rowOf.get(t.nodeId)!));
    this.ex.sched_preassigned(this.tHdr, this.gHdr);
    this.refresh();
    const rows: number[] = [];
    present.forEach((t, i) => {
      const v = this.I32[(a.out >> 2) + i]!;
      if (v >= 0) {
        out.assignments.push({ taskId: t.id, nodeId: t.nodeId });
        rows.push(v);
      } else {
        const counters = new Array<number>(FILTER_SLOTS).fill(0);
        counters[-v] = 1;
        out.unplaceable.push({ taskId: t.id, err: explain(counters) });
      }
    });
    this.accountDecisions(req, rows);
  }

  /** A whole pass: preassigned tasks first (runs of one service version per call), then each group. */
  schedulePass(tasks: readonly Task[], failures?: RecentFailures): SchedulePassResult {
    const out: SchedulePassResult = { assignments: [], unplaceable: [] };
    const groups = new Map<string, Task[]>();
    let run: Task[] = [];
    let runKey = '';
    for (const t of tasks) {
      if (!isTracked(t) || t.status.state !== TaskState.PENDING) continue;
      const key = `${t.serviceId}\u0000${t.specVersion}`;
      if (t.nodeId !== '') {
        if (key !== runKey && run.length) {
          this.schedulePreassigned(run, out);
          run = [];
        }
        runKey = key;
        run.push(t);
        continue;
      }
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    if (run.length) this.schedulePreassigned(run, out);
    for (const g of groups.values()) this.scheduleGroup(g, out, failures);
    return out;
  }

  /** Evaluates one task's filters on every node (feasibility and first failing filter), no accounting. */
  evaluate(task: Task, failures?: RecentFailures): Evaluation {
    const req = taskRequirements(task);
    const a = this.prepare(req, 0, failures);
    const feasible = this.ex.sched_evaluate(this.tHdr, this.gHdr);
    this.refresh();
    const nodeIds: string[] = [];
    const codes: number[] = [];
    for (let r = 0; r < this.rows; r++) {
      if (this.rowId[r] === null) continue;
      nodeIds.push(this.rowId[r]!);
      codes.push(this.U8[a.codes + r]!);
    }
    return { nodeIds, codes, feasible };
  }

  /**
   * Prepares one group for an external strategy module: the table and group are laid out in this table's
   * memory; the caller copies `imageStart..imageEnd` into the strategy's memory at the same addresses.
   */
  prepareExternal(group: readonly Task[], failures?: RecentFailures): ExternalGroup {
    invariant(group.length > 0, 'prepareExternal needs a non-empty group');
    const req = taskRequirements(group[0]!);
    const a = this.prepare(req, group.length, failures);
    return { req, n: group.length, table: this.tHdr, group: this.gHdr, out: a.out, counters: a.counters, codes: a.codes, bitmap: a.bitmap, score: a.score, imageStart: PAGE, imageEnd: this.bump, memory: this.memory };
  }

  /**
   * Applies decisions an external strategy made for a prepared group: each row is re-checked against the
   * pipeline here before it counts. Returns how many were accepted (a bad row stops the list).
   */
  commitExternal(ext: ExternalGroup, group: readonly Task[], rows: Int32Array, out: SchedulePassResult): number {
    this.refresh();
    const n = Math.min(rows.length, group.length);
    this.I32.set(rows.subarray(0, n), ext.out >> 2);
    for (let k = 0; k < n; k++) {
      const r = rows[k]!;
      if (!(r >= 0 && r < this.rows && this.rowId[r] !== null)) {
        this.I32[(ext.out >> 2) + k] = -1;
      }
    }
    const accepted = this.ex.sched_apply(this.tHdr, this.gHdr, n);
    this.refresh();
    const used: number[] = [];
    for (let k = 0; k < accepted; k++) {
      out.assignments.push({ taskId: group[k]!.id, nodeId: this.rowId[rows[k]!]! });
      used.push(rows[k]!);
    }
    this.accountDecisions(ext.req, used);
    return accepted;
  }

  /** Appends the unplaceable entries for tasks `from..` of a group with the explanation from `counters`. */
  explainRest(group: readonly Task[], from: number, counters: ArrayLike<number>, out: SchedulePassResult): void {
    if (from >= group.length) return;
    const err = noSuitableNode(explain(counters));
    for (let k = from; k < group.length; k++) out.unplaceable.push({ taskId: group[k]!.id, err });
  }

  /** Addresses of the table and group headers, for strategy modules sharing this layout. */
  headers(): { table: number; group: number } {
    return { table: this.tHdr, group: this.gHdr };
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** A group laid out for an external strategy (addresses in the table's memory). */
export interface ExternalGroup {
  req: TaskRequirements;
  n: number;
  table: number;
  group: number;
  out: number;
  counters: number;
  codes: number;
  bitmap: number;
  score: number;
  /** Bytes [imageStart, imageEnd) of `memory` hold everything the strategy reads. */
  imageStart: number;
  imageEnd: number;
  memory: WebAssembly.Memory;
}

/** Input of {@link schedulePass}. */
export interface WasmPassInput {
  nodes: readonly Node[];
  tasks: readonly Task[];
  failures?: RecentFailures;
}

/**
 * Pure entry point: builds a node table from plain objects (nodes in the given order), runs one pass through
 * the WASM pipeline, and returns the decisions. For a long-lived scheduler keep a {@link NodeTable} instead.
 */
export function schedulePass(input: WasmPassInput): SchedulePassResult {
  const table = new NodeTable({ initialCapacity: Math.max(16, input.nodes.length) });
  const byNode = new Map<string, Task[]>();
  for (const t of input.tasks) {
    if (!countsOnNode(t)) continue;
    let l = byNode.get(t.nodeId);
    if (!l) byNode.set(t.nodeId, (l = []));
    l.push(t);
  }
  for (const n of input.nodes) table.upsertNode(n, byNode.get(n.id) ?? []);
  return table.schedulePass(input.tasks, input.failures);
}

export type { Assignment };
