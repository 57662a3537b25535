import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  DeadlineExceededError,
  FailedPreconditionError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../../src/host/api/errors.js';
import { RealTimers } from '../../../src/host/env/index.js';
import {
  RaftStreamMux,
  ServerTlsIdentity,
  TransportClient,
  TransportServer,
  serviceDefinition,
  type CallContext,
  type ClientTls,
  type ProcessRaftMessageRequest,
  type RaftStreamRequest,
  type RaftStreamResponse,
} from '../../../src/host/transport/index.js';
import { TestPki, type TestCa, type TestNodeCert } from './fixtures.js';
import { RecordingLogger, until } from './helpers.js';

const CLUSTER = 'cluster0000000000000000001';

describe('raft messages on Raft/MessageStream over mutual TLS', () => {
  let pki: TestPki;
  let root: TestCa;
  let manager: TestNodeCert;
  let worker: TestNodeCert;
  let server: TransportServer;
  let addr: string;
  const seen: { text: string; path: string; peer: string }[] = [];
  const hanging: (() => void)[] = [];
  const clients: TransportClient[] = [];
  const client = (tls: ClientTls, o: { raftSendTimeoutMs?: number; raftTransport?: 'stream' | 'unary' } = {}): TransportClient => {
    const c = new TransportClient(addr, { tls, ...o });
    clients.push(c);
    return c;
  };
  const withCert = (c: TestNodeCert): ClientTls => ({ kind: 'verify', rootCaPem: root.certPem, certPem: c.certPem, keyPem: c.keyPem });

  before(async () => {
    pki = new TestPki();
    root = pki.root('root');
    const serverCert = pki.node(root, 'mgr0', 'swarm-manager', CLUSTER);
    manager = pki.node(root, 'mgr1', 'swarm-manager', CLUSTER);
    worker = pki.node(root, 'wrk1', 'swarm-worker', CLUSTER);
    server = new TransportServer({
      security: {
        kind: 'mtls',
        identity: new ServerTlsIdentity({ rootCaPem: root.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem }),
        clusterId: CLUSTER,
        isRemoved: () => false,
      },
      logger: new RecordingLogger(),
      shutdownGraceMs: 200,
    });
    server.addRaft({
      // "fail:<text>" is refused as a removed member would be; "hang" is never answered.
      async processRaftMessage(message: Buffer, ctx: CallContext) {
        const text = message.toString('utf8');
        seen.push({ text, path: ctx.path, peer: ctx.peer?.nodeId ?? '' });
        if (text.startsWith('fail:')) throw new FailedPreconditionError(`raft: member ${text.slice(5)} was removed from the cluster`);
        if (text === 'hang') await new Promise<void>((r) => hanging.push(r));
      },
      async resolveAddress() {
        return { addr: '' };
      },
    });
    addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  });

  after(async () => {
    for (const r of hanging) r();
    for (const c of clients) c.close();
    await server.close();
    pki.cleanup();
  });

  test('delivers messages in order on the stream, each resolving once handled, with the identity from the certificate', async () => {
    const c = client(withCert(manager));
    const from = seen.length;
    const texts = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await Promise.all(texts.map((t) => c.sendRaftMessage(Buffer.from(t))));
    const got = seen.slice(from);
    assert.deepEqual(got.map((s) => s.text), texts);
    assert.ok(got.every((s) => s.path === '/swarmhost.api.Raft/MessageStream' && s.peer === 'mgr1'));
  });

  test("a handler's refusal reaches that message's caller with its code and text; the stream goes on", async () => {
    const c = client(withCert(manager));
    const results = await Promise.allSettled([c.sendRaftMessage(Buffer.from('a')), c.sendRaftMessage(Buffer.from('fail:7')), c.sendRaftMessage(Buffer.from('b'))]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[2]!.status, 'fulfilled');
    const r = results[1]!;
    assert.ok(r.status === 'rejected' && r.reason instanceof FailedPreconditionError);
    assert.equal((r.reason as Error).message, 'raft: member 7 was removed from the cluster');
    await c.sendRaftMessage(Buffer.from('after'));
  });

  test('a message not acknowledged in time fails with DEADLINE_EXCEEDED; the others are not held up', async () => {
    const c = client(withCert(manager), { raftSendTimeoutMs: 300 });
    const slow = c.sendRaftMessage(Buffer.from('hang'));
    await c.sendRaftMessage(Buffer.from('quick'));
    await assert.rejects(slow, (e: unknown) => e instanceof DeadlineExceededError && /300 ms/.test(e.message));
  });

  test('a worker certificate is refused on the stream as on ProcessRaftMessage', async () => {
    const from = seen.length;
    await assert.rejects(client(withCert(worker)).sendRaftMessage(Buffer.from('x')), (e: unknown) => e instanceof UnavailableError || e instanceof PermissionDeniedError);
    await assert.rejects(client(withCert(worker), { raftTransport: 'unary' }).sendRaftMessage(Buffer.from('x')), PermissionDeniedError);
    assert.equal(seen.length, from, 'nothing reached the handler');
  });

  test('raftTransport unary sends one ProcessRaftMessage per message', async () => {
    const from = seen.length;
    await client(withCert(manager), { raftTransport: 'unary' }).sendRaftMessage(Buffer.from('u'));
    assert.equal(seen[from]!.path, '/swarmhost.api.Raft/ProcessRaftMessage');
    assert.throws(() => new TransportClient(addr, { tls: withCert(manager), raftTransport: 'smoke' as 'unary' }), /raftTransport: must be "stream" or "unary"/);
  });
});

