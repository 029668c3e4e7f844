/**
 * The names and addresses the gateway's server certificate carries: every address a device is
 * told to dial. Devices verify the name they dialled (the POSIX and Zephyr firmware pass it to
 * mbedTLS, which matches DNS names and iPAddress SANs), so an address missing here is a failed
 * handshake, never a reason to turn verification off.
 */
import net from 'node:net';
import { isHostOnlyAddress } from '../common/config.js';
import { emulatorHostAliases } from '../common/emulator-hosts.js';
import { parseEndpoint } from '../device/memory-contract.js';

export interface CertificateNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * `endpoint` is the gateway endpoint devices are given (WASMBED_GATEWAY_ENDPOINT). When it is
 * a loopback address, the emulator runtimes rewrite it to their host aliases, which are then
 * named too.
 */
export function gatewayCertificateNames(
  endpoint: string,
  env: Record<string, string | undefined>,
): CertificateNames {
  const { host } = parseEndpoint(endpoint);
  const hosts = ['localhost', '127.0.0.1', host];
  if (isHostOnlyAddress(host)) hosts.push(...emulatorHostAliases(env));
  const unique = [...new Set(hosts)];
  return {
    dnsNames: unique.filter((h) => net.isIP(h) === 0),
    ipAddresses: unique.filter((h) => net.isIP(h) !== 0),
  };
}
