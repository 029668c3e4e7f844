/** The API's device filters from a command's options, as `device list` and `device delete` take them. */
import { CliError } from '../lib.js';
import type { Values } from '../command-line.js';

/**
 * The API's device filters from the command's options (DEVICE_FILTER_OPTIONS). --app-state
 * without --app is bad usage here (the API would refuse it too, but as a failed request).
 */
export function deviceFilters(v: Values): Record<string, string | undefined> {
  if (v['app-state'] !== undefined && !v.app)
    throw new CliError('--app-state needs --app: the state of which application', 2);
  return {
    phase: v.phase,
    runtime: v.runtime,
    mcuType: v.mcu,
    gateway: v.gateway,
    labelSelector: v.label?.join(','),
    namePrefix: v.prefix,
    app: v.app,
    appState: v['app-state'],
  };
}
