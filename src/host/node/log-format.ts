/**
 * The human-readable log format for terminals. swarmhost logs JSON lines (pino); on a TTY each line is
 * rewritten as `HH:MM:SS.mmm LEVEL [node component] message key=value ...`. pino-pretty is not installed, and
 * the formatter is small: it only understands the fields swarmhost writes.
 */

/** pino's numeric levels → the names printed in text mode (padded to 5 characters). */
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** The field naming the node that writes a line (SwarmKit's name; `nodeId` is left for the node a line is about). */
export const NODE_ID_LOG_FIELD = 'node.id';

/** Fields the text prefix already shows (or that only add noise on a terminal). */
const PREFIX_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', NODE_ID_LOG_FIELD, 'component']);

/** Length of a node id shown in the text prefix, characters (ids are 25 characters; 12 is unique in practice). */
export const TEXT_NODE_ID_CHARS = 12;

/** Output formats of the swarmhost logger. */
export type LogFormat = 'text' | 'json';

/** `--log-format` parsing: text | json; anything else is a typed error naming the flag. */
export function parseLogFormat(v: string): LogFormat {
  if (v === 'text' || v === 'json') return v;
  throw new Error(`--log-format must be text or json, got "${v}"`);
}

/** The default format: text when stderr is a terminal (a person reads it), JSON otherwise (a machine does). */
export function defaultLogFormat(stderrIsTty: boolean): LogFormat {
  return stderrIsTty ? 'text' : 'json';
}

function valueText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

/**
 * One JSON log line (as pino writes it) → one text line ending in "\n". A line that is not a JSON object is
 * passed through unchanged, so nothing is lost.
 */
export function formatLogLine(jsonLine: string, opts: { color?: boolean } = {}): string {
  const trimmed = jsonLine.trimEnd();
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return trimmed + '\n';
    rec = parsed as Record<string, unknown>;
  } catch {
    return trimmed + '\n';
  }
  const t = typeof rec.time === 'number' ? new Date(rec.time) : undefined;
  const time = t !== undefined && !Number.isNaN(t.getTime()) ? t.toISOString().slice(11, 23) : '--:--:--.---';
  const levelNum = typeof rec.level === 'number' ? rec.level : 30;
  let level = LEVEL_NAMES[levelNum] ?? String(rec.level);
  if (opts.color) {
    const c = levelNum >= 50 ? 31 : levelNum >= 40 ? 33 : levelNum >= 30 ? 32 : 90;
    level = `\x1b[${c}m${level}\x1b[0m`;
  }
  const tags: string[] = [];
  const self = rec[NODE_ID_LOG_FIELD];
  if (typeof self === 'string' && self !== '') tags.push(self.slice(0, TEXT_NODE_ID_CHARS));
  else if (typeof rec.hostname === 'string') tags.push(rec.hostname);
  if (typeof rec.component === 'string') tags.push(rec.component);
  const fields = Object.entries(rec)
    .filter(([k]) => !PREFIX_FIELDS.has(k))
    .map(([k, v]) => `${k}=${valueText(v)}`);
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  return `${time} ${level} ${tags.length > 0 ? `[${tags.join(' ')}] ` : ''}${msg}${fields.length > 0 ? ' ' + fields.join(' ') : ''}\n`;
}

/**
 * A pino destination that writes text lines to `out` (stderr by default). pino hands it whole JSON lines,
 * one per write call.
 */
export function textDestination(out: { write(s: string): unknown } = process.stderr, color = false): { write(s: string): void } {
  return {
    write(s: string): void {
      for (const line of s.split('\n')) if (line !== '') out.write(formatLogLine(line, { color }));
    },
  };
}
