/** The renode runtime's settings: options, their environment variables, and fixed names. */
import { ValidationError } from '../../common/errors.js';
import type { DockerRuntime } from '../docker/runtime.js';
import type { UartFileFollower } from '../uart-file-follower.js';

export type RenodeMode = 'local' | 'docker';

export interface RenodeRuntimeOptions {
  home: string;
  /**
   * `local`: a renode binary on this machine; `docker`: the image through the docker runtime;
   * unset (auto): local when a renode binary is found, else the image.
   */
  mode?: RenodeMode;
  binary?: string;
  image?: string;
  /** The worker's docker runtime (one engine client, one UART follower): needed for docker mode. */
  docker?: DockerRuntime;
  /** Firmware ELF when the device names none. */
  defaultFirmware?: string;
  /** The address devices on the taps dial for the host; a loopback gateway endpoint is rewritten to it. */
  hostAddress?: string;
  /** Memory limit of a Renode container (docker mode), MiB; default 1024. */
  memoryMb?: number;
  /** How long Renode may take to answer on its monitor port after it was started. */
  monitorTimeoutMs?: number;
  /** Streams a local Renode's UART file into the device log (docker mode streams the container). */
  uart?: UartFileFollower;
}

export function renodeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<RenodeRuntimeOptions> {
  const mode = env.WASMBED_RENODE_MODE;
  if (mode && mode !== 'local' && mode !== 'docker' && mode !== 'auto') {
    throw new ValidationError(
      'WASMBED_RENODE_MODE',
      `WASMBED_RENODE_MODE="${mode}" is not local, docker or auto`,
    );
  }
  const memoryMb = env.WASMBED_RENODE_MEMORY_MB || undefined;
  if (memoryMb !== undefined && !(Number(memoryMb) > 0))
    throw new ValidationError(
      'WASMBED_RENODE_MEMORY_MB',
      `WASMBED_RENODE_MEMORY_MB="${memoryMb}" is not a positive number`,
    );
  return {
    mode: mode === 'local' || mode === 'docker' ? mode : undefined,
    binary: env.WASMBED_RENODE_BIN || undefined,
    image: env.WASMBED_RENODE_IMAGE || undefined,
    defaultFirmware: env.WASMBED_RENODE_FIRMWARE || undefined,
    hostAddress: env.WASMBED_RENODE_HOST_ADDRESS || undefined,
    memoryMb: memoryMb === undefined ? undefined : Number(memoryMb),
  };
}

export const DEFAULT_RENODE_IMAGE = 'antmicro/renode';
/** The label on a Renode container that records its monitor port. */
export const MONITOR_PORT_LABEL = 'wasmbed.io/renode-monitor-port';
