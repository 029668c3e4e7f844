#!/usr/bin/env node
// The `wasmbed` command (package.json "bin"). Registers tsx so the TypeScript CLI runs
// straight from the source tree, like every other Wasmbed process, without a build step.
import { register } from 'tsx/esm/api';

register();
await import('./wasmbed.ts');
