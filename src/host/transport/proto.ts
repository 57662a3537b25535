/**
 * Loads src/host/api/proto/*.proto once with @grpc/proto-loader and exposes, per gRPC method path, its kind
 * and its (de)serializers. Every method in the .proto files must have an entry in METHOD_POLICIES: loading
 * fails otherwise, so a new RPC cannot ship without an authorization decision.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadSync, type PackageDefinition, type MethodDefinition } from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { METHOD_POLICIES, type MethodPolicy } from './auth.js';
import { PROTO_LOADER_OPTIONS } from './messages.js';

/** Directory of the .proto files. */
export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'api', 'proto');

/** The .proto files that make up the node-to-node and control APIs. */
export const PROTO_FILES = ['raft.proto', 'ca.proto', 'dispatcher.proto', 'control.proto', 'health.proto'] as const;

/** Fully qualified names of the services defined in {@link PROTO_FILES}. */
export const SERVICE_NAMES = [
  'swarmhost.api.Raft',
  'swarmhost.api.RaftMembership',
  'swarmhost.api.CA',
  'swarmhost.api.NodeCA',
  'swarmhost.api.Dispatcher',
  'swarmhost.api.Control',
  'grpc.health.v1.Health',
] as const;
/** One of {@link SERVICE_NAMES}. */
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** How a method streams. */
export type MethodKind = 'unary' | 'clientStream' | 'serverStream' | 'bidi';

/** One RPC: path, kind, codec and who may call it. */
export interface MethodInfo {
  path: string;
  service: ServiceName;
  /** The method's name as in the .proto (e.g. "ProcessRaftMessage"). */
  name: string;
  kind: MethodKind;
  policy: MethodPolicy;
  serialize(value: object): Buffer;
  deserialize(bytes: Buffer): unknown;
  serializeResponse(value: object): Buffer;
  deserializeResponse(bytes: Buffer): unknown;
}

let cached: { pkg: PackageDefinition; methods: Map<string, MethodInfo> } | null = null;

/** The loaded package definition (all files), loaded once per process. */
export function packageDefinition(): PackageDefinition {
  return load().pkg;
}

/** Every method of every service, keyed by path ("/swarmhost.api.Raft/ProcessRaftMessage"). */
export function methods(): ReadonlyMap<string, MethodInfo> {
  return load().methods;
}

/** The method at `path`; throws if the .proto files define no such method (a programming error). */
export function method(path: string): MethodInfo {
  const m = load().methods.get(path);
  if (m === undefined) throw new Error(`transport: no method ${path} in the .proto files`);
  return m;
}

/** The grpc-js service definition of one service (for Server.addService). */
export function serviceDefinition(name: ServiceName): ServiceDefinition {
  return load().pkg[name] as unknown as ServiceDefinition;
}

function load(): { pkg: PackageDefinition; methods: Map<string, MethodInfo> } {
  if (cached !== null) return cached;
  const pkg = loadSync(
    PROTO_FILES.map((f) => join(PROTO_DIR, f)),
    { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] },
  );
  const out = new Map<string, MethodInfo>();
  for (const service of SERVICE_NAMES) {
    const def = pkg[service] as unknown as Record<string, MethodDefinition<object, object>> | undefined;
    if (def === undefined) throw new Error(`transport: service ${service} missing from the .proto files`);
    for (const [name, m] of Object.entries(def)) {
      const policy = METHOD_POLICIES[m.path];
      if (policy === undefined) throw new Error(`transport: method ${m.path} has no authorization policy`);
      const kind: MethodKind = m.requestStream
        ? m.responseStream
          ? 'bidi'
          : 'clientStream'
        : m.responseStream
          ? 'serverStream'
          : 'unary';
      out.set(m.path, {
        path: m.path,
        service,
        name,
        kind,
        policy,
        serialize: m.requestSerialize,
        deserialize: m.requestDeserialize,
        serializeResponse: m.responseSerialize,
        deserializeResponse: m.responseDeserialize,
      });
    }
  }
  cached = { pkg, methods: out };
  return cached;
}
