/**
 * Which store failures the gateway keeps its status writes through (store/store-unavailable.ts):
 * the errors the real clients give for a server that is not there — node-postgres and the
 * Kubernetes client, each pointed at a port nothing listens on (no Kubernetes API server runs in
 * this suite: the client's own error for a refused connection is what matters) — and the API
 * server's "cannot serve now" statuses; never an error about what was asked.
 */
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../common/errors.js';
import { makeKeepAliveApiClient } from '../store/kubernetes-client.js';
import { KubernetesApiError } from '../store/kubernetes-objects.js';
import { DatabaseUnavailableError } from '../store/postgres/pool.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import { freePort } from './support/ports.js';

const refused = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (err: unknown) => err,
  );

describe('isStoreUnavailable', () => {
  it('is true for PostgreSQL not answering (node-postgres, and the pool wrapped)', async () => {
    const pool = new pg.Pool({ host: '127.0.0.1', port: await freePort(), connectionTimeoutMillis: 2_000 });
    const err = await refused(pool.query('SELECT 1'));
    await pool.end();
    expect(isStoreUnavailable(err)).toBe(true);
    expect(isStoreUnavailable(new DatabaseUnavailableError('down', { cause: err }))).toBe(true);
  });

  it('is true for a Kubernetes API server not answering, overloaded or failing', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${await freePort()}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const api = makeKeepAliveApiClient(kc, CustomObjectsApi);
    const err = await refused(
      api.getNamespacedCustomObject({
        group: 'wasmbed.io',
        version: 'v1',
        namespace: 'default',
        plural: 'devices',
        name: 'd',
      }),
    );
    expect(isStoreUnavailable(err)).toBe(true);
    for (const status of [0, 429, 500, 503])
      expect(isStoreUnavailable(new KubernetesApiError(status, 'x'))).toBe(true);
  });

  it('is false for what no retry changes', () => {
    expect(isStoreUnavailable(new NotFoundError('Device', 'd'))).toBe(false);
    expect(isStoreUnavailable(new ValidationError('spec.mcuType', 'bad'))).toBe(false);
    for (const status of [400, 404, 409, 422])
      expect(isStoreUnavailable(new KubernetesApiError(status, 'x'))).toBe(false);
    expect(isStoreUnavailable(new Error('store down'))).toBe(false);
  });
});
