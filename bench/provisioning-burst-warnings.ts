/**
 * What the platform's logs say during a burst of provisioning: a batch of N devices created at
 * once on a real platform (file-backed dev server, orchestrator, gateway, web, device host), and,
 * once all are Connected, every warn and error line of each process counted by message — the
 * SDK's TMPRL1104 ("Workflow task duration exceeded 5 seconds") with the longest task it names —
 * and the workflow tasks that timed out in the runs' histories.
 *
 *   npx tsx bench/provisioning-burst-warnings.ts [--devices=150]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { hostLogFile } from '../host/supervisor.js';
import { startTestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';
import { loadAverage } from './support/provisioning-bench.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '150' } } });
const count = Number(values.devices);
const log = (line: string) => process.stderr.write(`[bench] ${line} (load ${loadAverage()})\n`);

const platform = await startTestPlatform({
  durableTemporal: true,
  env: { WASMBED_HEARTBEAT_INTERVAL_MS: '5000', WASMBED_HEARTBEAT_TIMEOUT_MS: '15000' },
});
try {
  const t0 = Date.now();
  const created = await platform.api('POST', '/api/v1/device-batches', { name: 's', count, prefix: 's' });
  if (created.status !== 202) throw new Error(`batch refused: ${JSON.stringify(created.body)}`);
  await waitFor(
    `${count} devices Connected`,
    async () => {
      const { body } = await platform.api('GET', '/api/v1/device-batches/s');
      return body.counts?.Connected === count;
    },
    15 * 60_000,
    1000,
  );
  log(`${count} devices Connected in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const hostLog = hostLogFile(platform.home, platform.hostId);
  const hostLines = [`${hostLog}.1`, hostLog]
    .filter((f) => fs.existsSync(f))
    .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n'));
  const byProcess = { ...Object.fromEntries(platform.logs), host: hostLines };
  for (const [name, lines] of Object.entries(byProcess)) {
    const counts = new Map<string, number>();
    let longestMs = 0;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { level: string; msg: string; workflow_task_duration?: number };
      if (entry.level !== 'warn' && entry.level !== 'error') continue;
      const key = `${entry.level} ${entry.msg.replace(/\[TMPRL1104\] \S+/, '[TMPRL1104] <run>')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      longestMs = Math.max(longestMs, Number(entry.workflow_task_duration ?? 0));
    }
    for (const [key, n] of counts) log(`${name}: ${n} × ${key}`);
    if (longestMs) log(`${name}: longest workflow task ${longestMs} ms`);
  }

  const timedOut = new Map<string, number>();
  for await (const run of platform.client.workflow.list({ query: 'WorkflowId STARTS_WITH "provision-"' })) {
    const history = await platform.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    for (const e of history.events!) {
      const type = e.workflowTaskTimedOutEventAttributes?.timeoutType;
      if (type == null) continue;
      timedOut.set(String(type), (timedOut.get(String(type)) ?? 0) + 1);
      if (process.env.WASMBED_BENCH_TRACE)
        log(
          `${run.workflowId}: ${history
            .events!.slice(0, Number(e.eventId) + 3)
            .map(
              (h) =>
                `${String(h.eventId)} ${h.eventTime?.seconds}.${String(h.eventTime?.nanos).padStart(9, '0').slice(0, 3)} ${Object.keys(h).find((k) => k.endsWith('Attributes'))}`,
            )
            .join(' | ')}`,
        );
    }
  }
  // (TimeoutType 1 is START_TO_CLOSE: the worker did not answer in time; 2, SCHEDULE_TO_START, a
  // sticky queue's task that waited past its 5 s and went to the normal queue.)
  log(
    `workflow tasks timed out in the provisioning histories, by timeout type: ${JSON.stringify(Object.fromEntries(timedOut))}`,
  );
} finally {
  await platform.stop();
}
