/** The seed range and step count of the simulation runners (`npm run sim`, `npm run sim:orch`). */

/** `--seeds N|A-B` and `--steps N` checked; a bad value prints the error and exits with 2. */
export function seedsAndSteps(seeds: string, steps: string): { from: number; to: number; steps: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(seeds);
  if (!m) {
    console.error(`Error: --seeds must be N or A-B, got "${seeds}"`);
    process.exit(2);
  }
  const n = Number(steps);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`Error: --steps must be a non-negative integer, got "${steps}"`);
    process.exit(2);
  }
  const from = Number(m[1]);
  return { from, to: m[2] !== undefined ? Number(m[2]) : from, steps: n };
}
