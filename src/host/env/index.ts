/** Injected environment: time, timers, randomness and the file-system seam. */
export type { Clock } from './clock.js';
export { realClock } from './clock.js';
export type { Timers, TimerHandle } from './timers.js';
export { RealTimers, SimTimers, withDeadline } from './timers.js';
export type { Rng } from './rng.js';
export { SeededRng, cryptoRng } from './rng.js';
export type { Fs, FileHandle } from './fs.js';
export { RealFs } from './fs-real.js';
export { SimFs, SimulatedCrashError } from './fs-sim.js';
