/**
 * Filter codes shared by the WASM pipeline, strategy modules and the TypeScript reference, and SwarmKit's
 * explanation text built from per-filter failure counters (reference §6.2).
 */

/** Filter codes in pipeline order. 0 means "passed every filter". */
export const enum FilterCode {
  PASS = 0,
  READY = 1,
  RESOURCES = 2,
  /** Plugins: never active here (the object model has no networks, log drivers or volume plugins). */
  PLUGINS = 3,
  CONSTRAINTS = 4,
  PLATFORM = 5,
  HOST_PORTS = 6,
  MAX_REPLICAS = 7,
  /** CSI volumes: never active here (no cluster volumes in the object model). */
  CSI = 8,
}

/** Number of filter slots in a counter array (index = code, slot 0 unused). */
export const FILTER_SLOTS = 9;

function plural(n: number, what: string): string {
  return n === 1 ? `1 node ${what}` : `${n} nodes ${what}`;
}

/** SwarmKit's text for `count` nodes failing the filter `code`. */
export function filterExplanation(code: number, count: number): string {
  switch (code) {
    case FilterCode.READY:
      return count === 1 ? '1 node not available for new tasks' : `${count} nodes not available for new tasks`;
    case FilterCode.RESOURCES:
      return `insufficient resources on ${plural(count, '').trimEnd()}`;
    case FilterCode.PLUGINS:
      return `missing plugin on ${plural(count, '').trimEnd()}`;
    case FilterCode.CONSTRAINTS:
      return `scheduling constraints not satisfied on ${plural(count, '').trimEnd()}`;
    case FilterCode.PLATFORM:
      return `unsupported platform on ${plural(count, '').trimEnd()}`;
    case FilterCode.HOST_PORTS:
      return `host-mode port already in use on ${plural(count, '').trimEnd()}`;
    case FilterCode.MAX_REPLICAS:
      return 'max replicas per node limit exceed';
    case FilterCode.CSI:
      return `cannot fulfill requested CSI volume mounts on ${plural(count, '').trimEnd()}`;
  }
  throw new RangeError(`filter code ${code} is not a filter`);
}

/**
 * The explanation: non-zero counters by count, largest first, ties in pipeline order, joined with "; ".
 * `counters[code]` is the failure count of filter `code`.
 */
export function explain(counters: ArrayLike<number>): string {
  const entries: { code: number; count: number }[] = [];
  for (let c = 1; c < FILTER_SLOTS && c < counters.length; c++) if (counters[c]! > 0) entries.push({ code: c, count: counters[c]! });
  entries.sort((a, b) => b.count - a.count || a.code - b.code);
  return entries.map((e) => filterExplanation(e.code, e.count)).join('; ');
}

/** The status error of an unplaceable task: `no suitable node (<explanation>)`, or `no suitable node`. */
export function noSuitableNode(explanation: string): string {
  return explanation === '' ? 'no suitable node' : `no suitable node (${explanation})`;
}
