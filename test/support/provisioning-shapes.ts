/**
 * Provisioning runs on Temporal's test environment with fake activities (workflow-env.ts), for
 * the shape of what a run schedules — which steps are local activities of the run, which are
 * activities of their own — not for what the steps do (test/provisioning.test.ts runs the real
 * ones). Used by test/provisioning-host-steps.test.ts, and run as a script to record the
 * histories test/workflow-replay.test.ts replays for runtimes the recorded platform scenario
 * (scripts/record-histories.ts, virtual devices only) does not provision:
 *
 *   npx tsx test/support/provisioning-shapes.ts <label>
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Context } from '@temporalio/activity';
import type proto from '@temporalio/proto';
import type { DeviceSpec } from '../../common/resources.js';
import { REPO_ROOT } from '../../common/repo-root.js';
import { startWorkflow } from '../../temporal/workflow-calls.js';
import {
  prepareOnHostWorkflowId,
  provisionDeviceWorkflow,
  provisionWorkflowId,
} from '../../workflows/contracts/index.js';
import { historyToJson } from './history-json.js';
import {
  GATEWAY_QUEUE,
  HOST_QUEUE,
  WORKFLOW_QUEUE,
  startWorkflowTestEnv,
  type WorkflowTestEnv,
} from './workflow-env.js';

type History = proto.temporal.api.history.v1.IHistory;

/** How each startEmulator call was run: as a local activity or not, and its heartbeat timeout. */
export interface EmulatorStart {
  device: string;
  isLocal: boolean;
  heartbeatTimeoutMs?: number;
  taskQueue: string;
}

export interface ProvisioningShapes {
  test: WorkflowTestEnv;
  starts: EmulatorStart[];
  /** Provisions `name` with a run on `queue` (the host's: all on it; the orchestrator's: a child there). */
  provision(name: string, runtime: string, queue: 'host' | 'orchestrator'): Promise<void>;
  /** The run's history, and its host child's when it had one. */
  histories(name: string): Promise<{ provision: History; prepare?: History }>;
}

const identity = { certSerial: '01', spkiSha256: 'ab'.repeat(32), notAfter: '2027-01-01T00:00:00.000Z' };

export async function startProvisioningShapes(): Promise<ProvisioningShapes> {
  const starts: EmulatorStart[] = [];
  const store = {
    async beginProvisioning(_device: string, _spec: DeviceSpec, _workflowId: string, runsOn?: string) {
      return {
        lifecycle: {},
        host: { id: 'shape-host', taskQueue: HOST_QUEUE },
        placedOnRunsQueue: runsOn === HOST_QUEUE,
      };
    },
    async assignGateway() {
      return { name: 'shape-gateway', endpoint: '127.0.0.1:1', taskQueue: GATEWAY_QUEUE };
    },
    async markConnected() {},
    async markFailed() {},
    async startLifecycle() {},
  };
  const runtime = {
    async issueCertificate() {
      return identity;
    },
    async prepareVolume() {
      return '/volume';
    },
    async copyFirmware() {
      return { sha256: 'cd'.repeat(32), bytes: 1 };
    },
    async startEmulator(device: string) {
      const { isLocal, heartbeatTimeoutMs, taskQueue } = Context.current().info;
      starts.push({ device, isLocal, heartbeatTimeoutMs, taskQueue });
      return { id: `emulator-${device}`, adopted: false };
    },
    async writeEndpoint() {},
  };
  const test = await startWorkflowTestEnv({
    orchestrator: { ...store, ...runtime },
    gateway: {
      async awaitDeviceSession({ device }: { device: string }) {
        return { device, ...identity, connectedAt: new Date().toISOString(), gateway: 'shape-gateway' };
      },
    },
    host: { ...store, ...runtime },
  });
  const client = test.env.client;
  return {
    test,
    starts,
    async provision(name, runtime, queue) {
      const run = await startWorkflow(client, provisionDeviceWorkflow, {
        workflowId: provisionWorkflowId(name),
        taskQueue: queue === 'host' ? HOST_QUEUE : WORKFLOW_QUEUE,
        args: [{ name, runtime, ...(runtime === 'qemu' ? { mcuType: 'Mps2An385' } : {}) }],
      });
      await run.result();
    },
    async histories(name) {
      const history = (workflowId: string) => client.workflow.getHandle(workflowId).fetchHistory();
      const provision = await history(provisionWorkflowId(name));
      const hadChild = provision.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
      return { provision, prepare: hadChild ? await history(prepareOnHostWorkflowId(name)) : undefined };
    },
  };
}

/** Records a docker device's provisioning, on its host's queue and through a host child. */
async function record(label: string): Promise<void> {
  const outDir = path.join(REPO_ROOT, 'test', 'fixtures', 'histories', label);
  fs.mkdirSync(outDir, { recursive: true });
  const shapes = await startProvisioningShapes();
  try {
    for (const [name, queue] of [
      ['replay-docker', 'host'],
      ['replay-docker-orch', 'orchestrator'],
    ] as const) {
      await shapes.provision(name, 'docker', queue);
      const { provision, prepare } = await shapes.histories(name);
      fs.writeFileSync(path.join(outDir, `${provisionWorkflowId(name)}.1.json`), historyToJson(provision));
      if (prepare)
        fs.writeFileSync(
          path.join(outDir, `${prepareOnHostWorkflowId(name)}.1.json`),
          historyToJson(prepare),
        );
    }
  } finally {
    await shapes.test.stop();
  }
  process.stdout.write(`recorded into ${outDir}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const label = process.argv[2];
  if (!label || !/^[\w.-]+$/.test(label)) {
    process.stderr.write('usage: npx tsx test/support/provisioning-shapes.ts <label>\n');
    process.exit(2);
  }
  await record(label);
}
