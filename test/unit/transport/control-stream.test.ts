import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  Code,
  DeadlineExceededError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  SwarmError,
  UnavailableError,
} from '../../../src/host/api/errors.js';
import {
  SWARM_MAX_MESSAGE_BYTES,
  ServerTlsIdentity,
  TransportClient,
  TransportServer,
  method,
  serviceDefinition,
  type CallContext,
  type ControlStreamResponse,
  type ControlStreamResult,
  type ClientTls,
  type ControlRequest,
  type ControlResponse,
  type PeerIdentity,
} from '../../../src/host/transport/index.js';
import { TestPki, type TestCa } from './fixtures.js';
import { RecordingLogger, until } from './helpers.js';

const CLUSTER = 'cluster0000000000000000001';

/**
 * A control handler for the tests: "Echo" answers its request; "Gate" waits until the test opens gate
 * `requestJson`; "Fail" throws NotFound; "Big" answers `requestJson` bytes of JSON string.
 */
class TestControl {
  readonly gates = new Map<string, () => void>();
  readonly contexts = new Map<string, CallContext>();
  readonly seen: { method: string; ctx: CallContext }[] = [];

  async call(req: ControlRequest, ctx: CallContext): Promise<ControlResponse> {
    this.seen.push({ method: req.method, ctx });
    if (req.method === 'Fail') throw new NotFoundError(`config ${req.requestJson} not found`);
    if (req.method === 'Crash') throw new Error('plain failure');
    if (req.method === 'Big') return { responseJson: JSON.stringify('x'.repeat(Number(req.requestJson))) };
    if (req.method === 'Gate') {
      this.contexts.set(req.requestJson, ctx);
      await new Promise<void>((r) => this.gates.set(req.requestJson, r));
    }
    return { responseJson: JSON.stringify({ method: req.method, echo: req.requestJson }) };
  }

  open(name: string): void {
    const g = this.gates.get(name);
    assert.ok(g, `gate ${name} is waiting`);
    this.gates.delete(name);
    g();
  }

  openAll(): void {
    for (const name of [...this.gates.keys()]) this.open(name);
  }
}

