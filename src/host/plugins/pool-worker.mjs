// Tinypool worker that runs an untrusted JS plugin's validateOptions, init and conformance check, away from the
// host's thread. Plain .mjs so it starts without a TypeScript loader; the plugin bundle and the bundled
// conformance module are imported by absolute file URL. Task: {bundleUrl, conformanceUrl, kind, slot, options}
// -> {ok: true, name} | {ok: false, stage, message}.
export default async function check(t) {
  let stage = 'import';
  try {
    const mod = await import(t.bundleUrl);
    const pm = mod.default && typeof mod.default === 'object' && 'init' in mod.default ? mod.default : mod;
    const conf = await import(t.conformanceUrl);
    stage = 'validateOptions';
    if (typeof pm.validateOptions === 'function') pm.validateOptions(t.options);
    stage = 'init';
    const impl = await pm.init(t.options, { slot: t.slot, log: () => {} });
    stage = 'conformance';
    if (t.kind === 'restartPolicy') conf.checkRestartPolicy(impl);
    else if (t.kind === 'orchestrator') conf.checkOrchestrator(impl, t.slot.slice('orchestrator.'.length));
    if (typeof pm.dispose === 'function') await pm.dispose(impl);
    return { ok: true, name: impl && typeof impl.name === 'string' ? impl.name : '', version: impl && typeof impl.version === 'string' ? impl.version : '', kinds: impl && Array.isArray(impl.kinds) ? impl.kinds : [] };
  } catch (e) {
    return { ok: false, stage, message: String(e && e.message ? e.message : e) };
  }
}
