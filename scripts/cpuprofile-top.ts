/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per source file, and
 * inclusive ("total") time per function, optionally over a time window only (monotonic µs, the clock of the
 * profile's timestamps; bench-converge-transport prints its converge window with `--profile`).
 * Usage: tsx scripts/cpuprofile-top.ts FILE.cpuprofile [--window START_US END_US] [--top N]
 * Output: one line per entry, `ms  %  name  file:line`; percentages are of the sampled time in the window.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) {
  console.error('usage: cpuprofile-top FILE.cpuprofile [--window START_US END_US] [--top N]');
  process.exit(2);
}
const wi = args.indexOf('--window');
const win = wi >= 0 ? [Number(args[wi + 1]), Number(args[wi + 2])] as const : undefined;
const ti = args.indexOf('--top');
const TOP = ti >= 0 ? Number(args[ti + 1]) : 30;
const bi = args.indexOf('--buckets');
/** With `--buckets MS`: also a timeline of busy time and the top own-code function per MS bucket. */
const BUCKET_US = bi >= 0 ? Number(args[bi + 1]) * 1000 : 0;

const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const shortUrl = (u: string): string => u.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules|scripts|test)\//, '$1/');
const label = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'}  ${shortUrl(n.callFrame.url) || '(native)'}:${n.callFrame.lineNumber + 1}`;

const self = new Map<string, number>();
const selfFile = new Map<string, number>();
const total = new Map<string, number>();
const buckets = new Map<number, { busy: number; total: number; fns: Map<string, number> }>();
let t = p.startTime;
let sampled = 0;
let idle = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  const dt = p.timeDeltas[i + 1] ?? 0; // the time until the next sample is attributed to this one
  if (win && (t < win[0] || t > win[1])) continue;
  const n = byId.get(p.samples[i]!)!;
  sampled += dt;
  if (n.callFrame.functionName === '(idle)') {
    idle += dt;
    continue;
  }
  const l = label(n);
  if (BUCKET_US > 0) {
    const b = Math.floor((t - (win ? win[0] : p.startTime)) / BUCKET_US);
    const e = buckets.get(b) ?? { busy: 0, total: 0, fns: new Map<string, number>() };
    e.busy += dt;
    // Attribute to the innermost frame of our own code (src/host, src/plugins), else the leaf.
    let k = l;
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const u = byId.get(id)!.callFrame.url;
      if (u.includes('/src/host/') || u.includes('/src/plugins/')) {
        k = label(byId.get(id)!);
        break;
      }
    }
    e.fns.set(k, (e.fns.get(k) ?? 0) + dt);
    buckets.set(b, e);
  }
  self.set(l, (self.get(l) ?? 0) + dt);
  const f = shortUrl(n.callFrame.url) || `(${n.callFrame.functionName})`;
  selfFile.set(f, (selfFile.get(f) ?? 0) + dt);
  const seen = new Set<string>();
  for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
    const k = label(byId.get(id)!);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + dt);
  }
}
const pct = (v: number): string => ((v / Math.max(1, sampled)) * 100).toFixed(1).padStart(5);
const ms = (v: number): string => (v / 1000).toFixed(0).padStart(7);
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n== ${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${ms(v)} ms ${pct(v)} %  ${k}`);
};
console.log(`window: ${(sampled / 1000).toFixed(0)} ms sampled, idle ${(idle / 1000).toFixed(0)} ms (${pct(idle)} %)`);
print('self time by function', self);
print('self time by file', selfFile);
print('total (inclusive) time by function', total);
if (BUCKET_US > 0) {
  console.log(`\n== timeline (${BUCKET_US / 1000} ms buckets): busy ms, top own-code frames`);
  for (const [b, e] of [...buckets].sort((x, y) => x[0] - y[0])) {
    const top = [...e.fns].sort((x, y) => y[1] - x[1]).slice(0, 3).map(([k, v]) => `${(v / 1000).toFixed(0)} ${k.split('  ')[0]}`);
    console.log(`${String((b * BUCKET_US) / 1000).padStart(6)} ms  busy ${(e.busy / 1000).toFixed(0).padStart(4)}  ${top.join(' | ')}`);
  }
}