describe('control stream on the local socket', () => {
  let dir: string;
  let sock: string;
  let server: TransportServer;
  const h = new TestControl();
  const logger = new RecordingLogger();
  const clients: TransportClient[] = [];
  const client = (o: { callTimeoutMs?: number; maxControlInFlight?: number; maxMessageBytes?: number; target?: string } = {}): TransportClient => {
    const { target, ...rest } = o;
    const c = new TransportClient(target ?? `unix://${sock}`, { tls: { kind: 'none' }, ...rest });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swarmhost-cs-'));
    sock = join(dir, 'control.sock');
    server = new TransportServer({
      security: { kind: 'local' },
      logger,
      shutdownGraceMs: 200,
      maxControlStreamInFlight: 3,
      maxMessageBytes: 4 * 1024 * 1024,
    });
    server.addControl(h);
    await server.listenUnix(sock);
  });

  after(async () => {
    h.openAll();
    for (const c of clients) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('answers many concurrent requests, each with its own response', async () => {
    const c = client({ maxControlInFlight: 1000 });
    // The server bound is 3 outstanding per stream; Echo answers within the same turn, so batches of 3 fit.
    for (let round = 0; round < 20; round++) {
      const got = await Promise.all([0, 1, 2].map((i) => c.control({ method: 'Echo', requestJson: `r${round}-${i}` })));
      assert.deepEqual(
        got.map((r) => JSON.parse(r.responseJson).echo),
        [0, 1, 2].map((i) => `r${round}-${i}`),
      );
    }
  });

  test('answers in completion order: a slow request does not hold back the others', async () => {
    const c = client();
    const order: string[] = [];
    const slow = c.control({ method: 'Gate', requestJson: 'slow' }).then((r) => void order.push(JSON.parse(r.responseJson).echo));
    await until(() => h.gates.has('slow'), 'slow request running');
    const fast = c.control({ method: 'Echo', requestJson: 'fast' }).then((r) => void order.push(JSON.parse(r.responseJson).echo));
    await fast;
    assert.deepEqual(order, ['fast']);
    h.open('slow');
    await slow;
    assert.deepEqual(order, ['fast', 'slow']);
  });

  test('answers out of order when handlers finish out of order', async () => {
    const c = client();
    const order: string[] = [];
    const ps = ['a', 'b', 'c'].map((g) => c.control({ method: 'Gate', requestJson: g }).then((r) => void order.push(JSON.parse(r.responseJson).echo)));
    await until(() => ['a', 'b', 'c'].every((g) => h.gates.has(g)), 'three gates waiting');
    for (const g of ['c', 'a', 'b']) {
      h.open(g);
      await until(() => order.includes(g), `answer ${g}`);
    }
    await Promise.all(ps);
    assert.deepEqual(order, ['c', 'a', 'b']);
  });

  test('keeps an error answer\'s code and text, and an unexpected failure is UNKNOWN and logged', async () => {
    const c = client();
    await assert.rejects(c.control({ method: 'Fail', requestJson: 'cfg1' }), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.message, 'config cfg1 not found');
      return true;
    });
    await assert.rejects(c.control({ method: 'Crash', requestJson: '' }), (e: unknown) => {
      assert.ok(e instanceof SwarmError);
      assert.equal(e.code, Code.UNKNOWN);
      assert.equal(e.message, 'plain failure');
      return true;
    });
    assert.ok(logger.entries.some((e) => e.level === 'error' && e.obj['method'] === '/swarmhost.api.Control/Call'));
    // The same errors through the unary call, for comparison.
    await assert.rejects(c.controlUnary({ method: 'Fail', requestJson: 'cfg1' }), (e: unknown) => e instanceof NotFoundError && e.message === 'config cfg1 not found');
  });

  test('a request past its deadline fails alone: the others on the stream keep working and the server sees the cancel', async () => {
    const c = client({ callTimeoutMs: 5_000 });
    const hung = c.control({ method: 'Gate', requestJson: 'late' }, { timeoutMs: 100 });
    await until(() => h.gates.has('late'), 'late request running');
    const serverCtx = h.contexts.get('late')!;
    const signal = serverCtx.signal; // the handler watches its signal, as a forwarding handler does
    await assert.rejects(hung, DeadlineExceededError);
    await until(() => signal.aborted, 'server-side signal aborted');
    const ok = await c.control({ method: 'Echo', requestJson: 'after' });
    assert.equal(JSON.parse(ok.responseJson).echo, 'after');
    // The late answer arrives and is dropped; the stream still works.
    h.open('late');
    const ok2 = await c.control({ method: 'Echo', requestJson: 'after2' });
    assert.equal(JSON.parse(ok2.responseJson).echo, 'after2');
  });

  test('an aborted signal cancels one request with CANCELLED and leaves the others', async () => {
    const c = client();
    const ac = new AbortController();
    const p = c.control({ method: 'Gate', requestJson: 'abort-me' }, { signal: ac.signal });
    const other = c.control({ method: 'Gate', requestJson: 'keep-me' });
    await until(() => h.gates.has('abort-me') && h.gates.has('keep-me'), 'both running');
    const serverSignal = h.contexts.get('abort-me')!.signal;
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof SwarmError && e.code === Code.CANCELLED);
    await until(() => serverSignal.aborted, 'server-side signal aborted');
    h.open('keep-me');
    assert.equal(JSON.parse((await other).responseJson).echo, 'keep-me');
    h.open('abort-me');
  });

  test('bounds requests in flight per stream with RESOURCE_EXHAUSTED, and frees the slots as answers go out', async () => {
    const c = client({ maxControlInFlight: 100 });
    const held = ['h1', 'h2', 'h3'].map((g) => c.control({ method: 'Gate', requestJson: g }));
    await until(() => ['h1', 'h2', 'h3'].every((g) => h.gates.has(g)), 'three held');
    await assert.rejects(c.control({ method: 'Echo', requestJson: 'over' }), (e: unknown) => {
      assert.ok(e instanceof ResourceExhaustedError);
      assert.equal(e.message, 'control stream: more than 3 requests in flight');
      return true;
    });
    h.open('h1');
    await held[0];
    assert.equal(JSON.parse((await c.control({ method: 'Echo', requestJson: 'fits' })).responseJson).echo, 'fits');
    h.open('h2');
    h.open('h3');
    await Promise.all(held);
  });

  test('the client refuses requests beyond its own in-flight bound without sending them', async () => {
    const c = client({ maxControlInFlight: 2 });
    const held = ['k1', 'k2'].map((g) => c.control({ method: 'Gate', requestJson: g }));
    await assert.rejects(c.control({ method: 'Echo', requestJson: 'x' }), /more than 2 requests in flight/);
    await until(() => h.gates.has('k1') && h.gates.has('k2'), 'two held');
    h.open('k1');
    h.open('k2');
    await Promise.all(held);
  });

  test('refuses a request over the message limit locally and an answer over it alone, keeping the stream', async () => {
    const c = client({ maxMessageBytes: 2 * 1024 * 1024 });
    await assert.rejects(c.control({ method: 'Echo', requestJson: 'y'.repeat(3 * 1024 * 1024) }), (e: unknown) => {
      assert.ok(e instanceof ResourceExhaustedError);
      assert.equal(e.message, 'control stream: request of 3145728 bytes exceeds the limit of 2097152 bytes');
      return true;
    });
    // The server's limit is 4 MiB: a 5 MB answer is refused alone; 3 answers of 1.5 MB travel in separate messages.
    const c2 = client({ maxMessageBytes: 8 * 1024 * 1024 });
    await assert.rejects(c2.control({ method: 'Big', requestJson: String(5_000_000) }), (e: unknown) => {
      assert.ok(e instanceof ResourceExhaustedError);
      assert.match(e.message, /response of 5000002 bytes exceeds the limit of 4194304 bytes/);
      return true;
    });
    const big = await Promise.all([0, 1, 2].map(() => c2.control({ method: 'Big', requestJson: String(1_500_000) })));
    for (const r of big) assert.equal((JSON.parse(r.responseJson) as string).length, 1_500_000);
    assert.equal(JSON.parse((await c.control({ method: 'Echo', requestJson: 'still' })).responseJson).echo, 'still');
  });

  test('a broken stream rejects every pending request with UNAVAILABLE, and the next call opens a new stream', async () => {
    // A unix-socket proxy in front of the server that the test can cut.
    const proxyPath = join(dir, 'proxy.sock');
    const sockets: Socket[] = [];
    const proxy: Server = createServer((inbound) => {
      const outbound = connect(sock);
      sockets.push(inbound, outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((r) => proxy.listen(proxyPath, r));
    try {
      const c = client({ target: `unix://${proxyPath}`, maxControlInFlight: 100 });
      assert.equal(JSON.parse((await c.control({ method: 'Echo', requestJson: 'warm' })).responseJson).echo, 'warm');
      const pending = ['b1', 'b2'].map((g) => c.control({ method: 'Gate', requestJson: g }));
      await until(() => h.gates.has('b1') && h.gates.has('b2'), 'two pending');
      const seenBefore = h.seen.length;
      for (const s of sockets) s.destroy();
      for (const p of pending) await assert.rejects(p, UnavailableError);
      // The server aborted the handlers of the dead stream.
      await until(() => h.contexts.get('b1')!.signal.aborted && h.contexts.get('b2')!.signal.aborted, 'handlers cancelled');
      h.open('b1');
      h.open('b2');
      const again = await c.control({ method: 'Echo', requestJson: 'again' });
      assert.equal(JSON.parse(again.responseJson).echo, 'again');
      // Nothing was resent: the server saw exactly the one new request.
      assert.deepEqual(h.seen.slice(seenBefore).map((s) => s.method), ['Echo']);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('serves control calls on the stream as the local manager', async () => {
    await client().control({ method: 'Echo', requestJson: 'who' });
    const ctx = h.seen.at(-1)!.ctx;
    assert.equal(ctx.local, true);
    assert.equal(ctx.peer, null);
    assert.equal(ctx.path, '/swarmhost.api.Control/Call');
  });
});

describe('control stream server lifecycle and older servers', () => {
  test('close() ends an idle control stream instead of waiting out the shutdown grace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmhost-cs2-'));
    const sock = join(dir, 's.sock');
    const server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 30_000 });
    server.addControl(new TestControl());
    await server.listenUnix(sock);
    const c = new TransportClient(`unix://${sock}`, { tls: { kind: 'none' } });
    try {
      await c.control({ method: 'Echo', requestJson: '1' });
      const t0 = performance.now();
      await server.close();
      assert.ok(performance.now() - t0 < 10_000, 'closed well before the 30 s grace');
    } finally {
      c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('results held while the client does not read go out in messages under the limit once it reads again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmhost-cs4-'));
    const sock = join(dir, 's.sock');
    const h = new TestControl();
    const limit = 4 * 1024 * 1024;
    const server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 200, maxMessageBytes: limit });
    server.addControl(h);
    await server.listenUnix(sock);
    const m = method('/swarmhost.api.Control/Stream');
    const raw = new grpc.Client(`unix://${sock}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': limit });
    const call = raw.makeBidiStreamRequest(m.path, m.serialize, m.deserializeResponse, new grpc.Metadata(), {});
    try {
      const got = new Map<number, ControlStreamResult>();
      let failure: unknown = null;
      call.on('error', (e: unknown) => (failure = e));
      call.pause(); // a client that does not read
      const n = 24;
      const calls = Array.from({ length: n }, (_, i) => ({ id: i + 1, method: 'Big', requestJson: String(600_000), timeoutMs: 0, cancel: false, forwarded: null }));
      call.write({ calls });
      await until(() => h.seen.length === n, 'all handlers ran');
      call.on('data', (msg: ControlStreamResponse) => {
        for (const r of msg.results) got.set(r.id, r);
      });
      call.resume();
      await until(() => got.size === n || failure !== null, 'all results');
      assert.equal(failure, null);
      for (const r of got.values()) {
        assert.equal(r.code, 0);
        assert.equal((JSON.parse(r.responseJson) as string).length, 600_000);
      }
    } finally {
      call.cancel();
      raw.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('falls back to the unary call on a server that has no Control/Stream (an older node)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmhost-cs3-'));
    const sock = join(dir, 'old.sock');
    const old = new grpc.Server();
    let calls = 0;
    old.addService(serviceDefinition('swarmhost.api.Control'), {
      Call: (call: grpc.ServerUnaryCall<ControlRequest, ControlResponse>, cb: grpc.sendUnaryData<ControlResponse>) => {
        calls++;
        cb(null, { responseJson: JSON.stringify({ old: call.request.method }) });
      },
    });
    await new Promise<void>((res, rej) => old.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    const c = new TransportClient(`unix://${sock}`, { tls: { kind: 'none' } });
    try {
      const got = await Promise.all(['A', 'B'].map((m) => c.control({ method: m, requestJson: '{}' })));
      assert.deepEqual(got.map((r) => JSON.parse(r.responseJson).old), ['A', 'B']);
      assert.deepEqual(JSON.parse((await c.control({ method: 'C', requestJson: '{}' })).responseJson), { old: 'C' });
      assert.equal(calls, 3, 'each request ran exactly once');
    } finally {
      c.close();
      old.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('control stream over mutual TLS: authorization as for the unary call', () => {
  let pki: TestPki;
  let root: TestCa;
  let server: TransportServer;
  let addr: string;
  const h = new TestControl();
  const logger = new RecordingLogger();
  const clients: TransportClient[] = [];
  let tls: Record<string, ClientTls>;

  before(async () => {
    pki = new TestPki();
    root = pki.root('root');
    const other = pki.root('other');
    const srv = pki.node(root, 'mgr0', 'swarm-manager', CLUSTER);
    const withCert = (c: { certPem: Buffer; keyPem: Buffer }): ClientTls => ({ kind: 'verify', rootCaPem: root.certPem, certPem: c.certPem, keyPem: c.keyPem });
    tls = {
      manager: withCert(pki.node(root, 'mgr1', 'swarm-manager', CLUSTER)),
      worker: withCert(pki.node(root, 'wrk1', 'swarm-worker', CLUSTER)),
      foreign: withCert(pki.node(root, 'mgr9', 'swarm-manager', 'othercluster')),
      removed: withCert(pki.node(root, 'gone1', 'swarm-manager', CLUSTER)),
      otherCa: withCert(pki.node(other, 'mgr1', 'swarm-manager', CLUSTER)),
      none: { kind: 'verify', rootCaPem: root.certPem },
    };
    server = new TransportServer({
      security: {
        kind: 'mtls',
        identity: new ServerTlsIdentity({ rootCaPem: root.certPem, certPem: srv.certPem, keyPem: srv.keyPem }),
        clusterId: CLUSTER,
        isRemoved: (id) => id === 'gone1',
      },
      logger,
      shutdownGraceMs: 200,
    });
    server.addControl(h);
    addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    pki.cleanup();
  });

  const client = (t: ClientTls): TransportClient => {
    const c = new TransportClient(addr, { tls: t, callTimeoutMs: 3_000 });
    clients.push(c);
    return c;
  };

  /** The error (class, code, text) a call ends with, or 'ok'. */
  const outcome = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof SwarmError, String(e));
      return `${e.constructor.name} ${e.code} ${e.message}`;
    }
  };

  test('a worker, another cluster, a removed node, no certificate and another CA: same refusal as the unary call', async () => {
    for (const who of ['worker', 'foreign', 'removed', 'none', 'otherCa']) {
      const c = client(tls[who]!);
      const viaStream = await outcome(c.control({ method: 'Echo', requestJson: '{}' }));
      const viaUnary = await outcome(c.controlUnary({ method: 'Echo', requestJson: '{}' }));
      assert.equal(viaStream, viaUnary, who);
      assert.notEqual(viaStream, 'ok', who);
      if (who !== 'otherCa') assert.match(viaStream, /^PermissionDeniedError 7 Permission denied: /, who);
    }
  });

  test('a refused request is logged with the peer identity under the Call path', async () => {
    const before = logger.entries.length;
    await assert.rejects(client(tls['worker']!).control({ method: 'Echo', requestJson: '{}' }), PermissionDeniedError);
    const entry = logger.entries.slice(before).find((e) => e.level === 'warn')!;
    assert.equal(entry.obj['method'], '/swarmhost.api.Control/Call');
    assert.equal((entry.obj['peer'] as { cn: string }).cn, 'wrk1');
  });

  test('a manager is served with its identity; each forwarded request carries its own original caller', async () => {
    const c = client(tls['manager']!);
    const w: PeerIdentity = { nodeId: 'mgr5', role: 'swarm-manager', clusterId: CLUSTER, addr: '10.0.0.5:1' };
    const before = h.seen.length;
    await Promise.all([
      c.control({ method: 'Echo', requestJson: 'direct' }),
      c.control({ method: 'Echo', requestJson: 'fwd' }, { forwardedFor: w }),
    ]);
    const byEcho = new Map(h.seen.slice(before).map((s) => [s.ctx.peer?.nodeId, s.ctx.peer]));
    assert.equal(byEcho.get('mgr1')?.forwardedBy, undefined);
    assert.equal(byEcho.get('mgr5')?.forwardedBy?.nodeId, 'mgr1');
    assert.equal(byEcho.get('mgr5')?.addr, '10.0.0.5:1');
  });

  test('forwarded identities are checked per request: a forwarded worker is refused, the others on the stream are not', async () => {
    const c = client(tls['manager']!);
    const worker: PeerIdentity = { nodeId: 'w1', role: 'swarm-worker', clusterId: CLUSTER, addr: '1.2.3.4:5' };
    const [refused, served] = await Promise.all([
      outcome(c.control({ method: 'Echo', requestJson: '{}' }, { forwardedFor: worker })),
      outcome(c.control({ method: 'Echo', requestJson: '{}' })),
    ]);
    assert.equal(refused, await outcome(c.controlUnary({ method: 'Echo', requestJson: '{}' }, { forwardedFor: worker })));
    assert.match(refused, /organizational unit\(s\) swarm-manager/);
    assert.equal(served, 'ok');
    const fromWorker = client(tls['worker']!);
    const viaStream = await outcome(fromWorker.control({ method: 'Echo', requestJson: '{}' }, { forwardedFor: worker }));
    assert.equal(viaStream, await outcome(fromWorker.controlUnary({ method: 'Echo', requestJson: '{}' }, { forwardedFor: worker })));
    assert.match(viaStream, /forwarded request from a peer that is not a manager/);
  });
});

