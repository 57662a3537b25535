import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { InvalidArgumentError, NodeRole } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import {
  CERT_BACKDATE_MS,
  DEFAULT_NODE_CERT_EXPIRY_MS,
  MIN_NODE_CERT_EXPIRY_MS,
  ROOT_CA_VALIDITY_MS,
  RootCertificateAuthority,
  buildCsr,
  createRootCA,
  formatGoDuration,
  generateKeyAndCsr,
  parseCertificate,
  parseNodeIdentity,
  validateNodeCertExpiryMs,
  verifyCsr,
} from '../../../src/host/ca/index.js';
import { children, decode, encode, fromPem, seq, toPem } from '../../../src/host/ca/asn1-der.js';
import { fixedClock, openssl, tempDir } from './helpers.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const tmp = tempDir('ca-certs');
after(() => tmp.cleanup());

const clock = fixedClock(T0);
const rng = new SeededRng(1);
const root = createRootCA({ clock, rng });
const ca = new RootCertificateAuthority(root, { clock, rng });
const attime = String(Math.floor(T0 / 1000) + 60);

function issue(role: NodeRole, nodeId = 'node1abc', expiryMs = DEFAULT_NODE_CERT_EXPIRY_MS): { cert: string; key: string; csr: string } {
  const { keyPem, csrPem } = generateKeyAndCsr();
  return { cert: ca.issueNodeCertificate(csrPem, { nodeId, role, clusterId: 'cluster9', expiryMs }), key: keyPem, csr: csrPem };
}

