/** The environment for `npm start` (scripts/start.ts) in a test: a home of its own and free ports. */
import { METRICS_PORTS } from '../../platform/telemetry.js';
import { freePort } from './ports.js';

export async function startEnv(
  home: string,
  hostId: string,
): Promise<{ env: NodeJS.ProcessEnv; webUrl: string; devPort: number }> {
  const devPort = await freePort();
  const webPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WASMBED_HOME: home,
    WASMBED_HOST_ID: hostId,
    WASMBED_LOG_FORMAT: 'json',
    TEMPORAL_DEV_PORT: String(devPort),
    TEMPORAL_UI_PORT: String(await freePort()),
    WASMBED_WEB_PORT: String(webPort),
    WASMBED_GATEWAY_PORT: String(await freePort()),
    WASMBED_GATEWAY_HEALTH_PORT: String(await freePort()),
    // No metrics ports: the defaults may be taken by another platform on this machine.
    ...Object.fromEntries(
      Object.keys(METRICS_PORTS).flatMap((kind) => [
        [`WASMBED_${kind.toUpperCase()}_METRICS_PORT`, '0'],
        [`WASMBED_${kind.toUpperCase()}_TEMPORAL_METRICS_PORT`, '0'],
      ]),
    ),
  };
  delete env.TEMPORAL_ADDRESS;
  return { env, webUrl: `http://127.0.0.1:${webPort}`, devPort };
}
