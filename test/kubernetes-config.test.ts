/**
 * Where devices are sent inside a cluster: the gateway endpoint written into device memory is
 * the gateway pod's own address from the manifest, never a loopback address; a device host's
 * id is its StatefulSet pod name.
 * Pure config resolution, so no cluster is needed; test/kubernetes.test.ts checks the same
 * manifest value on a real API server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { ValidationError } from '../common/errors.js';
import { REPO_ROOT } from '../common/repo-root.js';

/** The value of an env entry in a manifest (`- name: X` followed by `value: "..."`). */
function manifestEnv(file: string, name: string): string {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'k8s', file), 'utf8');
  const match = new RegExp(`- name: ${name}\\s*\\n\\s*value: "([^"]+)"`).exec(text);
  if (!match) throw new Error(`${file} sets no ${name}`);
  return match[1]!;
}

/** What the kubelet does with $(VAR) references to earlier env entries. */
const expand = (value: string, vars: Record<string, string>) =>
  value.replace(/\$\(([A-Z_]+)\)/g, (_, v: string) => vars[v] ?? `$(${v})`);

const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', WASMBED_HOME: '/tmp/wasmbed-config-test' };

describe('gateway endpoint inside a cluster', () => {
  it("is the gateway pod's own address from k8s/40-gateway.yaml", () => {
    const pod = { POD_NAME: 'wasmbed-gateway-7d9f-x2k4q', POD_NAMESPACE: 'wasmbed', POD_IP: '10.244.1.7' };
    const endpoint = expand(manifestEnv('40-gateway.yaml', 'WASMBED_GATEWAY_ENDPOINT'), pod);
    const config = loadConfig({ ...inCluster, ...pod, WASMBED_GATEWAY_ENDPOINT: endpoint });
    expect(config.gateway.endpoint).toBe('10.244.1.7:8081');
  });

  it('names each device host after its pod (k8s/35-device-host.yaml)', () => {
    const pod = { POD_NAME: 'wasmbed-host-1' };
    const id = expand(manifestEnv('35-device-host.yaml', 'WASMBED_HOST_ID'), pod);
    expect(loadConfig({ ...inCluster, POD_IP: '10.244.1.8', WASMBED_HOST_ID: id }).host.id).toBe(
      'wasmbed-host-1',
    );
  });

  it('falls back to the pod IP, and refuses loopback or nothing', () => {
    expect(loadConfig({ ...inCluster, POD_IP: '10.244.1.7' }).gateway.endpoint).toBe('10.244.1.7:8081');
    for (const endpoint of ['127.0.0.1:8081', 'localhost:8081', '127.0.1.1:9000', '0.0.0.0:8081']) {
      const attempt = () =>
        loadConfig({ ...inCluster, POD_IP: '10.244.1.7', WASMBED_GATEWAY_ENDPOINT: endpoint });
      expect(attempt, endpoint).toThrow(ValidationError);
      expect(attempt, endpoint).toThrow(/WASMBED_GATEWAY_ENDPOINT|must be an address devices can reach/);
    }
    expect(() => loadConfig(inCluster)).toThrow(/set WASMBED_GATEWAY_ENDPOINT or POD_IP/);
  });

  it('outside a cluster stays on 127.0.0.1 (devices run beside the gateway)', () => {
    expect(loadConfig({ WASMBED_HOME: '/tmp/x', WASMBED_GATEWAY_PORT: '9100' }).gateway.endpoint).toBe(
      '127.0.0.1:9100',
    );
  });
});
