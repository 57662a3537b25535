/**
 * How swarmctl reaches the control API: `ControlClient.call(method, request)`. The real one speaks gRPC
 * (@grpc/grpc-js, the transport's Control service) without TLS on the local unix socket; tests use fakes.
 */
import { statSync } from 'node:fs';
import { Code, SwarmError } from '../api/index.js';
import { SWARM_MAX_MESSAGE_BYTES, TransportClient, errorFromCallFailure } from '../transport/index.js';

/** A control API connection. */
export interface ControlClient {
  /** One control call; rejects with a SwarmError carrying the server's status and message. */
  call(method: string, request: unknown): Promise<unknown>;
  /** Releases the connection. */
  close(): void;
}

/** Default deadline of one control call, ms. */
export const DEFAULT_CONTROL_CALL_TIMEOUT_MS = 30_000;

/** ControlClient over gRPC on `unix://<socketPath>`. A missing or dead socket fails naming the path. */
export class GrpcControlClient implements ControlClient {
  private client: TransportClient | null = null;

  constructor(
    readonly socketPath: string,
    private readonly callTimeoutMs = DEFAULT_CONTROL_CALL_TIMEOUT_MS,
  ) {}

  async call(method: string, request: unknown): Promise<unknown> {
    let isSocket = false;
    try {
      isSocket = statSync(this.socketPath).isSocket();
    } catch {
      throw new SwarmError(Code.UNAVAILABLE, `control socket ${this.socketPath} does not exist (set -s/--socket or SWARM_SOCKET)`);
    }
    if (!isSocket) throw new SwarmError(Code.UNAVAILABLE, `${this.socketPath} is not a socket (set -s/--socket or SWARM_SOCKET)`);
    this.client ??= new TransportClient(`unix://${this.socketPath}`, {
      tls: { kind: 'none' },
      callTimeoutMs: this.callTimeoutMs,
      // Lists of large services exceed gRPC's 4 MiB default (10,000 tasks are about 11 MB of JSON).
      maxMessageBytes: SWARM_MAX_MESSAGE_BYTES,
    });
    try {
      const res = await this.client.control({ method, requestJson: JSON.stringify(request ?? {}) });
      return res.responseJson === '' ? {} : (JSON.parse(res.responseJson) as unknown);
    } catch (e) {
      const err = errorFromCallFailure(e);
      if (err.code === Code.UNAVAILABLE || err.code === Code.DEADLINE_EXCEEDED) {
        throw new SwarmError(err.code, `cannot reach the control API on ${this.socketPath}: ${err.message}`);
      }
      throw err;
    }
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }
}
