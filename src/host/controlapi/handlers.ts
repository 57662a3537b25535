/**
 * Binds a {@link ControlApi} to the transport's generic Control/Call RPC: the request JSON is parsed, the
 * method dispatched, the answer serialized. Errors pass through as SwarmErrors, so the transport sends their
 * gRPC status and message unchanged.
 */
import { InvalidArgumentError } from '../api/index.js';
import type { ControlHandlers } from '../transport/index.js';

/** Anything with the control API's `call` (the ControlApi, or a forwarder in front of it). */
export interface ControlCaller {
  call(method: string, request: unknown): Promise<unknown>;
}

/** Largest request JSON accepted, bytes (well under the 4 MiB gRPC message limit). */
export const MAX_CONTROL_REQUEST_BYTES = 2 * 1024 * 1024;

/** The transport handlers for `api` (mount with `server.addControl(controlHandlers(api))`). */
export function controlHandlers(api: ControlCaller): ControlHandlers {
  return {
    async call(req) {
      if (Buffer.byteLength(req.requestJson, 'utf8') > MAX_CONTROL_REQUEST_BYTES) {
        throw new InvalidArgumentError(`request: larger than ${MAX_CONTROL_REQUEST_BYTES} bytes`);
      }
      let parsed: unknown = {};
      if (req.requestJson !== '') {
        try {
          parsed = JSON.parse(req.requestJson);
        } catch (e) {
          throw new InvalidArgumentError(`request: not valid JSON (${(e as Error).message})`);
        }
      }
      const res = await api.call(req.method, parsed);
      return { responseJson: JSON.stringify(res ?? {}) };
    },
  };
}
