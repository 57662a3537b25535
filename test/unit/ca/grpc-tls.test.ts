import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { NodeRole } from '../../../src/host/api/index.js';
import { cryptoRng, realClock } from '../../../src/host/env/index.js';
import {
  DEFAULT_NODE_CERT_EXPIRY_MS,
  RootCertificateAuthority,
  createRootCA,
  generateKeyAndCsr,
  parseNodeIdentity,
  tlsOptionsFor,
  type NodeTlsMaterial,
} from '../../../src/host/ca/index.js';

const env = { clock: realClock, rng: cryptoRng };
const ca = new RootCertificateAuthority(createRootCA(env), env);

function material(nodeId: string, role: NodeRole): NodeTlsMaterial {
  const { keyPem, csrPem } = generateKeyAndCsr();
  return { certPem: ca.issueNodeCertificate(csrPem, { nodeId, role, clusterId: 'grpcCluster', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS }), keyPem, rootPem: ca.certPem };
}

// A one-method service over raw bytes: enough to carry a call through grpc-js's TLS.
const whoAmI: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/swarmhost.test.Echo/WhoAmI',
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const Client = grpc.makeGenericClientConstructor({ WhoAmI: whoAmI }, 'Echo');

test('grpc-js accepts the TLS material: a mutual-TLS call reaches the server with the caller\'s identity', async () => {
  const server = new grpc.Server();
  server.addService({ WhoAmI: whoAmI }, {
    WhoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const peer = call.getAuthContext().sslPeerCertificate;
      if (!peer?.raw) return cb({ code: grpc.status.PERMISSION_DENIED, details: 'no client certificate' });
      const id = parseNodeIdentity(peer.raw);
      cb(null, Buffer.from(`${id.nodeId}/${id.ou}/${id.clusterId}`));
    },
  });
  const s = tlsOptionsFor(material('grpcmgr', NodeRole.MANAGER));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(s.ca, [{ private_key: s.key, cert_chain: s.cert }], true), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const c = tlsOptionsFor(material('grpcwrk', NodeRole.WORKER));
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(c.ca, c.key, c.cert), {
    'grpc.ssl_target_name_override': 'swarm-manager',
  });
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const deadline = new Date(Date.now() + 10_000);
      (client as unknown as { WhoAmI: (req: Buffer, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void }).WhoAmI(
        Buffer.alloc(0),
        { deadline },
        (e, r) => (e ? reject(e) : resolve(r!)),
      );
    });
    assert.equal(answer.toString(), 'grpcwrk/swarm-worker/grpcCluster');
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});
