/**
 * A version of an application: its module together with the settings it was deployed with
 * (entry, env, args, limits). A rollback, and a device reconnecting after one, must restore
 * all of it: the previous module with the new version's entry or env may not even start.
 * Pure and free of Node built-ins: workflows use it too.
 */
import type { ApplicationSpec, DeployedVersion } from './resources.js';

export function versionOf(spec: ApplicationSpec): DeployedVersion {
  return { ...spec.module, entry: spec.entry, env: spec.env, args: spec.args, limits: spec.limits };
}

/** What to send a device for `version`; settings a version recorded before they were kept come from `spec`. */
export function deploySettings(version: DeployedVersion, spec: ApplicationSpec) {
  return {
    moduleSha256: version.sha256,
    entry: version.entry ?? spec.entry,
    env: version.env ?? spec.env,
    args: version.args ?? spec.args,
    limits: version.limits ?? spec.limits,
  };
}