test('the root CA is a self-signed P-256 CA named swarm-ca, valid 20 years, that openssl accepts', () => {
  const r = openssl(tmp.dir, ['x509', '-in', 'root.crt', '-noout', '-text'], { 'root.crt': root.certPem });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(r.out, /Issuer: CN = swarm-ca/);
  assert.match(r.out, /Subject: CN = swarm-ca/);
  assert.match(r.out, /NIST CURVE: P-256/);
  assert.match(r.out, /Basic Constraints: critical\s+CA:TRUE/);
  assert.match(r.out, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(r.out, /Subject Key Identifier/);
  const v = openssl(tmp.dir, ['verify', '-attime', attime, '-CAfile', 'root.crt', 'root.crt']);
  assert.equal(v.status, 0, v.out);
  const x = new X509Certificate(root.certPem);
  assert.equal(x.ca, true);
  assert.equal(x.checkIssued(x), true);
  assert.equal(x.verify(x.publicKey), true);
  const p = parseCertificate(root.certPem);
  assert.equal(p.notBeforeMs, T0 - CERT_BACKDATE_MS);
  assert.equal(p.notAfterMs, T0 + ROOT_CA_VALIDITY_MS);
  assert.equal(ROOT_CA_VALIDITY_MS, 630_720_000 * 1000);
});

test('a manager certificate carries CN=node id, OU=swarm-manager, O=cluster id and the three DNS SANs', () => {
  const { cert } = issue(NodeRole.MANAGER, 'mgr0001');
  const r = openssl(tmp.dir, ['x509', '-in', 'mgr.crt', '-noout', '-text'], { 'mgr.crt': cert, 'root.crt': root.certPem });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /Subject: O = cluster9, OU = swarm-manager, CN = mgr0001/);
  assert.match(r.out, /Issuer: CN = swarm-ca/);
  assert.match(r.out, /DNS:swarm-manager, DNS:mgr0001, DNS:swarm-ca/);
  assert.match(r.out, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
  assert.match(r.out, /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(r.out, /Authority Key Identifier/);
  assert.match(r.out, /CA:FALSE/);
  const v = openssl(tmp.dir, ['verify', '-attime', attime, '-CAfile', 'root.crt', 'mgr.crt']);
  assert.equal(v.status, 0, v.out);
  assert.match(v.out, /mgr\.crt: OK/);
  const x = new X509Certificate(cert);
  const rx = new X509Certificate(root.certPem);
  assert.equal(x.checkIssued(rx), true);
  assert.equal(x.verify(rx.publicKey), true);
  assert.equal(x.ca, false);
  assert.equal(x.subjectAltName, 'DNS:swarm-manager, DNS:mgr0001, DNS:swarm-ca');
  assert.equal(x.checkHost('swarm-manager'), 'swarm-manager');
  // The authority key identifier names the root's subject key identifier, so chain building finds the root.
  assert.deepEqual(parseCertificate(cert).authorityKeyId, parseCertificate(root.certPem).subjectKeyId);
});

test('a worker certificate has OU=swarm-worker and no swarm-ca or swarm-manager SAN', () => {
  const { cert } = issue(NodeRole.WORKER, 'wrk0001');
  const r = openssl(tmp.dir, ['x509', '-in', 'wrk.crt', '-noout', '-subject', '-ext', 'subjectAltName'], { 'wrk.crt': cert });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /subject=O = cluster9, OU = swarm-worker, CN = wrk0001/);
  assert.match(r.out, /DNS:swarm-worker, DNS:wrk0001\s*$/m);
  assert.doesNotMatch(r.out, /swarm-ca|swarm-manager/);
  assert.equal(openssl(tmp.dir, ['verify', '-attime', attime, '-CAfile', 'root.crt', 'wrk.crt'], { 'root.crt': root.certPem }).status, 0);
});

test('node certificate validity is backdated an hour and ends expiry after now', () => {
  const expiryMs = 7 * 24 * 3_600_000;
  const id = parseNodeIdentity(issue(NodeRole.WORKER, 'wrk0002', expiryMs).cert);
  assert.equal(id.notBeforeMs, T0 - 3_600_000);
  assert.equal(id.notAfterMs, T0 + expiryMs);
});

test('a node certificate never outlives its root', () => {
  const shortClock = fixedClock(T0);
  const shortRoot = createRootCA({ clock: shortClock, rng }, { validityMs: 10 * 24 * 3_600_000 });
  const shortCa = new RootCertificateAuthority(shortRoot, { clock: shortClock, rng });
  const { csrPem } = generateKeyAndCsr();
  const cert = shortCa.issueNodeCertificate(csrPem, { nodeId: 'n1', role: NodeRole.WORKER, clusterId: 'c1', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  assert.equal(parseCertificate(cert).notAfterMs, parseCertificate(shortRoot.certPem).notAfterMs);
});

test('serials are positive, minimal, 16 bytes and differ between certificates', () => {
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const s = parseCertificate(issue(NodeRole.WORKER, `n${i}`).cert).serialHex;
    assert.equal(s.length, 32);
    assert.ok(parseInt(s.slice(0, 2), 16) >= 0x40 && parseInt(s.slice(0, 2), 16) < 0x80, s);
    serials.add(s);
  }
  assert.equal(serials.size, 20);
});

test('the identity of a node certificate reads back from PEM, DER and X509Certificate', () => {
  const { cert } = issue(NodeRole.MANAGER, 'idnode1');
  const x = new X509Certificate(cert);
  for (const input of [cert, x.raw, x]) {
    const id = parseNodeIdentity(input);
    assert.equal(id.nodeId, 'idnode1');
    assert.equal(id.role, NodeRole.MANAGER);
    assert.equal(id.ou, 'swarm-manager');
    assert.equal(id.clusterId, 'cluster9');
    assert.equal(id.serialHex, x.serialNumber.toLowerCase());
  }
});

test('the identity parser reads certificates made by openssl, extra extensions and IP SANs included', () => {
  const g = openssl(tmp.dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', 'o.key', '-out', 'o.crt', '-subj', '/O=clusterZ/OU=swarm-worker/CN=osslnode',
    '-addext', 'nsComment=hello', '-addext', 'subjectAltName=DNS:swarm-worker,IP:127.0.0.1',
  ]);
  assert.equal(g.status, 0, g.out);
  const pem = openssl(tmp.dir, ['x509', '-in', 'o.crt']).out;
  const id = parseNodeIdentity(pem);
  assert.deepEqual([id.nodeId, id.role, id.clusterId], ['osslnode', NodeRole.WORKER, 'clusterZ']);
  assert.deepEqual(parseCertificate(pem).dnsNames, ['swarm-worker']);
});

test('a certificate without a swarm role is not a node identity', () => {
  assert.throws(() => parseNodeIdentity(root.certPem), (e) => e instanceof InvalidArgumentError && /no OU/.test(e.message));
});

test('expiry below 30 minutes is refused with SwarmKit\'s wording', () => {
  assert.doesNotThrow(() => validateNodeCertExpiryMs(MIN_NODE_CERT_EXPIRY_MS));
  assert.throws(
    () => validateNodeCertExpiryMs(MIN_NODE_CERT_EXPIRY_MS - 1000),
    (e) => e instanceof InvalidArgumentError && e.message.startsWith('minimum certificate expiry time is: 30m0s'),
  );
  const { csrPem } = generateKeyAndCsr();
  assert.throws(
    () => ca.issueNodeCertificate(csrPem, { nodeId: 'n', role: NodeRole.WORKER, clusterId: 'c', expiryMs: 60_000 }),
    /minimum certificate expiry time is: 30m0s/,
  );
  assert.equal(formatGoDuration(DEFAULT_NODE_CERT_EXPIRY_MS), '2160h0m0s');
  assert.equal(formatGoDuration(90_500), '1m30.5s');
});

test('bad node ids, cluster ids and roles are refused naming the field', () => {
  const { csrPem } = generateKeyAndCsr();
  const base = { nodeId: 'n', role: NodeRole.WORKER, clusterId: 'c', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS };
  assert.throws(() => ca.issueNodeCertificate(csrPem, { ...base, nodeId: '' }), /nodeId: must not be empty/);
  assert.throws(() => ca.issueNodeCertificate(csrPem, { ...base, clusterId: 'a,b' }), /clusterId:/);
  assert.throws(() => ca.issueNodeCertificate(csrPem, { ...base, nodeId: 'x'.repeat(65) }), /nodeId: 65 characters/);
  assert.throws(() => ca.issueNodeCertificate(csrPem, { ...base, role: 7 as NodeRole }), /role:/);
});

test('our CSRs pass openssl req -verify, and openssl-made CSRs are accepted by the CA', () => {
  const { csrPem } = generateKeyAndCsr({ commonName: 'joiner' });
  const r = openssl(tmp.dir, ['req', '-in', 'our.csr', '-verify', '-noout', '-subject'], { 'our.csr': csrPem });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /verify OK/);
  assert.match(r.out, /CN = joiner/);
  const g = openssl(tmp.dir, [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ossl.key', '-out', 'ossl.csr', '-subj', '/CN=from-openssl',
  ]);
  assert.equal(g.status, 0, g.out);
  const csr = openssl(tmp.dir, ['req', '-in', 'ossl.csr']).out;
  const cert = ca.issueNodeCertificate(csr, { nodeId: 'ossl1', role: NodeRole.WORKER, clusterId: 'cluster9', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  assert.equal(parseNodeIdentity(cert).nodeId, 'ossl1');
  const v = openssl(tmp.dir, ['verify', '-attime', attime, '-CAfile', 'root.crt', 'ossl.crt'], { 'root.crt': root.certPem, 'ossl.crt': cert });
  assert.equal(v.status, 0, v.out);
});

test('the CA takes the public key from the CSR, not the subject the CSR asks for', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const csr = buildCsr(privateKey, [{ oid: '2.5.4.3', value: 'i-want-to-be-root' }, { oid: '2.5.4.11', value: 'swarm-manager' }]);
  const cert = ca.issueNodeCertificate(csr, { nodeId: 'honest1', role: NodeRole.WORKER, clusterId: 'cluster9', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  const x = new X509Certificate(cert);
  assert.equal(x.subject, 'O=cluster9\nOU=swarm-worker\nCN=honest1');
  assert.ok(x.publicKey.equals(publicKey));
});

function tamper(pem: string, mutate: (der: Buffer) => void): string {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(b64, 'base64');
  mutate(der);
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

test('a tampered CSR is refused with InvalidArgumentError', () => {
  const { csrPem } = generateKeyAndCsr({ commonName: 'aaaaaaaa' });
  assert.doesNotThrow(() => verifyCsr(csrPem));
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const cnAt = der.indexOf(Buffer.from('aaaaaaaa'));
  assert.ok(cnAt > 0);
  const cases: Record<string, string> = {
    'subject changed': tamper(csrPem, (d) => (d[cnAt] = 0x62)),
    'signature changed': tamper(csrPem, (d) => (d[d.length - 3] ^= 0x01)),
    'public key changed': tamper(csrPem, (d) => {
      const spkiAt = d.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04]));
      d[spkiAt + 40] ^= 0x01;
    }),
    'truncated': toPem('CERTIFICATE REQUEST', der.subarray(0, der.length - 10)),
    'not a CSR': '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
    'empty': '',
    'a certificate instead': root.certPem,
  };
  for (const [name, bad] of Object.entries(cases)) {
    assert.throws(
      () => ca.issueNodeCertificate(bad, { nodeId: 'n1', role: NodeRole.WORKER, clusterId: 'c', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS }),
      (e) => e instanceof InvalidArgumentError && /^csr/.test(e.message),
      name,
    );
  }
});

test('a CSR signed by a key other than the one it carries is refused', () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const b = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const [infoA] = children(decode(fromPem(buildCsr(a.privateKey, [{ oid: '2.5.4.3', value: 'x' }]), 'CERTIFICATE REQUEST', 't')), 't', 3);
  const [, algB, sigB] = children(decode(fromPem(buildCsr(b.privateKey, [{ oid: '2.5.4.3', value: 'x' }]), 'CERTIFICATE REQUEST', 't')), 't', 3);
  const spliced = toPem('CERTIFICATE REQUEST', encode(seq([infoA!, algB!, sigB!])));
  assert.throws(() => verifyCsr(spliced), /csr: signature does not verify/);
});

