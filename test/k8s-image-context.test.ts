/**
 * What `docker build -f k8s/Dockerfile .` (docs/kubernetes.md) copies into the image: its
 * `COPY . .` takes the whole build context, and the image is pushed to a registry. Without a
 * .dockerignore that was the CA private keys in .wasmbed/pki (the docs make them there for the
 * wasmbed-ca Secret), the host's node_modules over the image's own `npm ci --omit=dev`, .tools
 * and .git. A real Docker engine (scripts/start-dockerd.sh) builds the same context with
 * `COPY . /app` onto `scratch` (no registry needed) and the image's files are listed.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';

const run = promisify(execFile);
const START_DOCKERD = path.join(REPO_ROOT, 'scripts', 'start-dockerd.sh');

let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wbctx-'));
  const started = await run('bash', [START_DOCKERD, root]);
  env = { ...process.env, DOCKER_HOST: /DOCKER_HOST=(\S+)/.exec(started.stdout)![1]!, DOCKER_BUILDKIT: '0' };
});
afterAll(async () => {
  if (!root) return;
  await run('bash', [START_DOCKERD, root, '--stop']).catch(() => undefined);
  fs.rmSync(root, { recursive: true, force: true });
});

it('the image context of k8s/Dockerfile holds the sources, and no CA key, node_modules, .tools or .git', async () => {
  const dockerfile = path.join(root, 'Dockerfile.context');
  fs.writeFileSync(dockerfile, 'FROM scratch\nCOPY . /app\n');
  const tag = 'wasmbed-test/k8s-context:1';
  await run('docker', ['build', '-q', '-f', dockerfile, '-t', tag, '.'], {
    cwd: REPO_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 300_000,
  });
  const { stdout: id } = await run('docker', ['create', tag, 'none'], { env });
  const tar = path.join(root, 'context.tar');
  await run('docker', ['export', '-o', tar, id.trim()], { env });
  const { stdout } = await run('tar', ['-tf', tar], { maxBuffer: 256 * 1024 * 1024 });
  const files = stdout.split('\n').filter((f) => f.startsWith('app/'));

  // What the processes run (k8s/*.yaml commands) and what npm ci needs are there.
  for (const needed of [
    'app/package.json',
    'app/package-lock.json',
    'app/workers/orchestrator.ts',
    'app/gateway/main.ts',
    'app/controller/main.ts',
    'app/host/main.ts',
    'app/web/main.ts',
  ]) {
    expect(files, needed).toContain(needed);
  }
  // Nothing of this host: no secrets, no host-built dependencies or tools.
  for (const excluded of ['app/.wasmbed/', 'app/node_modules/', 'app/.tools/', 'app/.git/', 'app/dist/']) {
    expect(
      files.filter((f) => f.startsWith(excluded)),
      excluded,
    ).toEqual([]);
  }
});
