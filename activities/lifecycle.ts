/**
 * Activities of the device lifecycle workflow: notice a device that went quiet, whose gateway
 * died or whose device host died, and list the apps it should be running. (Bringing its emulator back is the
 * owning host's ensureEmulator, activities/device-runtime.ts.)
 */
import { gatewayTaskQueue } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { deploySettings, versionOf } from '../common/app-version.js';
import { targetsDevice } from '../common/application-status.js';
import type { Device } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { DeviceCertificates } from '../pki/index.js';
import type { HostRecord, HostRegistry } from '../store/host-registry.js';
import { chooseHost } from './host-placement.js';
import { renewalDueAt } from './renewal-time.js';

export interface DeviceHealth {
  /** The Device no longer exists: the lifecycle ends. */
  gone: boolean;
  needsRecovery: boolean;
  reason?: string;
  /** The certificate's renewal is due (activities/renewal-time.ts). */
  rotateCertificate: boolean;
  /**
   * When its renewal is due (epoch ms; this device's point in the renewal window): the lifecycle
   * sleeps until then instead of checking on a timer. Absent when there is nothing to renew (no
   * certificate, or Failed).
   */
  renewAt?: number;
  /** An app should run on the device that it has not had yet (see appsForDevice). */
  appsWaiting?: boolean;
  /**
   * With needsRecovery: the task queue of the gateway to ask first whether it still holds the
   * device's session. Set when the evidence is only the store's (a Ready gateway whose lastSeen
   * is old, a device whose lastHeartbeat is old), which is as fresh as that gateway's last write:
   * a gateway whose writes lag — a slow or briefly unreachable store, a process paused for a
   * moment — still holds its devices, and recovering them moved them off it for nothing (or,
   * with a second gateway, pointed them at it while they stayed connected here, until the
   * recovery gave up and marked them Failed).
   */
  confirmWithGateway?: string;
}

export interface AppToRun {
  appId: string;
  moduleSha256: string;
  entry: string;
  limits: { memoryPages: number; cpuMsPerCall: number | null };
  env: Record<string, string>;
  args: string[];
  /** The device has not had it yet (no state, or Pending): not a restart of one it ran. */
  waiting: boolean;
}

