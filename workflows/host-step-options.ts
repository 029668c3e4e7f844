/**
 * Timeouts and retry policies of provisioning's steps on the device host and of placement, in
 * one place: each runs as a regular activity or as a local one depending on where the run is
 * (provision-device.ts, prepare-device-on-host.ts), with the same policy either way.
 */
import { FailureType } from '../common/failures.js';

/** The backoff of provisioning's short steps (the store's, the host's volume steps). */
export const quick = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s' } as const;

/** Certificate, volume and firmware: a bad input or a corrupt image does not get better by retrying. */
export const volumeStepOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    ...quick,
    maximumAttempts: 5,
    nonRetryableErrorTypes: [FailureType.InvalidInput, FailureType.FirmwareCorrupted] as string[],
  },
} as const;

/** Starting the emulator and writing the endpoint into its memory. */
export const emulatorStepOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 5 },
} as const;

/**
 * Starting an emulator outside the host's process as an activity of its own. Its first start on a
 * host may build or pull the device image (scripts/build-device-image.sh may take up to 20
 * minutes) or boot a machine: the heartbeat, not the start-to-close timeout, is what notices a
 * host that died meanwhile. Other than that, the retries of emulatorStepOptions.
 */
export const slowEmulatorStartOptions = {
  ...emulatorStepOptions,
  startToCloseTimeout: '25 minutes',
  heartbeatTimeout: '30s',
} as const;

/**
 * Whether a runtime's emulator may take long to start: every one but the virtual device, which
 * the host runs in its own process. (A long local activity holds its whole workflow task open —
 * the SDK warns after 5 s, TMPRL1104 — and the Web UI shows nothing of it until it ends.)
 */
export const emulatorMayStartSlowly = (runtime: string | undefined): boolean =>
  runtime !== undefined && runtime !== 'virtual';

/** Gateways may still be starting when the first device is created: wait up to ~1 minute. */
export const placementOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '5s', maximumAttempts: 15 },
} as const;
