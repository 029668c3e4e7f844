/**
 * A docker device (or a Renode one run from its image) on a machine with no Docker engine: the
 * first call provisioning makes to the engine — issueCertificate makes the device's key in its
 * volume — fails at once as EmulatorUnavailable (non-retryable), saying what is missing. It was a
 * bare "connect ENOENT /var/run/docker.sock", retried five times, on the dashboard's device row.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, expect, it } from 'vitest';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-no-engine-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));
const noEngine = () =>
  new DockerRuntime({ home, docker: new Docker({ socketPath: path.join(home, 'no.sock') }) });

it("fails a docker device's key at once, naming the missing engine", async () => {
  const err = (await noEngine()
    .deviceKey('d-1')
    .catch((e: unknown) => e)) as Error & { code?: string };
  expect(err).toBeInstanceOf(Error);
  expect(err.code).toBe('EmulatorUnavailable');
  expect(err.message).toMatch(/^no Docker engine: connect ENOENT .*no\.sock; .*DOCKER_HOST/);
});

it('fails the key of a Renode device run from its image the same way', async () => {
  const renode = new RenodeRuntime({ home, binary: '/nonexistent/renode', docker: noEngine() });
  expect(renode.mode).toBe('docker');
  const err = (await renode.deviceKey('r-1').catch((e: unknown) => e)) as Error & { code?: string };
  expect(err.code).toBe('EmulatorUnavailable');
});
