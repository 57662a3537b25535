/** Shared pieces of the transport tests: a recording logger and a server wired with recording handlers. */
import type { TransportLogger } from '../../../src/host/transport/index.js';

/** A logger that keeps every entry, for asserting that refusals are logged with the peer's identity. */
export class RecordingLogger implements TransportLogger {
  readonly entries: { level: 'warn' | 'error'; obj: Record<string, unknown>; msg: string }[] = [];
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
}

/** Polls `cond` every 5 ms until it holds; fails after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
