/**
 * A gateway that starts and stops with nothing wrong logs no warning: an operator reading a
 * fleet's logs acts on warnings. Its Temporal worker runs activities only, by design, and the SDK
 * warned at every start that it polls no workflow tasks (temporal/runtime.ts NO_WORKFLOWS_WARNING,
 * now at debug for the gateway). A real gateway process on a Temporal dev server of its own.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnPlatformProcess } from '../platform/processes.js';
import type { DevServer } from '../temporal/dev-server.js';
import { startOwnDevServer } from './support/dev-server.js';
import { freePort } from './support/ports.js';
import { waitFor } from './support/wait.js';

let home: string;
let temporal: DevServer;
let gateway: ChildProcess | undefined;
const lines: string[] = [];
/** The SDK's line (@temporalio/worker lib/worker.js), spelled out: the test reads what it says. */
const NO_WORKFLOWS_WARNING = 'No workflows registered, not polling for workflow tasks';

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-gateway-log-'));
  temporal = await startOwnDevServer(home);
  const [port, health, temporalMetrics] = await Promise.all([freePort(), freePort(), freePort()]);
  gateway = spawnPlatformProcess('gateway', {
    ...process.env,
    WASMBED_HOME: home,
    TEMPORAL_ADDRESS: temporal.address,
    WASMBED_GATEWAY_PORT: String(port),
    WASMBED_GATEWAY_HEALTH_PORT: String(health),
    WASMBED_GATEWAY_TEMPORAL_METRICS_PORT: String(temporalMetrics),
    LOG_LEVEL: 'debug', // the demoted line is still there, at debug
  });
  const collect = (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean));
  gateway.stdout!.on('data', collect);
  gateway.stderr!.on('data', collect);
}, 60_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  await temporal?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

const entries = () => lines.map((line) => JSON.parse(line) as { level: string; msg: string });

it('starts and stops without a warning; the activities-only worker is said at debug', async () => {
  await waitFor('the gateway to be ready', () => {
    if (gateway!.exitCode !== null) throw new Error(`gateway exited: ${lines.join('\n')}`);
    return entries().some((e) => e.msg === 'gateway ready');
  });
  await waitFor('the worker to start polling', () => entries().some((e) => e.msg === NO_WORKFLOWS_WARNING));
  gateway!.kill('SIGTERM');
  await waitFor('the gateway to stop', () => gateway!.exitCode !== null, 30_000);
  expect(entries().find((e) => e.msg === NO_WORKFLOWS_WARNING)?.level).toBe('debug');
  expect(entries().filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
  expect(entries().at(-1)?.msg).toBe('stopped');
}, 90_000);
