/**
 * The command-line programs' public surface: swarmctl (runSwarmctl for tests and embedding, main for the
 * bin script), the ControlClient it talks through, and the output helpers. See docs/controlapi.md.
 */
export {
  runSwarmctl,
  main as swarmctlMain,
  DEFAULT_SOCKET_PATH,
  EXIT_ERROR,
  EXIT_USAGE,
  EXIT_NOT_CONVERGED,
  EXIT_CODES_HELP,
  DEFAULT_CONVERGE_TIMEOUT,
  DEFAULT_POLL_MS,
} from './swarmctl.js';
export { bashCompletion } from './swarmctl-completion.js';
export { progressView, progressLines, progressBar, overallLine, ProgressPrinter, PROGRESS_BAR_CHARS } from './swarmctl-progress.js';
export type { ProgressView, ProgressRow } from './swarmctl-progress.js';
export type { SwarmctlIo } from './swarmctl.js';
export { GrpcControlClient, DEFAULT_CONTROL_CALL_TIMEOUT_MS } from './control-client.js';
export type { ControlClient } from './control-client.js';
export { table, humanizeAge, goDuration, parseDuration } from './format.js';
export {
  keyBlock,
  renderNodeList,
  renderServiceList,
  renderTaskTable,
  renderTaskList,
  renderClusterInspect,
  renderClusterList,
  renderNodeInspect,
  renderServiceInspect,
  renderTaskInspect,
  renderConfigList,
  renderConfigInspect,
  INSPECT_KEY_PADDING_CHARS,
  TASK_TABLE_GAP_CHARS,
} from './swarmctl-render.js';
export { addServiceFlags, applyServiceFlags, specFromFlags, parseCpus, parseBytes, MAX_CPU_DECIMALS } from './swarmctl-flags.js';
export type { ServiceFlags } from './swarmctl-flags.js';
