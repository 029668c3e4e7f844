/**
 * One rollout per Application generation: writers that see a new generation at once (the REST
 * API and Kubernetes controllers; here two ApplicationServices on two connections to one SQLite
 * file, as two processes have) start its deploy workflow exactly once, and a claim left by a
 * writer that died before starting is taken over when its lease runs out. Real Temporal (a dev
 * server of its own, no worker: a started run stays Running), real SQLite; the Temporal client's
 * start is counted on its way to the server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApplicationSpec } from '../common/resources.js';
import { ApplicationService, type RunMemo } from '../services/application-service.js';
import { claimable, newClaim, ROLLOUT_CLAIM_LEASE_MS } from '../services/rollout-claim.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import type { DevServer } from '../temporal/dev-server.js';
import { deployWorkflowId } from '../workflows/contracts/index.js';
import { START_APP } from './support/start-app.js';
import { waitFor } from './support/wait.js';
import { startOwnDevServer } from './support/dev-server.js';

let home: string;
let temporal: DevServer;
let connection: Connection;
let client: Client;
const stores: SqliteResourceStore[] = [];
const services: ApplicationService[] = [];
/** Deploy starts that reached Temporal, by workflow id and memo generation. */
const starts: { workflowId: string; generation?: number }[] = [];

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-claim-'));
  temporal = await startOwnDevServer(home);
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection });
  const start = client.workflow.start.bind(client.workflow);
  client.workflow.start = ((type: string, options: { workflowId: string; memo?: RunMemo }) => {
    starts.push({ workflowId: options.workflowId, generation: options.memo?.generation });
    return start(type, options as never);
  }) as typeof client.workflow.start;
  const modules = new FileModuleStore(path.join(home, 'modules'));
  for (let i = 0; i < 2; i++) {
    // Two connections to one database file, as the web and controller processes have.
    stores.push(new SqliteResourceStore(openDatabase(path.join(home, 'wasmbed.db'))));
    services.push(new ApplicationService(stores[i]!, modules, client, 2000));
  }
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await connection?.close();
  await temporal?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

/** A spec change written straight into the store (what `kubectl apply` does): a new generation. */
async function newGeneration(name: string, env: Record<string, string>): Promise<number> {
  const app = (await stores[0]!.get('Application', name))!;
  const spec: ApplicationSpec = { ...app.spec, env };
  const written = await stores[0]!.upsert('Application', name, spec, app.status);
  return written.metadata.generation ?? 1;
}

const startsOf = (name: string, generation: number) =>
  starts.filter((s) => s.workflowId === deployWorkflowId(name) && s.generation === generation).length;

describe('the rollout claim', () => {
  it('decides who may claim a generation', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(claimable(undefined, 1, now)).toBe(true);
    expect(claimable(newClaim(1, 'a', now), 2, now)).toBe(true);
    expect(claimable(newClaim(3, 'a', now), 2, now)).toBe(false);
    expect(claimable(newClaim(2, 'a', now), 2, now + ROLLOUT_CLAIM_LEASE_MS - 1)).toBe(false);
    expect(claimable(newClaim(2, 'a', now), 2, now + ROLLOUT_CLAIM_LEASE_MS)).toBe(true);
    expect(claimable({ generation: 2, holder: 'a', at: 'not a time' }, 2, now)).toBe(true);
  });

  it('starts one run when two writers roll out the same new generation at once', async () => {
    await services[0]!.create({ name: 'race', wasm: START_APP.toString('base64'), target: { all: true } });
    expect(startsOf('race', 1)).toBe(1);

    for (const [round, env] of [{ V: '2' }, { V: '3' }, { V: '4' }].entries()) {
      const generation = await newGeneration('race', env);
      expect(generation).toBe(round + 2);
      const results = await Promise.all(services.map((service) => service.rollOutStored('race')));
      expect(results.map((r) => r.workflowId)).toEqual(['deploy-race', 'deploy-race']);
      expect(startsOf('race', generation), `starts of generation ${generation}`).toBe(1);
      const described = await client.workflow.getHandle('deploy-race').describe();
      expect(described.status.name).toBe('RUNNING');
      expect((described.memo as RunMemo).generation).toBe(generation);
      const app = (await stores[1]!.get('Application', 'race'))!;
      expect(app.status.rolloutClaim?.generation).toBe(generation);
      expect(app.status.workflowId).toBe('deploy-race');
    }
    // Temporal's own record: one run per generation, none terminated by a second start of its own.
    const runs = await waitFor('all runs of deploy-race listed', async () => {
      const listed: { generation?: number; status: string }[] = [];
      for await (const run of client.workflow.list({ query: `WorkflowId = 'deploy-race'` })) {
        listed.push({ generation: (run.memo as RunMemo | undefined)?.generation, status: run.status.name });
      }
      return listed.length >= 4 ? listed : undefined;
    });
    expect(runs.map((r) => r.generation).sort()).toEqual([1, 2, 3, 4]);
  });

  it('takes over a claim whose holder died before starting, once its lease ran out', async () => {
    const generation = await newGeneration('race', { V: '5' });
    const claimedAt = Date.now();
    await stores[0]!.updateStatus('Application', 'race', (s) => ({
      ...s,
      rolloutClaim: newClaim(generation, 'died-before-starting', claimedAt),
    }));
    const { workflowId } = await services[1]!.rollOutStored('race');
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(2000);
    expect(workflowId).toBe('deploy-race');
    expect(startsOf('race', generation)).toBe(1);
    const app = (await stores[0]!.get('Application', 'race'))!;
    expect(app.status.rolloutClaim?.generation).toBe(generation);
    expect(app.status.rolloutClaim?.holder).not.toBe('died-before-starting');
    const described = await client.workflow.getHandle('deploy-race').describe();
    expect((described.memo as RunMemo).generation).toBe(generation);
  });
});