describe('answer size on a client without maxMessageBytes', () => {
  test('a client with default limits reads answers up to 128 MiB (stream and unary); one given maxMessageBytes keeps that bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmhost-cs-big-'));
    const sock = join(dir, 'control.sock');
    const server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 200, maxMessageBytes: SWARM_MAX_MESSAGE_BYTES });
    server.addControl(new TestControl());
    await server.listenUnix(sock);
    const clients = [
      new TransportClient(`unix://${sock}`, { tls: { kind: 'none' } }),
      new TransportClient(`unix://${sock}`, { tls: { kind: 'none' }, controlTransport: 'unary' }),
      new TransportClient(`unix://${sock}`, { tls: { kind: 'none' }, controlTransport: 'unary', maxMessageBytes: 4 * 1024 * 1024 }),
    ];
    try {
      for (const c of clients.slice(0, 2)) {
        const r = await c.control({ method: 'Big', requestJson: String(6_000_000) });
        assert.equal((JSON.parse(r.responseJson) as string).length, 6_000_000);
      }
      await assert.rejects(clients[2]!.control({ method: 'Big', requestJson: String(6_000_000) }), (e: unknown) => {
        assert.ok(e instanceof SwarmError);
        assert.equal(e.code, Code.RESOURCE_EXHAUSTED);
        return true;
      });
    } finally {
      for (const c of clients) c.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
