import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError, NodeRole } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import {
  KeyStore,
  DEFAULT_NODE_CERT_EXPIRY_MS,
  bootstrapClusterCA,
  createRootCA,
  RootCertificateAuthority,
  generateKeyAndCsr,
  roleForToken,
  writeFileAtomic,
} from '../../../src/host/ca/index.js';
import { fixedClock, tempDir } from './helpers.js';

const tmp = tempDir('ca-keystore');
after(() => tmp.cleanup());
const clock = fixedClock(Date.UTC(2026, 2, 1));
const rng = new SeededRng(21);
const boot = bootstrapClusterCA({ clock, rng }, { clusterId: 'clusterA', nodeId: 'nodeA', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

test('saved node material lands in certificates/ with the key at mode 0600 and reads back with its identity', async () => {
  const state = join(tmp.dir, 's1');
  const ks = new KeyStore(state);
  await ks.saveNode(boot.node);
  const dir = join(state, 'certificates');
  assert.deepEqual(readdirSync(dir).sort(), ['swarm-node.crt', 'swarm-node.key', 'swarm-root-ca.crt']);
  assert.equal(mode(join(dir, 'swarm-node.key')), 0o600);
  assert.equal(mode(join(dir, 'swarm-node.crt')), 0o644);
  assert.match(readFileSync(join(dir, 'swarm-node.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  const loaded = await new KeyStore(state).load();
  assert.ok(loaded);
  assert.equal(loaded.certPem, boot.node.certPem);
  assert.equal(loaded.keyPem, boot.node.keyPem);
  assert.equal(loaded.rootPem, boot.node.rootPem);
  assert.equal(loaded.identity.nodeId, 'nodeA');
  assert.equal(loaded.identity.role, NodeRole.MANAGER);
  assert.equal(loaded.identity.clusterId, 'clusterA');
});

test('a state dir without certificates loads as undefined (the node must join)', async () => {
  assert.equal(await new KeyStore(join(tmp.dir, 'empty')).load(), undefined);
});

test('the key file stays 0600 under a permissive umask and after a rewrite', async () => {
  const state = join(tmp.dir, 's2');
  const old = process.umask(0);
  try {
    await new KeyStore(state).saveNode(boot.node);
    await new KeyStore(state).saveNode(boot.node);
  } finally {
    process.umask(old);
  }
  assert.equal(mode(join(state, 'certificates', 'swarm-node.key')), 0o600);
});

test('atomic writes replace the whole file and leave no temp files behind', async () => {
  const p = join(tmp.dir, 'atomic.txt');
  await writeFileAtomic(p, 'first version', 0o600);
  await writeFileAtomic(p, 'second', 0o600);
  assert.equal(readFileSync(p, 'utf8'), 'second');
  assert.deepEqual(readdirSync(tmp.dir).filter((n) => n.includes('.tmp-')), []);
});

test('a key that does not match the certificate is reported, naming the file', async () => {
  const state = join(tmp.dir, 's3');
  const ks = new KeyStore(state);
  await ks.saveNode({ ...boot.node, keyPem: generateKeyAndCsr().keyPem });
  await assert.rejects(ks.load(), (e) => e instanceof FailedPreconditionError && /swarm-node\.key: does not match/.test(e.message));
});

test('a certificate from another root is reported, naming the file', async () => {
  const state = join(tmp.dir, 's4');
  const other = createRootCA({ clock, rng });
  const otherCa = new RootCertificateAuthority(other, { clock, rng });
  const { keyPem, csrPem } = generateKeyAndCsr();
  const certPem = otherCa.issueNodeCertificate(csrPem, { nodeId: 'x', role: NodeRole.WORKER, clusterId: 'c', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  await new KeyStore(state).saveNode({ certPem, keyPem, rootPem: boot.root.certPem });
  await assert.rejects(new KeyStore(state).load(), /swarm-node\.crt: not signed by the root CA/);
});

test('a half-written state dir (certificate without key) is reported', async () => {
  const state = join(tmp.dir, 's5');
  const ks = new KeyStore(state);
  await ks.saveNode(boot.node);
  unlinkSync(ks.path('swarm-node.key'));
  await assert.rejects(ks.load(), /swarm-node\.key: missing/);
});

test('the root CA key is stored 0600 on the bootstrapping manager, loads back, and is removed on demotion', async () => {
  const state = join(tmp.dir, 's6');
  const ks = new KeyStore(state);
  assert.equal(await ks.loadRootCA(), undefined);
  await ks.saveRootCA(boot.root);
  assert.equal(mode(ks.path('swarm-root-ca.key')), 0o600);
  const r = await ks.loadRootCA();
  assert.deepEqual(r, boot.root);
  await ks.removeRootCAKey();
  await ks.removeRootCAKey();
  assert.equal(await ks.loadRootCA(), undefined);
});

test('the bootstrap record holds the root, its hash and two working tokens', () => {
  assert.equal(boot.rootCA.caCert, boot.root.certPem);
  assert.equal(boot.rootCA.caKey, boot.root.keyPem);
  assert.match(boot.rootCA.caCertHash, /^sha256:[0-9a-f]{64}$/);
  assert.equal(roleForToken(boot.rootCA.joinTokens, boot.rootCA.joinTokens.manager), NodeRole.MANAGER);
  assert.equal(roleForToken(boot.rootCA.joinTokens, boot.rootCA.joinTokens.worker), NodeRole.WORKER);
});
