// Worker thread that runs one untrusted strategy module (ABI v1) over a shared WebAssembly.Memory.
// Plain .mjs so it starts without a TypeScript loader. Messages: {id, fn, t, g} -> {id, ok, value} | {id, ok:false, kind, message}.
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory } = workerData;
class StrategyAbort extends Error {}
let instance;
try {
  instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort(msgPtr, filePtr, line, col) {
        throw new StrategyAbort(`abort() at line ${line}:${col}`);
      },
    },
  });
  parentPort.postMessage({ ready: true });
} catch (e) {
  parentPort.postMessage({ ready: false, message: String(e && e.message ? e.message : e) });
}

parentPort.on('message', (m) => {
  try {
    const value = instance.exports[m.fn](m.t, m.g);
    parentPort.postMessage({ id: m.id, ok: true, value });
  } catch (e) {
    const kind = e instanceof StrategyAbort ? 'abort' : e instanceof WebAssembly.RuntimeError ? 'trap' : 'error';
    parentPort.postMessage({ id: m.id, ok: false, kind, message: String(e && e.message ? e.message : e) });
  }
});
