/**
 * The control-API methods behind `swarmctl plugin ls|inspect|reload`: ListPlugins, InspectPlugin and
 * ReloadPlugins, as plain functions over a {@link PluginHost} that the control API mounts. JSON in, JSON out.
 */
import { InvalidArgumentError } from '../api/errors.js';
import type { PluginHost, PluginInfo, ReloadReport } from './host.js';
import { SLOT_NAMES, type SlotName } from './registry.js';

/** ListPlugins response: one row per version (slot, name, version hash, state, load time, last error). */
export interface ListPluginsResponse {
  configFile: string;
  plugins: PluginInfo[];
}

/** ListPlugins: every slot's versions (active, candidate, failed, draining, retired, disposed). */
export function listPlugins(host: PluginHost, _req: Record<string, never> = {}): ListPluginsResponse {
  return { configFile: host.configFile ?? '', plugins: host.list() };
}

/** InspectPlugin request: `slot` is one of the slot names. */
export interface InspectPluginRequest {
  slot: string;
}

/** InspectPlugin: the slot's active version, its history and its config entry. */
export function inspectPlugin(host: PluginHost, req: InspectPluginRequest): ReturnType<PluginHost['inspect']> {
  if (!(SLOT_NAMES as readonly string[]).includes(req.slot)) {
    throw new InvalidArgumentError(`slot: must be one of ${SLOT_NAMES.join(', ')}, got "${req.slot}"`);
  }
  return host.inspect(req.slot as SlotName);
}

/** ReloadPlugins: re-reads the config and its modules now; reports what each slot did. */
export async function reloadPlugins(host: PluginHost, _req: Record<string, never> = {}): Promise<ReloadReport> {
  return host.reload();
}

/** The three handlers keyed by control-API method name, for mounting. */
export function pluginControlHandlers(host: PluginHost): {
  ListPlugins: (req: Record<string, never>) => ListPluginsResponse;
  InspectPlugin: (req: InspectPluginRequest) => ReturnType<PluginHost['inspect']>;
  ReloadPlugins: (req: Record<string, never>) => Promise<ReloadReport>;
} {
  return {
    ListPlugins: (req) => listPlugins(host, req),
    InspectPlugin: (req) => inspectPlugin(host, req),
    ReloadPlugins: (req) => reloadPlugins(host, req),
  };
}
