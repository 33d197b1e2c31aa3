#!/usr/bin/env node
// The `tribunal` command: runs the TypeScript CLI through tsx, so nothing needs building.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
