/**
 * Reads a WASM binary's import section (names, kinds and memory limits), which the JS API does not expose,
 * so that a strategy module can be checked against the allow-list and the memory limit before it runs.
 */
import { InvalidArgumentError } from '../api/errors.js';

/** One import as declared in the binary. */
export interface DeclaredImport {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** For memories: pages (64 KiB) minimum, maximum (undefined = none), shared flag. */
  memory?: { minPages: number; maxPages: number | undefined; shared: boolean };
}

/** Parses the import section; throws {@link InvalidArgumentError} when the binary is malformed. */
export function declaredImports(bytes: Uint8Array): DeclaredImport[] {
  let p = 8;
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`strategy module: malformed binary (${why})`);
  };
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) fail('no wasm header');
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (p >= bytes.length) fail('truncated');
      const b = bytes[p++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) fail('LEB128 too long');
    }
  };
  const name = (): string => {
    const len = leb();
    if (p + len > bytes.length) fail('truncated name');
    const s = new TextDecoder().decode(bytes.subarray(p, p + len));
    p += len;
    return s;
  };
  const limits = () => {
    const flags = bytes[p++]!;
    const minPages = leb();
    const maxPages = flags & 1 ? leb() : undefined;
    return { minPages, maxPages, shared: (flags & 2) !== 0 };
  };
  const out: DeclaredImport[] = [];
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = leb();
    const end = p + size;
    if (end > bytes.length) fail('section past the end');
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const module = name();
        const field = name();
        const kind = bytes[p++]!;
        if (kind === 0) {
          leb();
          out.push({ module, name: field, kind: 'function' });
        } else if (kind === 1) {
          p++;
          limits();
          out.push({ module, name: field, kind: 'table' });
        } else if (kind === 2) {
          out.push({ module, name: field, kind: 'memory', memory: limits() });
        } else if (kind === 3) {
          p += 2;
          out.push({ module, name: field, kind: 'global' });
        } else if (kind === 4) {
          p++;
          leb();
          out.push({ module, name: field, kind: 'tag' });
        } else fail(`import kind ${kind}`);
      }
      return out;
    }
    p = end;
  }
  return out;
}
