#!/usr/bin/env node
// The `wasmbed-host` command (package.json "bin"): a device host on its own, for machines that
// run devices without the orchestrator worker starting them (WASMBED_HOST_ID names it; see
// docs/runtimes.md). Registers tsx so the TypeScript runs straight from the source tree.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
