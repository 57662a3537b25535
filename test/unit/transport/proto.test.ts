/**
 * Guards against drift between the .proto files and the hand-written TypeScript shapes in messages.ts:
 * every message in the .proto files has a fully populated sample typed with its interface (tsc checks the
 * sample has exactly the interface's fields); the test checks the .proto declares exactly those fields and
 * that every sample survives a round trip through the real proto-loader codec unchanged.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  METHOD_POLICIES,
  methods,
  packageDefinition,
  type AssignmentAction,
  type AssignmentsType,
  type ServingStatus,
} from '../../../src/host/transport/index.js';
import type * as M from '../../../src/host/transport/messages.js';

const b = (s: string): Buffer => Buffer.from(s);

/** One sample per message, every field set to a non-default value. */
const SAMPLES: { [name: string]: object } = {
  'swarmhost.api.ProcessRaftMessageRequest': { message: b('raft') } satisfies Required<M.ProcessRaftMessageRequest>,
  'swarmhost.api.ProcessRaftMessageResponse': {} satisfies Required<M.ProcessRaftMessageResponse>,
  'swarmhost.api.StreamRaftMessageRequest': { chunk: b('c'), totalBytes: 2 ** 40 + 3 } satisfies Required<M.StreamRaftMessageRequest>,
  'swarmhost.api.StreamRaftMessageResponse': {} satisfies Required<M.StreamRaftMessageResponse>,
  'swarmhost.api.RaftStreamItem': { seq: 0xffff_fffe, message: b('m') } satisfies Required<M.RaftStreamItem>,
  'swarmhost.api.RaftStreamRequest': { items: [{ seq: 1, message: b('a') }, { seq: 2, message: b('b') }] } satisfies Required<M.RaftStreamRequest>,
  'swarmhost.api.RaftStreamAck': { seq: 7, code: 9, message: 'removed' } satisfies Required<M.RaftStreamAck>,
  'swarmhost.api.RaftStreamResponse': { acks: [{ seq: 1, code: 0, message: '' }, { seq: 2, code: 14, message: 'x' }] } satisfies Required<M.RaftStreamResponse>,
  'swarmhost.api.ResolveAddressRequest': { raftId: '18446744073709551615' } satisfies Required<M.ResolveAddressRequest>,
  'swarmhost.api.ResolveAddressResponse': { addr: '10.0.0.1:4242' } satisfies Required<M.ResolveAddressResponse>,
  'swarmhost.api.RaftMember': { raftId: '5', nodeId: 'n5', addr: 'a:1' } satisfies Required<M.RaftMember>,
  'swarmhost.api.JoinRequest': { addr: '0.0.0.0:4242' } satisfies Required<M.JoinRequest>,
  'swarmhost.api.JoinResponse': {
    raftId: '9',
    members: [{ raftId: '1', nodeId: 'n1', addr: 'a:1' }, { raftId: '9', nodeId: 'n9', addr: 'a:9' }],
    removedMembers: ['3', '4'],
  } satisfies Required<M.JoinResponse>,
  'swarmhost.api.LeaveRequest': { raftId: '7' } satisfies Required<M.LeaveRequest>,
  'swarmhost.api.LeaveResponse': {} satisfies Required<M.LeaveResponse>,
  'swarmhost.api.GetRootCACertificateRequest': {} satisfies Required<M.GetRootCACertificateRequest>,
  'swarmhost.api.GetRootCACertificateResponse': { certificate: b('PEM') } satisfies Required<M.GetRootCACertificateResponse>,
  'swarmhost.api.IssueNodeCertificateRequest': { csr: b('CSR'), token: 'SWMTKN-1-a-b', availability: 'drain' } satisfies Required<M.IssueNodeCertificateRequest>,
  'swarmhost.api.IssueNodeCertificateResponse': { nodeId: 'n', nodeMembership: 'accepted' } satisfies Required<M.IssueNodeCertificateResponse>,
  'swarmhost.api.NodeCertificateStatusRequest': { nodeId: 'n' } satisfies Required<M.NodeCertificateStatusRequest>,
  'swarmhost.api.IssuanceStatus': { state: 'failed', err: 'boom' } satisfies Required<M.IssuanceStatus>,
  'swarmhost.api.NodeCertificateStatusResponse': { status: { state: 'issued', err: 'x' }, certificate: b('C') } satisfies Required<M.NodeCertificateStatusResponse>,
  'swarmhost.api.GetUnlockKeyRequest': {} satisfies Required<M.GetUnlockKeyRequest>,
  'swarmhost.api.GetUnlockKeyResponse': { unlockKey: b('k'), version: 12 } satisfies Required<M.GetUnlockKeyResponse>,
  'swarmhost.api.SessionRequest': { descriptionJson: '{"h":1}', sessionId: 's' } satisfies Required<M.SessionRequest>,
  'swarmhost.api.WeightedPeer': { nodeId: 'm', addr: 'a:1', weight: 10 } satisfies Required<M.WeightedPeer>,
  'swarmhost.api.SessionMessage': {
    sessionId: 's',
    nodeJson: '{}',
    managers: [{ nodeId: 'm', addr: 'a:1', weight: 10 }],
    networkBootstrapKeysJson: '[1]',
    rootCa: b('R'),
  } satisfies Required<M.SessionMessage>,
  'swarmhost.api.HeartbeatRequest': { sessionId: 's' } satisfies Required<M.HeartbeatRequest>,
  'swarmhost.api.HeartbeatResponse': { periodMs: 5000 } satisfies Required<M.HeartbeatResponse>,
  'swarmhost.api.TaskStatusUpdate': { taskId: 't', statusJson: '{"state":"running"}' } satisfies Required<M.TaskStatusUpdate>,
  'swarmhost.api.UpdateTaskStatusRequest': { sessionId: 's', updates: [{ taskId: 't', statusJson: '{}' }] } satisfies Required<M.UpdateTaskStatusRequest>,
  'swarmhost.api.UpdateTaskStatusResponse': {} satisfies Required<M.UpdateTaskStatusResponse>,
  'swarmhost.api.AssignmentsRequest': { sessionId: 's' } satisfies Required<M.AssignmentsRequest>,
  'swarmhost.api.AssignmentChange': { assignmentJson: '{"task":{}}', action: 'REMOVE' } satisfies Required<M.AssignmentChange>,
  'swarmhost.api.AssignmentsMessage': {
    type: 'INCREMENTAL',
    appliesTo: '1',
    resultsIn: '2',
    changes: [{ assignmentJson: '{}', action: 'REMOVE' }],
  } satisfies Required<M.AssignmentsMessage>,
  'swarmhost.api.ControlRequest': { method: 'ListNodes', requestJson: '{}' } satisfies Required<M.ControlRequest>,
  'swarmhost.api.ControlResponse': { responseJson: '{"nodes":[]}' } satisfies Required<M.ControlResponse>,
  'swarmhost.api.ControlForwardedIdentity': { cn: 'w1', ou: 'swarm-worker', org: 'c1', addr: '10.0.0.1:5' } satisfies Required<M.ControlForwardedIdentity>,
  'swarmhost.api.ControlStreamCall': {
    id: 4_000_000_000,
    method: 'CreateConfig',
    requestJson: '{"spec":{}}',
    timeoutMs: 5000,
    cancel: true,
    forwarded: { cn: 'w1', ou: 'swarm-worker', org: 'c1', addr: '10.0.0.1:5' },
  } satisfies Required<M.ControlStreamCall>,
  'swarmhost.api.ControlStreamResult': { id: 7, responseJson: '{}', code: 5, message: 'config x not found' } satisfies Required<M.ControlStreamResult>,
  'swarmhost.api.ControlStreamRequest': {
    calls: [{ id: 1, method: 'NodeInfo', requestJson: '', timeoutMs: 0, cancel: false, forwarded: null }],
  } satisfies Required<M.ControlStreamRequest>,
  'swarmhost.api.ControlStreamResponse': {
    results: [{ id: 1, responseJson: '{"a":1}', code: 0, message: '' }],
  } satisfies Required<M.ControlStreamResponse>,
  'grpc.health.v1.HealthCheckRequest': { service: 'Raft' } satisfies Required<M.HealthCheckRequest>,
  'grpc.health.v1.HealthCheckResponse': { status: 'NOT_SERVING' } satisfies Required<M.HealthCheckResponse>,
};