describe('raft stream mux: bounds, breakage and older peers', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'swarmhost-rs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('messages beyond maxInFlight or maxInFlightBytes are refused at once with RESOURCE_EXHAUSTED', async () => {
    const writes: RaftStreamRequest[] = [];
    const fake = { on: () => fake, write: (m: RaftStreamRequest) => void writes.push(m), cancel: () => undefined };
    const timers = new RealTimers();
    const muxOf = (maxInFlight: number, maxInFlightBytes: number): RaftStreamMux =>
      new RaftStreamMux({
        open: () => fake as unknown as grpc.ClientDuplexStream<RaftStreamRequest, RaftStreamResponse>,
        unary: () => Promise.resolve(),
        timers,
        timeoutMs: 60_000,
        maxInFlight,
        maxInFlightBytes,
        target: 'peer',
      });
    const mux = muxOf(2, 10);
    const a = mux.send(Buffer.from('12345'));
    const b = mux.send(Buffer.from('1234'));
    await assert.rejects(mux.send(Buffer.from('1')), ResourceExhaustedError);
    assert.equal(mux.inFlight, 2);
    mux.close();
    await assert.rejects(a, UnavailableError);
    await assert.rejects(b, UnavailableError);
    const mux2 = muxOf(100, 10);
    const c = mux2.send(Buffer.from('123456789'));
    await assert.rejects(mux2.send(Buffer.from('12')), /RESOURCE_EXHAUSTED|already await/);
    mux2.close();
    await assert.rejects(c, UnavailableError);
    timers.clearAll();
  });

  test('a stream that breaks fails its pending messages UNAVAILABLE, and the next message opens a new stream', async () => {
    const sock = join(dir, 'break.sock');
    const server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 100 });
    const hang: (() => void)[] = [];
    let handled = 0;
    server.addRaft({
      async processRaftMessage(message: Buffer) {
        handled++;
        if (message.toString() === 'hang') await new Promise<void>((r) => hang.push(r));
      },
      async resolveAddress() {
        return { addr: '' };
      },
    });
    await server.listenUnix(sock);
    const c = new TransportClient(`unix://${sock}`, { tls: { kind: 'none' } });
    try {
      await c.sendRaftMessage(Buffer.from('warm'));
      const pending = c.sendRaftMessage(Buffer.from('hang'));
      await until(() => hang.length === 1, 'the hanging message handled');
      const failed = assert.rejects(pending, UnavailableError);
      await server.close();
      await failed;
      const server2 = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 100 });
      server2.addRaft({
        async processRaftMessage() {
          handled++;
        },
        async resolveAddress() {
          return { addr: '' };
        },
      });
      await server2.listenUnix(sock);
      try {
        const before = handled;
        // The channel reconnects; the first send after the break may still meet the old connection's failure.
        for (let i = 0; i < 50 && handled === before; i++) {
          await c.sendRaftMessage(Buffer.from('again')).catch(() => new Promise((r) => setTimeout(r, 50)));
        }
        assert.equal(handled, before + 1, 'delivered on a new stream');
      } finally {
        await server2.close();
      }
    } finally {
      for (const r of hang) r();
      c.close();
    }
  });

  test('a peer without MessageStream (an older node) gets every message once as ProcessRaftMessage', async () => {
    const sock = join(dir, 'old.sock');
    const old = new grpc.Server();
    const got: string[] = [];
    old.addService(serviceDefinition('swarmhost.api.Raft'), {
      ProcessRaftMessage: (call: grpc.ServerUnaryCall<ProcessRaftMessageRequest, object>, cb: grpc.sendUnaryData<object>) => {
        got.push(call.request.message.toString());
        cb(null, {});
      },
    });
    await new Promise<void>((res, rej) => old.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    const c = new TransportClient(`unix://${sock}`, { tls: { kind: 'none' } });
    try {
      await Promise.all(['a', 'b'].map((t) => c.sendRaftMessage(Buffer.from(t))));
      await c.sendRaftMessage(Buffer.from('c'));
      assert.deepEqual(got, ['a', 'b', 'c']);
    } finally {
      c.close();
      old.forceShutdown();
    }
  });
});
