import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  AbortedError,
  AlreadyExistsError,
  Code,
  DataLossError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  SwarmError,
  UnavailableError,
  UnimplementedError,
} from '../../../src/host/api/errors.js';
import {
  ServerTlsIdentity,
  TransportClient,
  TransportServer,
  forwardOptions,
  keepStreamOpen,
  type CallContext,
  type ClientTls,
  type PeerIdentity,
  type SessionMessage,
} from '../../../src/host/transport/index.js';
import { RealTimers, SeededRng } from '../../../src/host/env/index.js';
import { TestPki, type TestCa, type TestNodeCert } from './fixtures.js';
import { RecordingLogger } from './helpers.js';

const CLUSTER = 'cluster0000000000000000001';

/** Errors a control handler throws when asked for them by name, to test the status mapping round trip. */
const ERRORS: Record<string, () => SwarmError> = {
  InvalidArgument: () => new InvalidArgumentError('spec.name: must be at most 63 characters'),
  NotFound: () => new NotFoundError('node n1 not found'),
  AlreadyExists: () => new AlreadyExistsError('name conflicts with an existing object'),
  FailedPrecondition: () => new FailedPreconditionError('update out of sequence'),
  PermissionDenied: () => new PermissionDeniedError('nope'),
  Unavailable: () => new UnavailableError('raft: no elected cluster leader'),
  DeadlineExceeded: () => new DeadlineExceededError('context deadline exceeded'),
  Unimplemented: () => new UnimplementedError('not implemented'),
  Aborted: () => new AbortedError('dispatcher is stopped'),
  ResourceExhausted: () => new ResourceExhaustedError('too many'),
  DataLoss: () => new DataLossError('wal: checksum mismatch at record 12'),
  Internal: () => new SwarmError(Code.INTERNAL, 'internal thing'),
};

