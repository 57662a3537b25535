import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PermissionDeniedError } from '../../../src/host/api/errors.js';
import { authorize, type AuthInput, type CertSubject } from '../../../src/host/transport/index.js';

const C = 'clusterA';
const ctx = { clusterId: C, isRemoved: (id: string) => id === 'removed1' };
const mgr: CertSubject = { CN: 'm1', OU: 'swarm-manager', O: C };
const wrk: CertSubject = { CN: 'w1', OU: 'swarm-worker', O: C };
const RAFT = '/swarmhost.api.Raft/ProcessRaftMessage';
const DISP = '/swarmhost.api.Dispatcher/Heartbeat';
const CTRL = '/swarmhost.api.Control/Call';
const ROOT = '/swarmhost.api.CA/GetRootCACertificate';
const ISSUE = '/swarmhost.api.NodeCA/IssueNodeCertificate';

function input(path: string, subject: CertSubject | null, forwarded: AuthInput['forwarded'] = null): AuthInput {
  return { path, subject, peerAddr: '127.0.0.1:5000', forwarded };
}

describe('authorize (pure)', () => {
  const allowed: [string, string, CertSubject | null][] = [
    ['manager on raft', RAFT, mgr],
    ['manager on dispatcher', DISP, mgr],
    ['worker on dispatcher', DISP, wrk],
    ['manager on control', CTRL, mgr],
    ['nobody on root fetch', ROOT, null],
    ['nobody on issuance', ISSUE, null],
    ['worker on issuance', ISSUE, wrk],
    ['a certificate with several OUs, one allowed', RAFT, { CN: 'm2', OU: ['other', 'swarm-manager'], O: C }],
  ];
  for (const [name, path, subject] of allowed) {
    test(`allows ${name}`, () => {
      assert.doesNotThrow(() => authorize(input(path, subject), ctx));
    });
  }

  const refused: [string, string, CertSubject | null, RegExp][] = [
    ['no certificate on raft', RAFT, null, /no verified client certificate/],
    ['no certificate on dispatcher', DISP, null, /no verified client certificate/],
    ['worker on raft', RAFT, wrk, /organizational unit\(s\) swarm-manager$/],
    ['worker on control', CTRL, wrk, /organizational unit/],
    ['wrong organization', RAFT, { CN: 'm1', OU: 'swarm-manager', O: 'clusterB' }, /not part of organization: clusterA/],
    ['two organizations', RAFT, { CN: 'm1', OU: 'swarm-manager', O: [C, 'clusterB'] }, /not part of organization/],
    ['no CN', RAFT, { OU: 'swarm-manager', O: C }, /no common name/],
    ['removed node', DISP, { CN: 'removed1', OU: 'swarm-worker', O: C }, /^Permission denied: node removed1 was removed from swarm$/],
    ['unknown method', '/swarmhost.api.Raft/Nope', mgr, /method \/swarmhost.api.Raft\/Nope is not allowed/],
  ];
  for (const [name, path, subject, msg] of refused) {
    test(`refuses ${name}`, () => {
      assert.throws(() => authorize(input(path, subject), ctx), (e: unknown) => e instanceof PermissionDeniedError && msg.test(e.message));
    });
  }

  test('identifies the caller from CN, OU and O', () => {
    assert.deepEqual(authorize(input(DISP, wrk), ctx), { nodeId: 'w1', role: 'swarm-worker', clusterId: C, addr: '127.0.0.1:5000' });
  });

  test('gives no identity on an open method to a certificate of another cluster', () => {
    assert.equal(authorize(input(ISSUE, { CN: 'x', OU: 'swarm-worker', O: 'other' }), ctx), null);
  });

  const fw = { cn: 'w9', ou: 'swarm-worker', org: C, addr: '10.1.1.1:9' };
  test('trusts forwarded identity from a manager and checks it', () => {
    const id = authorize(input(DISP, mgr, fw), ctx);
    assert.equal(id?.nodeId, 'w9');
    assert.equal(id?.forwardedBy?.nodeId, 'm1');
    assert.throws(() => authorize(input(RAFT, mgr, fw), ctx), /organizational unit/);
  });

  test('refuses forwarded identity from a worker', () => {
    assert.throws(() => authorize(input(DISP, wrk, fw), ctx), /forwarded request from a peer that is not a manager/);
  });

  test('refuses forwarded identity from a manager of another cluster', () => {
    assert.throws(() => authorize(input(DISP, { ...mgr, O: 'other' }, fw), ctx), /forwarded request/);
  });

  test('refuses a forwarded removed node', () => {
    assert.throws(() => authorize(input(DISP, mgr, { ...fw, cn: 'removed1' }), ctx), /node removed1 was removed/);
  });
});
