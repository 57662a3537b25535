import { pino } from 'pino';

/** Structured logger (pino's call shape: fields first, then the message). */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** JSON lines on stderr, one per event, with the given bindings (node id, ...) on every line. */
export function createLogger(opts: { level?: string; bindings?: Record<string, unknown> } = {}): Logger {
  return pino({ level: opts.level ?? 'info', base: { pid: process.pid, ...opts.bindings } }, pino.destination(2));
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Adapts a Logger to the (message, fields) call shape some subsystems take. */
export function msgFirst(log: Logger): {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
} {
  return {
    debug: (msg, f) => log.debug({ ...f }, msg),
    info: (msg, f) => log.info({ ...f }, msg),
    warn: (msg, f) => log.warn({ ...f }, msg),
    error: (msg, f) => log.error({ ...f }, msg),
  };
}
