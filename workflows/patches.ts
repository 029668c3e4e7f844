/**
 * Every patch marker the workflows record (`patched(Patch.…)`): the one place their ids are
 * written. A marker gates a change to what a workflow schedules so that runs begun before it keep
 * their old path on replay (ARCHITECTURE.md, "Workflow changes stay replay-safe"). An id, once
 * released, never changes: recorded histories name it. Workflow-safe: imports nothing.
 */
export const Patch = {
  // provisionDevice
  /** Store steps as local activities of the run instead of activities. */
  provisioningLocalSteps: 'provisioning-local-steps',
  /** A run on its device's host runs every step but the session wait there, as local activities. */
  provisioningOnHost: 'provisioning-on-host',
  /** The host's steps as one child workflow on the host's queue (runs started elsewhere). */
  provisioningHostChild: 'provisioning-host-child',
  /** The device's key is made in its volume on its host (provisioning and certificate rotation). */
  deviceKeysOnHost: 'device-keys-on-host',
  /** The lifecycle is started by the startLifecycle local activity instead of as a child. */
  lifecycleStartedByActivity: 'lifecycle-started-by-activity',
  /**
   * An emulator outside the host's process (docker, qemu, renode) is started by an activity of its
   * own, which heartbeats, instead of a local activity (provisionDevice and prepareDeviceOnHost).
   */
  slowEmulatorStartAsActivity: 'slow-emulator-start-as-activity',

  // deviceLifecycle
  /** The lifecycle's store checks as local activities. */
  lifecycleLocalActivities: 'lifecycle-local-activities',
  /** Woken by signals (connect, disconnect, checkHealth) instead of a timer per device. */
  lifecycleEventDriven: 'lifecycle-event-driven',
  /** A device whose host restarted lately is left to that host for the rest of its grace period. */
  recoveryWaitsForRestartingHost: 'recovery-waits-for-restarting-host',
  /** Recovery ends when the device reconnected by itself meanwhile. */
  recoveryEndsWhenReconnected: 'recovery-ends-when-reconnected',
  /** …and checks once more after the endpoint write, writing Connected back. */
  recoveryRechecksAfterEndpoint: 'recovery-rechecks-after-endpoint',
  /** A move to another host is remembered until an attempt finishes it. */
  recoveryRemembersMove: 'recovery-remembers-move',
  /** Recovery first moves a device whose host died to a live host (relocateDevice). */
  deviceHostsFenced: 'device-hosts-fenced',
  /** A step that fails past its retries leaves the lifecycle running: it waits and looks again. */
  lifecycleOutlivesFailedSteps: 'lifecycle-outlives-failed-steps',
  /**
   * The apps a run gives its device at its start go inside the loop that outlives failed steps:
   * a run that began with the store down (continued as new in an outage) failed at once.
   */
  lifecycleStartOutlivesStore: 'lifecycle-start-outlives-store',
  /** A check that finds the device's gateway silent in the store asks that gateway first. */
  recoveryAsksGatewayFirst: 'recovery-asks-gateway-first',
  /** Restoring apps does not deploy again an app the device is already starting. */
  restoreAppsKeepsStartingApps: 'restore-apps-keeps-starting-apps',

  // deprovisionDevice
  /** Deleting a device closes its session on the gateway that holds it. */
  closeSessionOnDeprovision: 'close-session-on-deprovision',

  // deployApplication
  /** A device with no session yet is left Pending for its lifecycle instead of failed. */
  waitForUnconnectedDevices: 'wait-for-unconnected-devices',
  /** A rollout's devices are sent their deploy in batches. */
  rolloutInBatches: 'rollout-in-batches',
  /** The devices left Pending are told once the app is Running. */
  signalPendingDevices: 'signal-pending-devices',
  /** Devices a rollout did not touch are settled at its end. */
  settleUntouchedDevices: 'settle-untouched-devices',
} as const;

export type PatchId = (typeof Patch)[keyof typeof Patch];

/**
 * The markers a provisioning run on its device's host records, in order — what the empty
 * workflow of its shape (bench/support/empty-provisioning.ts) records too, and what
 * test/provisioning.test.ts finds in a real run's history.
 */
export const PROVISIONING_ON_HOST_PATCHES: readonly PatchId[] = [
  Patch.provisioningLocalSteps,
  Patch.provisioningOnHost,
  Patch.lifecycleStartedByActivity,
];

/** The markers a device's lifecycle records as it starts (the same bench shape and test use them). */
export const LIFECYCLE_START_PATCHES: readonly PatchId[] = [
  Patch.lifecycleLocalActivities,
  Patch.lifecycleStartOutlivesStore,
  Patch.lifecycleEventDriven,
  Patch.recoveryWaitsForRestartingHost,
];
