/** The overview's recent failures: failed devices and applications, and failed workflows from Temporal. */
import type { Client } from '@temporalio/client';
import type { Application, Device } from '../common/resources.js';
import type { RecentFailure } from './pages/overview.js';

export class RecentFailures {
  // Failed workflows from Temporal's visibility store, cached: the overview re-renders often.
  private failedWorkflows: { at: number; items: RecentFailure[] } = { at: 0, items: [] };
  private failedLoading = false;

  constructor(
    private readonly client: Client | undefined,
    private readonly workflowUrl: (workflowId: string) => string,
  ) {}

  private refreshFailedWorkflows(): void {
    const client = this.client;
    if (!client || this.failedLoading || Date.now() - this.failedWorkflows.at < 5000) return;
    this.failedLoading = true;
    void (async () => {
      const items: RecentFailure[] = [];
      try {
        for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Failed"', pageSize: 10 })) {
          items.push({
            kind: 'Workflow',
            name: wf.workflowId,
            message: `${wf.type} failed`,
            href: this.workflowUrl(wf.workflowId),
            external: true,
            time: wf.closeTime?.toISOString(),
          });
          if (items.length >= 10) break;
        }
      } catch {
        // Temporal unreachable: the health table says so
      }
      this.failedWorkflows = { at: Date.now(), items };
      this.failedLoading = false;
    })();
  }

  list(devices: Device[], apps: Application[]): RecentFailure[] {
    this.refreshFailedWorkflows();
    const list: RecentFailure[] = [
      ...devices
        .filter((d) => d.status.phase === 'Failed')
        .map((d) => ({
          kind: 'Device' as const,
          name: d.metadata.name,
          message: d.status.message ?? 'Failed',
          href: `/devices/${encodeURIComponent(d.metadata.name)}`,
        })),
      ...apps
        .filter((a) => a.status.phase === 'Failed' || a.status.phase === 'RolledBack')
        .map((a) => ({
          kind: 'Application' as const,
          name: a.metadata.name,
          message: a.status.message ?? a.status.phase,
          href: `/applications#app-${a.metadata.name}`,
        })),
    ];
    const shown = new Set(list.map((f) => f.name));
    for (const wf of this.failedWorkflows.items) {
      if (!shown.has(wf.name.replace(/^[a-z]+-/, ''))) list.push(wf);
    }
    return list.slice(0, 20);
  }
}
