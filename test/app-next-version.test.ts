/**
 * What an update of an Application records as the version to go back to (nextVersion in
 * services/application-service.ts): pure, from the status and spec it replaces.
 */
import { expect, it } from 'vitest';
import { deviceState } from '../common/application-status.js';
import { versionOf } from '../common/app-version.js';
import type { Application } from '../common/resources.js';
import { nextVersion } from '../services/application-service.js';
import { applicationSpec } from './support/application-spec.js';

const V1 = applicationSpec({ module: { sha256: '1'.repeat(64), size: 100 }, env: { V: '1' } });
const V0 = versionOf(applicationSpec({ module: { sha256: '0'.repeat(64), size: 90 } }));
const status = (over: Partial<Application['status']>): Application['status'] => ({
  phase: 'Deploying',
  devices: {},
  counts: { targeted: 2, running: 0, failed: 0, pending: 2 },
  ...over,
});

it('an update during the first rollout goes back to that rollout’s version once a device runs it', () => {
  // The first rollout had deployed to d1 (Running) and not ended: no currentModule yet.
  const during = status({ devices: { d1: deviceState('Running'), d2: deviceState('Pending') } });
  expect(nextVersion(during, V1).previousModule).toEqual(versionOf(V1));
  // Before it reached any device there is nothing to go back to.
  const before = status({ devices: { d1: deviceState('Pending'), d2: deviceState('Pending') } });
  expect(nextVersion(before, V1).previousModule).toBeUndefined();
});

it('after a rollout ended, the version it left running; a stopped app, none', () => {
  const ran = status({ phase: 'Running', currentModule: V0, devices: { d1: deviceState('Running') } });
  expect(nextVersion(ran, V1).previousModule).toEqual(V0);
  const stopped = status({ phase: 'Stopped', currentModule: V0, devices: { d1: deviceState('Stopped') } });
  expect(nextVersion(stopped, V1).previousModule).toBeUndefined();
});
