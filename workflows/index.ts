// Workflow entry point bundled for the orchestrator worker. Only workflow-safe imports.
export { provisionDevice } from './provision-device.js';
export { deprovisionDevice } from './deprovision-device.js';
export { deployApplication, undeployApplication } from './deploy-application.js';
export { deviceLifecycle } from './device-lifecycle.js';
export { enrollDevice } from './enroll-device.js';