export function createLifecycleActivities(deps: {
  store: ResourceStore;
  certificates: DeviceCertificates;
  logger: Logger;
  gatewayStaleMs: number;
  /** A device silent for this long counts as lost even if no gateway said so. */
  heartbeatLostMs: number;
  renewBeforeMs: number;
  hosts: HostRegistry;
  /** A host heard from within this long takes devices (as in placement). */
  hostStaleMs: number;
  /** A host silent for longer than this is dead: its devices move (as in placement). */
  hostGraceMs: number;
}) {
  const { store } = deps;
  // Every device's check reads the host list: one read a second serves them all.
  let hostsRead: { at: number; hosts: Promise<HostRecord[]> } | undefined;
  const liveHosts = () => {
    const now = Date.now();
    if (!hostsRead || now - hostsRead.at > 1000) {
      const hosts = deps.hosts.list();
      hosts.catch(() => {
        if (hostsRead?.hosts === hosts) hostsRead = undefined; // the next check reads again
      });
      hostsRead = { at: now, hosts };
    }
    return hostsRead.hosts;
  };

  /**
   * Why the device must move, if its host is dead (silent beyond the grace period) and another
   * is live: a container or emulator process may outlive its host and keep the device
   * Connected, but nothing can restart, rotate or stop it any more. Placement's own rule
   * decides, so the check and the move agree. With no live host to go to it stays.
   */
  async function hostGone(d: Device, now: number): Promise<string | undefined> {
    const current = d.status.host;
    if (!current) return undefined;
    const placement = chooseHost({
      device: d.metadata.name,
      hosts: await liveHosts(),
      owned: {},
      current,
      now,
      staleMs: deps.hostStaleMs,
      graceMs: deps.hostGraceMs,
    });
    return 'host' in placement && placement.moved ? `device host ${current} is gone` : undefined;
  }

  return {
    async checkDeviceHealth(device: string): Promise<DeviceHealth> {
      const d = await store.get('Device', device);
      if (!d) return { gone: true, needsRecovery: false, rotateCertificate: false };
      const now = Date.now();
      const notAfter = d.status.identity ? Date.parse(d.status.identity.notAfter) : Infinity;
      const renewAt = Number.isFinite(notAfter)
        ? renewalDueAt(device, notAfter, deps.renewBeforeMs)
        : undefined;
      const rotateCertificate = renewAt !== undefined && now >= renewAt;
      if (d.status.phase === 'Deprovisioning' || d.status.phase === 'Failed') {
        return { gone: d.status.phase === 'Deprovisioning', needsRecovery: false, rotateCertificate: false };
      }
      const gateway = d.status.gateway ? await store.get('Gateway', d.status.gateway.name) : undefined;
      // (A gateway that shut down said so, Unavailable: nothing to ask.)
      const confirmWithGateway =
        gateway?.status.phase === 'Ready'
          ? (gateway.status.taskQueue ?? gatewayTaskQueue(gateway.metadata.name))
          : undefined;
      const gatewayAlive =
        confirmWithGateway !== undefined &&
        now - Date.parse(gateway?.status.lastSeen ?? '') < deps.gatewayStaleMs;
      if (!gatewayAlive) {
        return {
          gone: false,
          needsRecovery: true,
          reason: `gateway ${d.status.gateway?.name ?? '?'} is gone`,
          rotateCertificate,
          renewAt,
          confirmWithGateway,
        };
      }
      const lastHeartbeat = Date.parse(d.status.lastHeartbeat ?? '');
      if (!(now - lastHeartbeat < deps.heartbeatLostMs)) {
        return {
          gone: false,
          needsRecovery: true,
          reason: 'heartbeats stopped',
          rotateCertificate,
          renewAt,
          confirmWithGateway,
        };
      }
      const lostHost = await hostGone(d, now);
      if (lostHost) return { gone: false, needsRecovery: true, reason: lostHost, rotateCertificate, renewAt };
      const appsWaiting = (await wantedApps(d)).some(({ waiting }) => waiting);
      return { gone: false, needsRecovery: false, rotateCertificate, appsWaiting, renewAt };
    },

    /**
     * How much longer to leave a device that lost its session before recovering it, in ms. A
     * host that restarted with devices to resume (kill -9, and its supervisor started it again)
     * is bringing them back from their volumes: hundreds of recoveries beside that took the CPU
     * it needed, and turned every device Unreachable and back. So a device of a host that
     * restarted less than the grace period ago gets the rest of it, and one of a host silent now
     * gets until its grace period ends (then placement moves it, and the recovery can). 0 for
     * any other device.
     */
    async hostRestartWaitMs(device: string): Promise<number> {
      const id = (await store.get('Device', device))?.status.host;
      const host = id === undefined ? undefined : await deps.hosts.get(id);
      if (!host) return 0;
      const now = Date.now();
      const silent = !(now - host.lastSeen < deps.hostStaleMs);
      const since = silent ? host.lastSeen : host.restartedAt;
      return since > 0 ? Math.max(0, since + deps.hostGraceMs - now) : 0;
    },

    /** The task queue of the gateway holding the device's session, as far as the store knows. */
    async deviceTaskQueue(device: string): Promise<string | null> {
      const gateway = (await store.get('Device', device))?.status.gateway;
      return gateway ? gatewayTaskQueue(gateway.name) : null;
    },

    /**
     * The device came back by itself while its recovery ran: Connected again if the recovery's
     * Unreachable is still what the store says (it may have been written just after the gateway
     * wrote Connected for the returning session).
     */
    async markReconnected(device: string): Promise<void> {
      await store.updateStatus('Device', device, (s) =>
        s.phase === 'Unreachable' ? { ...s, phase: 'Connected', message: undefined } : s,
      );
    },

    async markRecovering(device: string, reason: string): Promise<void> {
      await store.updateStatus('Device', device, (s) => ({
        ...s,
        phase: s.phase === 'Connected' || s.phase === 'Disconnected' ? 'Unreachable' : s.phase,
        message: `recovering: ${reason}`,
      }));
    },

    /**
     * Apps this device should run: those rolled out to it (not stopped, failed or rolled back
     * there), and those whose target matches it but that it has not had yet — deployment is
     * desired state, so a device that joins later gets them.
     */
    async appsForDevice(device: string): Promise<AppToRun[]> {
      const d = await store.get('Device', device);
      return d ? wantedApps(d) : [];
    },
  };

  /**
   * What appsForDevice says, for a device read already. (Rollouts still going are left out:
   * until they end, they are the ones deploying.)
   */
  async function wantedApps(d: Device): Promise<AppToRun[]> {
    const device = d.metadata.name;
    return (await store.list('Application'))
      .filter(
        (a) =>
          ['Running', 'PartiallyRunning'].includes(a.status.phase) ||
          (a.status.phase === 'RolledBack' && a.status.currentModule !== undefined),
      )
      .filter((a) => {
        const state = a.status.devices[device]?.state;
        if (state) return ['Running', 'Exited', 'Deploying', 'Pending'].includes(state);
        return targetsDevice(a.spec.target, d);
      })
      .map((a) => {
        const state = a.status.devices[device]?.state;
        return {
          appId: a.metadata.name,
          // What the last finished rollout (or rollback) put on the devices.
          ...deploySettings(a.status.currentModule ?? versionOf(a.spec), a.spec),
          waiting: state === undefined || state === 'Pending',
        };
      });
  }
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
