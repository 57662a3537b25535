#!/usr/bin/env node
// swarmctl entry point: registers tsx so the TypeScript sources run directly (works in a checkout after
// `npm install`, as `npx swarmctl`), then runs the CLI and exits with its code.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/host/cli/swarmctl.ts');
process.exitCode = await main(process.argv.slice(2));
