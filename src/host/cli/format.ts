/**
 * Output formatting shared by swarmctl commands: tables in SwarmKit's style (a header row, then a row of
 * dashes as long as each header word, columns padded and separated by two spaces), humanized ages, and
 * Go-style durations ("2160h0m0s", "5s") where SwarmKit prints them.
 */

/**
 * Renders rows as an aligned table. Every row must have as many cells as the header. `gapChars` is the space
 * between columns: 2 for the `ls` tables, 4 for the task tables of `inspect` (as in the seed README).
 */
export function table(header: string[], rows: string[][], gapChars = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + gapChars)))
      .join('')
      .trimEnd();
  return [line(header), line(header.map((h) => '-'.repeat(h.length))), ...rows.map(line)].join('\n') + '\n';
}

/** "now", "1 second ago", "28 seconds ago", "1 minute ago", "3 minutes ago", "1 hour ago", "2 days ago"... */
export function humanizeAge(thenMs: number, nowMs: number): string {
  const s = Math.floor((nowMs - thenMs) / 1000);
  if (s < 1) return 'now';
  const unit = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return unit(s, 'second');
  const m = Math.floor(s / 60);
  if (m < 60) return unit(m, 'minute');
  const h = Math.floor(m / 60);
  if (h < 24) return unit(h, 'hour');
  const d = Math.floor(h / 24);
  if (d < 30) return unit(d, 'day');
  const mo = Math.floor(d / 30);
  if (mo < 12) return unit(mo, 'month');
  return unit(Math.floor(d / 365), 'year');
}

/** Go's time.Duration String(): "0s", "1.5s", "5s", "10m0s", "2160h0m0s", "250ms". */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${trimZeros(rest)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = `${trimZeros(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimZeros(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(9).replace(/0+$/, '');
}

/**
 * Parses Go-style durations as flags take them: "10s", "1m30s", "2160h", "500ms", "1.5h". A bare number is
 * refused (units are required) so that "10" is never silently read as 10 ns or 10 s.
 */
export function parseDuration(text: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s|us|µs|ns)/g;
  const s = text.trim();
  if (s === '0') return 0;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) break;
    const v = Number(m[1]);
    const mult = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 }[m[2] as 'h'];
    total += v * mult;
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== s.length) {
    throw new Error(`invalid duration "${text}" for ${flag}: use a number with a unit, e.g. 10s, 1m30s, 2160h`);
  }
  return total;
}
