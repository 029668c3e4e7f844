/** The gateway certificate names every address devices dial, emulator host aliases included. */
import { describe, expect, it } from 'vitest';
import { emulatorHostAliases, QEMU_DEFAULT_HOST_ALIAS } from '../common/emulator-hosts.js';
import { gatewayCertificateNames } from '../gateway/certificate-names.js';
import { guestEndpoint } from '../runtimes/qemu.js';

describe('gatewayCertificateNames', () => {
  it('names loopback and the qemu host alias for a loopback endpoint', () => {
    const names = gatewayCertificateNames('127.0.0.1:8081', {});
    expect(names.dnsNames).toEqual(['localhost']);
    expect(names.ipAddresses).toEqual(['127.0.0.1', '10.0.2.2']);
    // the address the qemu runtime writes into the endpoint block is one of them
    const dialled = guestEndpoint('127.0.0.1:8081').replace(/:\d+$/, '');
    expect(names.ipAddresses).toContain(dialled);
  });

  it('names configured aliases (WASMBED_QEMU_HOST_ALIAS, WASMBED_RENODE_HOST_ADDRESS) instead of the default', () => {
    const env = { WASMBED_QEMU_HOST_ALIAS: '10.0.3.2', WASMBED_RENODE_HOST_ADDRESS: '192.0.2.1' };
    const names = gatewayCertificateNames('localhost:8081', env);
    expect(names.ipAddresses).toEqual(['127.0.0.1', '10.0.3.2', '192.0.2.1']);
    expect(names.ipAddresses).not.toContain(QEMU_DEFAULT_HOST_ALIAS);
    expect(emulatorHostAliases(env)).toEqual(['10.0.3.2', '192.0.2.1']);
  });

  it('names a routable endpoint host, and no emulator alias (emulators dial it unchanged)', () => {
    expect(gatewayCertificateNames('gateway.lab.example:8081', {})).toEqual({
      dnsNames: ['localhost', 'gateway.lab.example'],
      ipAddresses: ['127.0.0.1'],
    });
    expect(gatewayCertificateNames('192.0.2.7:8081', {}).ipAddresses).toEqual(['127.0.0.1', '192.0.2.7']);
    expect(gatewayCertificateNames('[2001:db8::1]:8081', {}).ipAddresses).toEqual([
      '127.0.0.1',
      '2001:db8::1',
    ]);
  });

  it('refuses an endpoint that is not host:port', () => {
    expect(() => gatewayCertificateNames('no-port', {})).toThrow(/host:port/);
  });
});
