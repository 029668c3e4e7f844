/** The gateways page's rows (web/pages/gateways.ts): each gateway with its health and its numbers, readable. */
import { describe, expect, it } from 'vitest';
import { API_VERSION, type Gateway } from '../common/resources.js';
import { gatewayRows } from '../web/pages/gateways.js';

const gateway: Gateway = {
  apiVersion: API_VERSION,
  kind: 'Gateway',
  metadata: {
    name: 'gateway-0',
    namespace: 'default',
    labels: {},
    uid: 'uid-gateway-0',
    generation: 1,
    creationTimestamp: '2026-12-03T19:00:00.000Z',
  },
  spec: {
    endpoint: '127.0.0.1:8081',
    maxDevices: 10_000,
    heartbeatIntervalSeconds: 30,
    heartbeatTimeoutSeconds: 90,
  },
  status: { phase: 'Ready', connectedDevices: 30, conditions: [], lastSeen: '2026-12-03T19:03:37.377Z' },
};

describe('gateway rows', () => {
  it('shows counters whole and a float to the millisecond, not its binary tail', () => {
    const row = gatewayRows([gateway], {
      checkedAt: '2026-12-03T19:03:38.000Z',
      processes: [
        {
          name: 'gateway-0',
          kind: 'gateway',
          status: 'ok',
          detail: 'ready, 30 sessions',
          metrics: {
            sessions: 30,
            heartbeat_lag_seconds_sum: 0.5100000000000001,
            heartbeat_lag_seconds_count: 180,
          },
        },
      ],
    }).toString();
    expect(row).toContain('sessions=30 heartbeat_lag_seconds_sum=0.51 heartbeat_lag_seconds_count=180');
    expect(row).toContain('30 / 10000');
    expect(row).toContain('ready, 30 sessions');
  });
});