/** Enum value names as the TS unions spell them; tsc requires exactly the union's members as keys. */
const ENUMS: { [name: string]: object } = {
  'swarmhost.api.AssignmentChange.Action': { UPDATE: true, REMOVE: true } satisfies Record<AssignmentAction, true>,
  'swarmhost.api.AssignmentsMessage.Type': { COMPLETE: true, INCREMENTAL: true } satisfies Record<AssignmentsType, true>,
  'grpc.health.v1.HealthCheckResponse.ServingStatus': {
    UNKNOWN: true,
    SERVING: true,
    NOT_SERVING: true,
    SERVICE_UNKNOWN: true,
  } satisfies Record<ServingStatus, true>,
};

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

interface Descriptor {
  format: string;
  type: { field?: { name: string }[]; enumType?: { name: string; value?: { name: string }[] }[] };
}

describe('the .proto files and the TypeScript message types', () => {
  const pkg = packageDefinition() as unknown as Record<string, Descriptor>;
  const messages = Object.entries(pkg).filter(([, d]) => d.format === 'Protocol Buffer 3 DescriptorProto');
  // Our enums are all nested in messages: collect them from their parents' descriptors.
  const enums = messages.flatMap(([n, d]) => (d.type.enumType ?? []).map((e) => [`${n}.${e.name}`, e] as const));

  test('every .proto message has a TypeScript sample and vice versa', () => {
    assert.deepEqual(messages.map(([n]) => n).sort(), Object.keys(SAMPLES).sort());
  });

  test('every message declares exactly the fields of its TypeScript interface', () => {
    for (const [name, d] of messages) {
      const protoFields = (d.type.field ?? []).map((f) => camel(f.name)).sort();
      assert.deepEqual(protoFields, Object.keys(SAMPLES[name]!).sort(), name);
    }
  });

  test('every enum has exactly the values of its TypeScript union', () => {
    assert.deepEqual(enums.map(([n]) => n).sort(), Object.keys(ENUMS).sort());
    for (const [name, d] of enums) {
      assert.deepEqual((d.value ?? []).map((v) => v.name).sort(), Object.keys(ENUMS[name]!).sort(), name);
    }
  });

  test('every request and response round-trips through the codec unchanged', () => {
    const seen = new Set<string>();
    for (const m of methods().values()) {
      const def = (pkg[m.service] as unknown as Record<string, { requestType: { type: { name: string } }; responseType: { type: { name: string } } }>)[m.name]!;
      const pkgName = m.service.slice(0, m.service.lastIndexOf('.'));
      const reqName = `${pkgName}.${def.requestType.type.name}`;
      const resName = `${pkgName}.${def.responseType.type.name}`;
      const req = SAMPLES[reqName]!;
      const res = SAMPLES[resName]!;
      assert.deepEqual(m.deserialize(m.serialize(req)), req, `${m.path} request`);
      assert.deepEqual(m.deserializeResponse(m.serializeResponse(res)), res, `${m.path} response`);
      seen.add(reqName).add(resName);
    }
    // Nested messages are covered through their parents; check every top-level one was exercised.
    for (const name of Object.keys(SAMPLES)) {
      const nested = ['RaftMember', 'IssuanceStatus', 'WeightedPeer', 'TaskStatusUpdate', 'AssignmentChange', 'ControlForwardedIdentity', 'ControlStreamCall', 'ControlStreamResult', 'RaftStreamItem', 'RaftStreamAck'];
      if (!nested.some((n) => name.endsWith(`.${n}`))) assert.ok(seen.has(name), `${name} used by some method`);
    }
  });

  test('every method has an authorization policy and every policy names a real method', () => {
    assert.deepEqual([...methods().keys()].sort(), Object.keys(METHOD_POLICIES).sort());
  });
});
