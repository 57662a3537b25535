import { pino } from 'pino';
import { textDestination, type LogFormat } from './log-format.js';

/** Structured logger (pino's call shape: fields first, then the message). */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  level?: string;
  /** Fixed fields on every line (hostname, ...). */
  bindings?: Record<string, unknown>;
  /** json (default): JSON lines; text: the human-readable format of log-format.ts. */
  format?: LogFormat;
  /** Fields computed for every line, e.g. the node id once it is known (omitted while it returns {}). */
  dynamic?: () => Record<string, unknown>;
  /** Where text lines go (default stderr); JSON always goes to fd 2. */
  textOut?: { write(s: string): unknown };
  /** ANSI colours for the level in text mode. */
  color?: boolean;
}

/** JSON lines (or text lines) on stderr, one per event, with the given bindings (node id, ...) on every line. */
export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const dynamic = opts.dynamic;
  const pinoOpts = {
    level: opts.level ?? 'info',
    base: { pid: process.pid, ...opts.bindings },
    ...(dynamic ? { mixin: () => dynamic() } : {}),
  };
  if (opts.format === 'text') return pino(pinoOpts, textDestination(opts.textOut ?? process.stderr, opts.color === true));
  return pino(pinoOpts, pino.destination(2));
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