describe('transport over mutual TLS on 127.0.0.1', () => {
  let pki: TestPki;
  let root: TestCa;
  let other: TestCa;
  let serverCert: TestNodeCert;
  let manager: TestNodeCert;
  let worker: TestNodeCert;
  let foreignOrg: TestNodeCert;
  let removed: TestNodeCert;
  let otherCaManager: TestNodeCert;
  let server: TransportServer;
  let addr: string;
  const logger = new RecordingLogger();
  const raftMessages: { message: Buffer; peer: PeerIdentity | null }[] = [];
  const calls: { method: string; ctx: CallContext }[] = [];
  const clients: TransportClient[] = [];
  let neverResolve: (() => void) | null = null;

  function client(tls: ClientTls, opts: { callTimeoutMs?: number } = {}): TransportClient {
    const c = new TransportClient(addr, { tls, ...opts });
    clients.push(c);
    return c;
  }
  const withCert = (c: TestNodeCert): ClientTls => ({ kind: 'verify', rootCaPem: root.certPem, certPem: c.certPem, keyPem: c.keyPem });

  before(async () => {
    pki = new TestPki();
    root = pki.root('root');
    other = pki.root('other');
    serverCert = pki.node(root, 'mgr0', 'swarm-manager', CLUSTER);
    manager = pki.node(root, 'mgr1', 'swarm-manager', CLUSTER);
    worker = pki.node(root, 'wrk1', 'swarm-worker', CLUSTER);
    foreignOrg = pki.node(root, 'mgr9', 'swarm-manager', 'someothercluster');
    removed = pki.node(root, 'gone1', 'swarm-manager', CLUSTER);
    otherCaManager = pki.node(other, 'mgr1', 'swarm-manager', CLUSTER);
    server = new TransportServer({
      security: {
        kind: 'mtls',
        identity: new ServerTlsIdentity({ rootCaPem: root.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem }),
        clusterId: CLUSTER,
        isRemoved: (id) => id === 'gone1',
      },
      logger,
      shutdownGraceMs: 200,
    });
    server.addRaft({
      async processRaftMessage(message, ctx) {
        raftMessages.push({ message, peer: ctx.peer });
      },
      async resolveAddress(req) {
        return { addr: `addr-of-${req.raftId}` };
      },
    });
    server.addRaftMembership({
      async join(req, ctx) {
        calls.push({ method: 'Join', ctx });
        return { raftId: '42', members: [{ raftId: '1', nodeId: 'mgr0', addr: req.addr }], removedMembers: ['7'] };
      },
      async leave() {
        return {};
      },
    });
    server.addCA({
      async getRootCACertificate(_req, ctx) {
        calls.push({ method: 'GetRootCACertificate', ctx });
        return { certificate: root.certPem };
      },
      async getUnlockKey() {
        return { unlockKey: Buffer.alloc(0), version: 0 };
      },
    });
    server.addNodeCA({
      async issueNodeCertificate(req, ctx) {
        calls.push({ method: 'IssueNodeCertificate', ctx });
        if (req.csr.length === 0) throw new InvalidArgumentError('csr: must not be empty');
        return { nodeId: 'newnode', nodeMembership: 'accepted' };
      },
      async nodeCertificateStatus() {
        return { status: { state: 'issued', err: '' }, certificate: Buffer.from('cert') };
      },
    });
    server.addDispatcher({
      async *session(req, ctx) {
        calls.push({ method: 'Session', ctx });
        for (let i = 0; i < 3; i++) {
          yield { sessionId: `s-${req.sessionId || 'new'}-${i}`, nodeJson: '{}', managers: [], networkBootstrapKeysJson: '[]', rootCa: root.certPem };
        }
        throw new AbortedError('node must disconnect');
      },
      async heartbeat(_req, ctx) {
        calls.push({ method: 'Heartbeat', ctx });
        return { periodMs: 5000 };
      },
      async updateTaskStatus() {
        return {};
      },
      async *assignments() {
        // Never sends: the client's stream-open bound must end the wait.
        await new Promise<void>((r) => (neverResolve = r));
      },
    });
    server.addControl({
      async call(req, ctx) {
        calls.push({ method: `Control.${req.method}`, ctx });
        const mk = ERRORS[req.method];
        if (mk !== undefined) throw mk();
        if (req.method === 'Hang') await new Promise<void>((r) => (neverResolve = r));
        if (req.method === 'Crash') throw new Error('plain failure');
        return { responseJson: JSON.stringify({ echo: req.requestJson }) };
      },
    });
    server.addHealth();
    server.health.set('Raft', 'SERVING');
    const port = await server.listen('127.0.0.1:0');
    addr = `127.0.0.1:${port}`;
  });

  after(async () => {
    neverResolve?.();
    for (const c of clients) c.close();
    await server.close();
    pki.cleanup();
  });

  test('delivers a raft message from a manager with the peer identity from its certificate', async () => {
    const msg = randomBytes(64);
    await client(withCert(manager)).processRaftMessage(msg);
    const got = raftMessages.at(-1)!;
    assert.deepEqual(got.message, msg);
    assert.equal(got.peer?.nodeId, 'mgr1');
    assert.equal(got.peer?.role, 'swarm-manager');
    assert.equal(got.peer?.clusterId, CLUSTER);
    assert.match(got.peer?.addr ?? '', /^127\.0\.0\.1:\d+$/);
  });

  test('reads a connection peer certificate once, not per call, and keeps identities of two connections apart', async () => {
    const proto = TLSSocket.prototype as unknown as { getPeerCertificate: (detailed?: boolean) => unknown };
    const orig = proto.getPeerCertificate;
    let reads = 0;
    proto.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) {
      reads++;
      return orig.call(this, detailed);
    };
    try {
      const a = client(withCert(manager));
      const b = client(withCert(worker));
      await a.processRaftMessage(Buffer.from('warm-up'));
      const first = reads;
      for (let i = 0; i < 20; i++) await a.processRaftMessage(Buffer.from(`m${i}`));
      assert.equal(raftMessages.at(-1)!.peer?.nodeId, 'mgr1');
      // Client and server sockets of this process both count; 20 calls must not cost 20 server-side reads.
      assert.ok(reads - first < 5, `${reads - first} certificate reads for 20 calls on one connection`);
      // Another connection with another certificate is still judged by its own certificate.
      await assert.rejects(b.processRaftMessage(Buffer.from('x')), PermissionDeniedError);
      await a.processRaftMessage(Buffer.from('again'));
      assert.equal(raftMessages.at(-1)!.peer?.nodeId, 'mgr1');
    } finally {
      proto.getPeerCertificate = orig;
    }
  });

  test('refuses a raft message without a client certificate, and logs the refusal', async () => {
    const before = logger.entries.length;
    await assert.rejects(client({ kind: 'verify', rootCaPem: root.certPem }).processRaftMessage(Buffer.from('x')), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.match(e.message, /no verified client certificate/);
      return true;
    });
    const entry = logger.entries.slice(before).find((e) => e.level === 'warn');
    assert.ok(entry, 'refusal logged');
    assert.equal(entry.obj['method'], '/swarmhost.api.Raft/ProcessRaftMessage');
    assert.match(String(entry.obj['peerAddr']), /^127\.0\.0\.1:/);
  });

  test('refuses a certificate signed by another CA', async () => {
    const c = client({ kind: 'verify', rootCaPem: root.certPem, certPem: otherCaManager.certPem, keyPem: otherCaManager.keyPem });
    await assert.rejects(c.processRaftMessage(Buffer.from('x')), PermissionDeniedError);
  });

  test('refuses a worker certificate on a raft RPC and logs its CN, OU and O', async () => {
    const before = logger.entries.length;
    await assert.rejects(client(withCert(worker)).processRaftMessage(Buffer.from('x')), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.match(e.message, /organizational unit\(s\) swarm-manager/);
      return true;
    });
    const entry = logger.entries.slice(before).find((e) => e.level === 'warn')!;
    assert.deepEqual(
      { ...(entry.obj['peer'] as object), addr: undefined },
      { cn: 'wrk1', ou: 'swarm-worker', org: CLUSTER, addr: undefined },
    );
  });

  test('refuses a worker certificate on raft membership and control calls', async () => {
    await assert.rejects(client(withCert(worker)).join({ addr: '127.0.0.1:4242' }), PermissionDeniedError);
    await assert.rejects(client(withCert(worker)).control({ method: 'ListNodes', requestJson: '{}' }), PermissionDeniedError);
  });

  test('lets a manager join raft and receive the membership', async () => {
    const res = await client(withCert(manager)).join({ addr: '127.0.0.1:4243' });
    assert.deepEqual(res, { raftId: '42', members: [{ raftId: '1', nodeId: 'mgr0', addr: '127.0.0.1:4243' }], removedMembers: ['7'] });
  });

  test('accepts a worker certificate on dispatcher RPCs', async () => {
    const res = await client(withCert(worker)).heartbeat({ sessionId: 's1' });
    assert.equal(res.periodMs, 5000);
    assert.equal(calls.at(-1)!.ctx.peer?.role, 'swarm-worker');
  });

  test('refuses a certificate whose O is another cluster', async () => {
    await assert.rejects(client(withCert(foreignOrg)).processRaftMessage(Buffer.from('x')), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.equal(e.message, `Permission denied: remote certificate not part of organization: ${CLUSTER}`);
      return true;
    });
  });

  test('refuses a node that was removed from the swarm', async () => {
    await assert.rejects(client(withCert(removed)).heartbeat({ sessionId: 's' }), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.equal(e.message, 'Permission denied: node gone1 was removed from swarm');
      return true;
    });
  });

  test('serves CA root fetch and issuance without a client certificate', async () => {
    const c = client({ kind: 'verify', rootCaPem: root.certPem });
    const r = await c.getRootCACertificate();
    assert.deepEqual(r.certificate, root.certPem);
    assert.equal(calls.at(-1)!.ctx.peer, null);
    const issued = await c.issueNodeCertificate({ csr: Buffer.from('csr'), token: 'SWMTKN-1-x', availability: 'active' });
    assert.equal(issued.nodeId, 'newnode');
    const st = await c.nodeCertificateStatus({ nodeId: 'newnode' });
    assert.equal(st.status?.state, 'issued');
  });

  test('fetches the root without verifying the server (join bootstrap)', async () => {
    const r = await client({ kind: 'insecureSkipVerify' }).getRootCACertificate();
    assert.deepEqual(r.certificate, root.certPem);
  });

  test('still refuses the manager-only CA RPC without a certificate', async () => {
    await assert.rejects(client({ kind: 'verify', rootCaPem: root.certPem }).getUnlockKey(), PermissionDeniedError);
  });

  test('identifies a certified caller on an open CA RPC (renewal)', async () => {
    await client(withCert(worker)).getRootCACertificate();
    assert.equal(calls.at(-1)!.ctx.peer?.nodeId, 'wrk1');
  });

  test('accepts a worker identity forwarded by a manager on a dispatcher RPC', async () => {
    const original: PeerIdentity = { nodeId: 'wrk7', role: 'swarm-worker', clusterId: CLUSTER, addr: '10.0.0.7:5000' };
    await client(withCert(manager)).heartbeat({ sessionId: 's' }, { forwardedFor: original });
    const ctx = calls.at(-1)!.ctx;
    assert.equal(ctx.peer?.nodeId, 'wrk7');
    assert.equal(ctx.peer?.addr, '10.0.0.7:5000');
    assert.equal(ctx.peer?.forwardedBy?.nodeId, 'mgr1');
  });

  test('refuses forwarded identity from a worker peer', async () => {
    const original: PeerIdentity = { nodeId: 'mgr5', role: 'swarm-manager', clusterId: CLUSTER, addr: '10.0.0.5:1' };
    await assert.rejects(client(withCert(worker)).control({ method: 'X', requestJson: '' }, { forwardedFor: original }), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.match(e.message, /forwarded request from a peer that is not a manager/);
      return true;
    });
  });

  test('applies the method checks to a forwarded identity (worker forwarded onto raft, removed node, other cluster)', async () => {
    const m = client(withCert(manager));
    const fwd = (id: Partial<PeerIdentity>): PeerIdentity => ({ nodeId: 'w', role: 'swarm-worker', clusterId: CLUSTER, addr: '1.2.3.4:5', ...id });
    await assert.rejects(m.processRaftMessage(Buffer.from('x'), { forwardedFor: fwd({}) }), /organizational unit/);
    await assert.rejects(m.heartbeat({ sessionId: 's' }, { forwardedFor: fwd({ nodeId: 'gone1' }) }), /node gone1 was removed/);
    await assert.rejects(m.heartbeat({ sessionId: 's' }, { forwardedFor: fwd({ clusterId: 'x' }) }), /not part of organization/);
  });

  test('forwardOptions re-issues a call with the original caller, not the intermediate manager', async () => {
    // First hop: a worker calls; the handler's ctx is what a non-leader manager would forward from.
    await client(withCert(worker)).heartbeat({ sessionId: 'a' });
    const firstCtx = calls.at(-1)!.ctx;
    await client(withCert(manager)).heartbeat({ sessionId: 'a' }, { ...forwardOptions(firstCtx), signal: undefined });
    const ctx = calls.at(-1)!.ctx;
    assert.equal(ctx.peer?.nodeId, 'wrk1');
    assert.equal(ctx.peer?.forwardedBy?.nodeId, 'mgr1');
  });

  test('maps every SwarmError code to a gRPC status and back to the same class and message', async () => {
    const c = client(withCert(manager));
    for (const [name, mk] of Object.entries(ERRORS)) {
      const want = mk();
      await assert.rejects(c.control({ method: name, requestJson: '' }), (e: unknown) => {
        assert.ok(e instanceof SwarmError, name);
        assert.equal(e.constructor, want.constructor, name);
        assert.equal(e.code, want.code, name);
        assert.equal(e.message, want.message, name);
        return true;
      });
    }
  });

  test('reports a plain handler exception as UNKNOWN with its message and logs it', async () => {
    await assert.rejects(client(withCert(manager)).control({ method: 'Crash', requestJson: '' }), (e: unknown) => {
      assert.ok(e instanceof SwarmError);
      assert.equal(e.code, Code.UNKNOWN);
      assert.equal(e.message, 'plain failure');
      return true;
    });
    assert.ok(logger.entries.some((e) => e.level === 'error' && e.obj['method'] === '/swarmhost.api.Control/Call'));
  });

  test('ends a call that outlives its deadline with DeadlineExceededError', async () => {
    const c = client(withCert(manager), { callTimeoutMs: 150 });
    await assert.rejects(c.control({ method: 'Hang', requestJson: '' }), DeadlineExceededError);
    neverResolve?.();
  });

  test('ends a call to a peer that never completes the TLS handshake within its deadline', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const c = new TransportClient(`127.0.0.1:${port}`, { tls: withCert(manager), callTimeoutMs: 300 });
    try {
      const t0 = performance.now();
      await assert.rejects(c.heartbeat({ sessionId: 's' }), DeadlineExceededError);
      assert.ok(performance.now() - t0 < 5_000, 'bounded by the deadline');
    } finally {
      c.close();
      silent.close();
      for (const sock of sockets) sock.destroy();
    }
  });

  test('streams a 5 MiB snapshot in chunks through StreamRaftMessage', async () => {
    const snap = randomBytes(5 * 1024 * 1024 + 123);
    const c = client(withCert(manager));
    await c.sendRaftMessage(snap);
    const got = raftMessages.at(-1)!;
    assert.equal(got.message.length, snap.length);
    assert.ok(got.message.equals(snap));
    assert.equal(got.peer?.nodeId, 'mgr1');
    // The same message as one unary call is over the 4 MiB limit.
    await assert.rejects(c.processRaftMessage(snap), (e: unknown) => e instanceof SwarmError && e.code === Code.RESOURCE_EXHAUSTED);
  });

  test('refuses a streamed raft message from a worker', async () => {
    await assert.rejects(client(withCert(worker)).streamRaftMessage(randomBytes(3000)), PermissionDeniedError);
  });

  test('delivers a session stream in order and ends it with the handler error', async () => {
    const got: SessionMessage[] = [];
    await assert.rejects(
      (async () => {
        for await (const m of client(withCert(worker)).session({ descriptionJson: '{}', sessionId: '' })) got.push(m);
      })(),
      (e: unknown) => e instanceof AbortedError && e.message === 'node must disconnect',
    );
    assert.deepEqual(got.map((m) => m.sessionId), ['s-new-0', 's-new-1', 's-new-2']);
    assert.deepEqual(got[0]!.rootCa, root.certPem);
  });

  test('refuses a session stream without a client certificate', async () => {
    const c = client({ kind: 'verify', rootCaPem: root.certPem });
    await assert.rejects(
      (async () => {
        for await (const _ of c.session({ descriptionJson: '{}', sessionId: '' })) {
          assert.fail('no message may arrive');
        }
      })(),
      PermissionDeniedError,
    );
  });

  test('serves new connections with a renewed server certificate', async () => {
    const identity = new ServerTlsIdentity({ rootCaPem: root.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem });
    const s2 = new TransportServer({
      security: { kind: 'mtls', identity, clusterId: CLUSTER, isRemoved: () => false },
      logger,
      shutdownGraceMs: 100,
    });
    s2.addHealth();
    const p2 = await s2.listen('127.0.0.1:0');
    try {
      // Swap to a certificate from another root: clients that trust only `root` can no longer connect.
      const otherServer = pki.node(other, 'mgr0', 'swarm-manager', CLUSTER);
      identity.update({ rootCaPem: other.certPem, certPem: otherServer.certPem, keyPem: otherServer.keyPem });
      const c = new TransportClient(`127.0.0.1:${p2}`, { tls: withCert(manager), callTimeoutMs: 1000 });
      await assert.rejects(c.healthCheck(''), (e: unknown) => e instanceof SwarmError && e.code !== Code.OK);
      c.close();
      const c2 = new TransportClient(`127.0.0.1:${p2}`, {
        tls: { kind: 'verify', rootCaPem: other.certPem, certPem: otherCaManager.certPem, keyPem: otherCaManager.keyPem },
      });
      assert.equal((await c2.healthCheck('')).status, 'SERVING');
      c2.close();
    } finally {
      await s2.close();
    }
  });

  test('keeps a real session stream open across server-side ends with the jittered backoff', async () => {
    const c = client(withCert(worker));
    const ac = new AbortController();
    const got: string[] = [];
    let retries = 0;
    const done = keepStreamOpen<SessionMessage>({
      open: (signal) => c.session({ descriptionJson: '{}', sessionId: `r${retries}` }, { signal }),
      onMessage: (m) => void got.push(m.sessionId),
      onRetry: () => void retries++,
      timers: new RealTimers(),
      rng: new SeededRng(1),
      signal: ac.signal,
      minMs: 10,
      maxMs: 40,
    });
    const deadline = performance.now() + 5_000;
    while (retries < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    assert.ok(retries >= 2, `reconnected ${retries} times`);
    assert.deepEqual(got.slice(0, 6), ['s-r0-0', 's-r0-1', 's-r0-2', 's-r1-0', 's-r1-1', 's-r1-2']);
  });

  test('bounds the wait for a stream first message', async () => {
    const c = client(withCert(worker));
    await assert.rejects(
      (async () => {
        for await (const _ of c.assignments({ sessionId: 's' }, { timeoutMs: 150 })) {
          /* nothing arrives */
        }
      })(),
      DeadlineExceededError,
    );
  });

  test('answers health checks on the remote API for managers', async () => {
    const c = client(withCert(manager));
    assert.equal((await c.healthCheck('')).status, 'SERVING');
    assert.equal((await c.healthCheck('Raft')).status, 'SERVING');
    await assert.rejects(c.healthCheck('Nope'), NotFoundError);
    await assert.rejects(client(withCert(worker)).healthCheck(''), PermissionDeniedError);
  });
});
