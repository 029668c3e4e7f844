/**
 * Task queue names. Free of Node built-ins: workflow code names queues too (provisioning hands
 * the device's lifecycle to the orchestrator's queue from a run on a device host's).
 */
export const ORCHESTRATOR_TASK_QUEUE = 'wasmbed-orchestrator';
export const gatewayTaskQueue = (gatewayName: string): string => `wasmbed-gateway-${gatewayName}`;
/** The task queue of a device host: the runtime activities of the devices it owns run there. */
export const hostTaskQueue = (hostId: string): string => `wasmbed-host-${hostId}`;
