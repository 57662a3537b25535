import { InvalidArgumentError } from '../api/errors.js';
import type { ConfChange } from './types.js';

/**
 * Encoding of a {@link ConfChange} in the `data` of a ConfChange log entry: UTF-8 JSON
 * `{"type":"add"|"remove","id":"<hex>","context":"<base64>"}`. The core, the driver and the store all read
 * membership entries through these two functions, so the format lives in one place.
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const json = JSON.stringify({ type: cc.type, id: cc.id, context: Buffer.from(cc.context).toString('base64') });
  return new TextEncoder().encode(json);
}

/** Decodes {@link encodeConfChange}'s output; throws InvalidArgumentError naming the broken field. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new InvalidArgumentError('conf change: data must be JSON');
  }
  const o = obj as { type?: unknown; id?: unknown; context?: unknown };
  if (o.type !== 'add' && o.type !== 'remove') throw new InvalidArgumentError('conf change: type must be "add" or "remove"');
  if (typeof o.id !== 'string' || o.id === '') throw new InvalidArgumentError('conf change: id must be a non-empty string');
  if (typeof o.context !== 'string') throw new InvalidArgumentError('conf change: context must be a base64 string');
  return { type: o.type, id: o.id, context: new Uint8Array(Buffer.from(o.context, 'base64')) };
}
