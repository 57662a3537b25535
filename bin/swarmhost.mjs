#!/usr/bin/env node
// swarmhost: runs one swarm node. TypeScript sources are loaded through tsx, so a checkout works after `npm install`.
import { register } from 'tsx/esm/api';
register();
await import('../src/host/cli/swarmhost.ts');
