/**
 * An Application's spec for tests and benches that write Applications straight into a store:
 * every field filled, as the API's validation leaves it, with only what a test is about given.
 */
import type { ApplicationSpec } from '../../common/resources.js';

export type ApplicationSpecOverrides = Partial<Omit<ApplicationSpec, 'strategy'>> & {
  strategy?: Partial<ApplicationSpec['strategy']>;
};

export function applicationSpec(overrides: ApplicationSpecOverrides = {}): ApplicationSpec {
  const { strategy, ...rest } = overrides;
  return {
    module: { sha256: '0'.repeat(64), size: 1 },
    entry: '_start',
    target: { all: true },
    limits: { memoryPages: 1, cpuMsPerCall: null },
    env: {},
    args: [],
    ...rest,
    strategy: {
      type: 'AllAtOnce',
      maxUnavailable: 1,
      canary: 1,
      pauseAfterCanary: false,
      failureThreshold: 0,
      ...strategy,
    },
  };
}
