#!/usr/bin/env node
// The `wasmbed-device` command (package.json "bin"): a virtual board in claim mode. Registers
// tsx so the TypeScript runs straight from the source tree, like the `wasmbed` CLI.
import { register } from 'tsx/esm/api';

register();
await import('./board.ts');
