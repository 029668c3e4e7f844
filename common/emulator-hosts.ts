/**
 * The addresses emulated boards dial instead of a loopback gateway endpoint: a guest cannot
 * reach the host's 127.0.0.1, so the qemu runtime writes its user-mode networking alias into
 * the endpoint block and the Renode runtime the host's address on the taps. The firmware
 * verifies that the gateway's certificate names the address it dialled, so the gateway's
 * certificate carries each of these (gateway/certificate-names.ts).
 * No Node built-ins here. Which hosts count as loopback: isHostOnlyAddress (common/config.ts).
 */

/** What a qemu guest under user-mode (slirp) networking dials for the host. */
export const QEMU_DEFAULT_HOST_ALIAS = '10.0.2.2';

/** The emulator host aliases this configuration uses (WASMBED_QEMU_HOST_ALIAS, WASMBED_RENODE_HOST_ADDRESS). */
export function emulatorHostAliases(env: Record<string, string | undefined>): string[] {
  const aliases = [env.WASMBED_QEMU_HOST_ALIAS || QEMU_DEFAULT_HOST_ALIAS, env.WASMBED_RENODE_HOST_ADDRESS];
  return [...new Set(aliases.filter((a): a is string => !!a))];
}
