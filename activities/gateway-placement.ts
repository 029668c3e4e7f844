/**
 * Which gateway a device should use. Pure, so the rule is tested without Temporal.
 *
 * A device whose current gateway is still live stays on it: moving it would rewrite its
 * endpoint, drop its session and redeploy its apps for nothing (re-running provisioning or a
 * recovery check used to pick the least-loaded gateway and bounce connected devices around).
 */
import type { DeviceStatus, Gateway } from '../common/resources.js';

export interface PlacementInput {
  gateways: Gateway[];
  /** The device's status as stored: its current gateway, if any. */
  device?: Pick<DeviceStatus, 'gateway' | 'phase'>;
  /** An operator's explicit choice (spec.gateway): only that gateway is acceptable. */
  preferred?: string;
  now: number;
  /** A gateway that has not reported for this long is treated as dead. */
  staleMs: number;
}

export type PlacementResult = { gateway: Gateway } | { reason: string };

export function chooseGateway(input: PlacementInput): PlacementResult {
  const live = input.gateways.filter(
    (g) => g.status.phase === 'Ready' && input.now - Date.parse(g.status.lastSeen ?? '') < input.staleMs,
  );
  const current = input.device?.gateway?.name;
  // A device counts towards its own gateway's load, so a full gateway must not push it out.
  const hasRoom = (g: Gateway): boolean =>
    g.metadata.name === current || g.status.connectedDevices < g.spec.maxDevices;

  if (input.preferred) {
    const chosen = live.find((g) => g.metadata.name === input.preferred);
    if (!chosen) return { reason: `gateway "${input.preferred}" is not ready` };
    if (!hasRoom(chosen))
      return { reason: `gateway "${input.preferred}" is full (${chosen.spec.maxDevices} devices)` };
    return { gateway: chosen };
  }
  const sticky = live.find((g) => g.metadata.name === current);
  if (sticky) return { gateway: sticky };
  const open = live
    .filter(hasRoom)
    .sort(
      (a, b) =>
        a.status.connectedDevices - b.status.connectedDevices ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
  const [least] = open;
  if (least) return { gateway: least };
  return {
    reason:
      live.length > 0
        ? `every ready gateway is full (${live.map((g) => `${g.metadata.name}: ${g.status.connectedDevices}/${g.spec.maxDevices}`).join(', ')})`
        : 'no gateway is ready to accept devices',
  };
}
