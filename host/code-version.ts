/**
 * The version of the code a device host runs: a hash of the sources it loads and of the
 * lockfile. The host outlives the platform's other processes (host/supervisor.ts), so after an
 * upgrade — `git pull`, `npm start` again — the worker would adopt a host still running the old
 * code (its activities and its copy of the workflows) for as long as it lived. The supervisor
 * starts each host with this version on its command line and replaces one that runs another.
 */
import { sourceHash } from '../common/source-hash.js';

/**
 * The directories host/main.ts imports from, directly or not (test/host-code-version.test.ts
 * checks the list against the host's import graph), and the dependencies' versions.
 */
export const HOST_SOURCES = [
  'activities',
  'common',
  'device',
  'host',
  'pki',
  'platform',
  'protocol',
  'runtimes',
  'store',
  'temporal',
  'workflows',
  'package-lock.json',
];

let version: string | undefined;

/** This checkout's host code version (worked out once per process). */
export function hostCodeVersion(): string {
  return (version ??= sourceHash(HOST_SOURCES, { recursive: true, matches: /\.(ts|mjs|json)$/ }));
}