test('CSRs with keys the CA does not accept are refused naming the rule', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  assert.throws(() => verifyCsr(buildCsr(p384.privateKey, [{ oid: '2.5.4.3', value: 'x' }])), /csr public key: EC keys must use curve P-256/);
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
  assert.throws(() => verifyCsr(buildCsr(rsa1024.privateKey, [{ oid: '2.5.4.3', value: 'x' }])), /at least 2048 bits/);
});

test('an RSA root issues certificates that openssl verifies (the benchmark baseline)', () => {
  const rsaRoot = createRootCA({ clock, rng }, { algorithm: 'rsa2048' });
  const rsaCa = new RootCertificateAuthority(rsaRoot, { clock, rng });
  const { csrPem } = generateKeyAndCsr({ algorithm: 'rsa2048' });
  const cert = rsaCa.issueNodeCertificate(csrPem, { nodeId: 'rsa1', role: NodeRole.MANAGER, clusterId: 'c', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  const v = openssl(tmp.dir, ['verify', '-attime', attime, '-CAfile', 'rsaroot.crt', 'rsa.crt'], { 'rsaroot.crt': rsaRoot.certPem, 'rsa.crt': cert });
  assert.equal(v.status, 0, v.out);
  assert.match(openssl(tmp.dir, ['x509', '-in', 'rsa.crt', '-noout', '-text']).out, /sha256WithRSAEncryption/);
  assert.equal(rsaCa.signed(cert), true);
  assert.equal(ca.signed(cert), false);
});

test('a signer refuses a key that does not match its root certificate', () => {
  const other = createRootCA({ clock, rng });
  assert.throws(() => new RootCertificateAuthority({ certPem: root.certPem, keyPem: other.keyPem }, { clock, rng }), /root CA key: does not match/);
});

test('garbage where a certificate should be is an InvalidArgumentError naming the input', () => {
  const good = Buffer.from(new X509Certificate(root.certPem).raw);
  const cases: Record<string, string | Buffer> = {
    'no PEM block': 'hello',
    'empty DER in PEM': '-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n',
    'truncated DER': good.subarray(0, good.length - 20),
    'trailing bytes': Buffer.concat([good, Buffer.from([0])]),
    'a SEQUENCE of nothing': Buffer.from([0x30, 0x00]),
  };
  for (const [name, input] of Object.entries(cases)) {
    assert.throws(() => parseCertificate(input, 'peer cert'), (e) => e instanceof InvalidArgumentError && e.message.startsWith('peer cert'), name);
    assert.throws(() => parseNodeIdentity(input), (e) => e instanceof InvalidArgumentError, name);
  }
});
