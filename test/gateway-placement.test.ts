import { describe, expect, it } from 'vitest';
import { chooseGateway } from '../activities/gateway-placement.js';
import { API_VERSION, type Gateway } from '../common/resources.js';

const NOW = Date.parse('2026-11-27T10:00:00Z');

function gateway(
  name: string,
  connectedDevices: number,
  options: { maxDevices?: number; ageMs?: number } = {},
): Gateway {
  return {
    apiVersion: API_VERSION,
    kind: 'Gateway',
    metadata: {
      name,
      namespace: 'default',
      labels: {},
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: new Date(NOW).toISOString(),
    },
    spec: {
      endpoint: `${name}.local:8081`,
      maxDevices: options.maxDevices ?? 100,
      heartbeatIntervalSeconds: 30,
      heartbeatTimeoutSeconds: 90,
    },
    status: {
      phase: 'Ready',
      connectedDevices,
      conditions: [],
      lastSeen: new Date(NOW - (options.ageMs ?? 1_000)).toISOString(),
    },
  };
}

const choose = (gateways: Gateway[], current?: string, preferred?: string) =>
  chooseGateway({
    gateways,
    device: current
      ? { phase: 'Connected', gateway: { name: current, endpoint: `${current}.local:8081` } }
      : undefined,
    preferred,
    now: NOW,
    staleMs: 30_000,
  });

const chosenName = (result: ReturnType<typeof chooseGateway>) =>
  'gateway' in result ? result.gateway.metadata.name : result.reason;

describe('chooseGateway', () => {
  it('places a new device on the least-loaded live gateway', () => {
    expect(chosenName(choose([gateway('gw-a', 5), gateway('gw-b', 2), gateway('gw-c', 9)]))).toBe('gw-b');
  });

  it('keeps a device on its current gateway while that gateway is live, even when another is emptier', () => {
    expect(chosenName(choose([gateway('gw-a', 50), gateway('gw-b', 0)], 'gw-a'))).toBe('gw-a');
  });

  it('keeps a device on its current gateway when that gateway is full (the device is one of its sessions)', () => {
    expect(chosenName(choose([gateway('gw-a', 10, { maxDevices: 10 }), gateway('gw-b', 0)], 'gw-a'))).toBe(
      'gw-a',
    );
  });

  it('moves a device off a gateway that stopped reporting', () => {
    const result = choose([gateway('gw-a', 1, { ageMs: 60_000 }), gateway('gw-b', 7)], 'gw-a');
    expect(chosenName(result)).toBe('gw-b');
  });

  it('honours an explicit gateway and names it when it is not ready', () => {
    expect(chosenName(choose([gateway('gw-a', 0), gateway('gw-b', 5)], undefined, 'gw-b'))).toBe('gw-b');
    expect(chosenName(choose([gateway('gw-a', 0)], undefined, 'gw-z'))).toBe('gateway "gw-z" is not ready');
  });

  it('says which gateways are full when none has room', () => {
    const result = choose([gateway('gw-a', 2, { maxDevices: 2 }), gateway('gw-b', 3, { maxDevices: 3 })]);
    expect(chosenName(result)).toBe('every ready gateway is full (gw-a: 2/2, gw-b: 3/3)');
  });

  it('says so when no gateway is live', () => {
    expect(chosenName(choose([gateway('gw-a', 0, { ageMs: 120_000 })]))).toBe(
      'no gateway is ready to accept devices',
    );
  });
});
