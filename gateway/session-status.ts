/**
 * What the gateway writes to a Device's status about its session: Connected when it comes up (with
 * the identity it presented), Disconnected when it goes, its heartbeats (coalesced,
 * heartbeat-writes.ts) and its DeviceInfo. The TLS sessions never wait for these writes, and the
 * writer keeps them through a store outage (status-writes.ts).
 */
import type { DeviceStatusWrites } from './device-status-writes.js';
import { coalescedHeartbeatWrites } from './heartbeat-writes.js';
import type { SessionInfo, SessionRegistry } from './session-registry.js';

export function recordSessionStatus(deps: {
  gatewayName: string;
  registry: SessionRegistry;
  /** The gateway's Device status writer (a later change of a field replaces an unwritten one). */
  change: DeviceStatusWrites['change'];
  /** At most one heartbeat write per device in this long (the gateway's heartbeat timeout). */
  heartbeatWriteIntervalMs: number;
}): { onHeartbeat(session: SessionInfo): void; onDeviceInfo(session: SessionInfo): void } {
  const { gatewayName, registry, change } = deps;
  const heartbeats = coalescedHeartbeatWrites({
    minIntervalMs: deps.heartbeatWriteIntervalMs,
    write: (device, at) =>
      change(device, 'lastHeartbeat', (s) => ({ ...s, lastHeartbeat: at.toISOString() })),
  });
  registry.on('down', (session) => heartbeats.forget(session.info.device));
  // A session's up and down share a field: the one that happened last is what the device is.
  registry.on('down', (session) =>
    change(session.info.device, 'session', (s) =>
      s.phase === 'Connected' && s.gateway?.name === gatewayName ? { ...s, phase: 'Disconnected' } : s,
    ),
  );
  registry.on('up', ({ info }) =>
    change(info.device, 'session', (s) => {
      // The identity shown is the one the device presented: a device brought back on another host
      // connects with its new key before its lifecycle records it, and Connected with the old
      // key's identity would be a lie.
      // (The session spells its serial as the ledger does, so the same certificate compares equal;
      // a status written when sessions dropped a serial's leading zero gets it back here.)
      const identity =
        s.identity?.certSerial === info.certSerial
          ? s.identity
          : { certSerial: info.certSerial, spkiSha256: info.spkiSha256, notAfter: info.notAfter };
      const back = s.phase === 'Disconnected' || s.phase === 'Unreachable';
      // Back by itself (its recovery ends there): "recovering: …" no longer holds.
      const message = s.phase === 'Unreachable' ? undefined : s.message;
      return { ...s, phase: back ? 'Connected' : s.phase, identity, message };
    }),
  );
  return {
    onHeartbeat: (session) => heartbeats.heartbeat(session.device, session.lastHeartbeat ?? new Date()),
    onDeviceInfo: (session) =>
      change(session.device, 'deviceInfo', (s) => ({
        ...s,
        deviceInfo: session.deviceInfo && {
          firmwareVersion: session.deviceInfo.firmwareVersion,
          mcuType: session.deviceInfo.mcuType,
          freeMemory: session.deviceInfo.freeMemory,
          maxAppSize: session.deviceInfo.maxAppSize,
        },
      })),
  };
}
