// Worker that serves an untrusted JS plugin's calls (restart decide, orchestrator reconcile) for the host's
// synchronous contracts. The host posts {id, op, input, ids?, met?} and blocks in Atomics.wait (bounded); this
// worker writes the JSON answer into the shared buffer, stores `id` in ctl[0] and notifies. Plain .mjs so it
// starts without a TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';

const { bundleUrl, options, slot, ctlBuffer, dataBuffer } = workerData;
const ctl = new Int32Array(ctlBuffer);
const out = new Uint8Array(dataBuffer);
const enc = new TextEncoder();
let impl;
let loadError;
try {
  const mod = await import(bundleUrl);
  const pm = mod.default && typeof mod.default === 'object' && 'init' in mod.default ? mod.default : mod;
  impl = await pm.init(options, { slot, log: () => {} });
} catch (e) {
  loadError = String(e && e.message ? e.message : e);
}
parentPort.postMessage(loadError === undefined ? { ready: true } : { ready: false, message: loadError });

function answer(id, res) {
  let bytes = enc.encode(JSON.stringify(res));
  if (bytes.length > out.length) bytes = enc.encode(JSON.stringify({ ok: false, message: `answer of ${bytes.length} bytes is over the ${out.length}-byte limit` }));
  out.set(bytes);
  Atomics.store(ctl, 1, bytes.length);
  Atomics.store(ctl, 0, id);
  Atomics.notify(ctl, 0);
}

parentPort.on('message', (m) => {
  if (loadError !== undefined) return answer(m.id, { ok: false, message: `init failed in the worker: ${loadError}` });
  try {
    if (m.op === 'decide') return answer(m.id, { ok: true, value: impl.decide(m.input) });
    let next = 0;
    const caps = {
      newId: () => {
        if (next >= m.ids.length) throw new Error(`used more than the ${m.ids.length} pre-generated ids`);
        return m.ids[next++];
      },
      constraintsMet: (node, cs) => {
        const k = `${node.id}\u0000${cs.join('\u0000')}`;
        if (!(k in m.met)) throw new Error(`constraints ${JSON.stringify(cs)} on node ${node.id} were not pre-computed`);
        return m.met[k];
      },
    };
    return answer(m.id, { ok: true, value: impl.reconcile(m.input, caps) });
  } catch (e) {
    return answer(m.id, { ok: false, message: String(e && e.message ? e.message : e) });
  }
});
