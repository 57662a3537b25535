// Preload (`NODE_OPTIONS=--import <this file>`) that CPU-profiles the whole process and writes
// `$CPU_PROF_DIR/CPU.<pid>.cpuprofile` at exit: `--cpu-prof` itself is not allowed in NODE_OPTIONS, and
// bench-converge-transport's manager process is spawned by test/support/procs.ts with a fixed argv.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR ?? '.';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.on('exit', () => {
  // The same-thread inspector session answers synchronously, so this runs to completion inside 'exit'.
  session.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(res.profile));
  });
});
