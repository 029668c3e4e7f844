/* eslint-disable */
// @ts-nocheck -- AssemblyScript, compiled by scripts/build-apps.mjs, not by tsc
/**
 * sensor: reads a sensor channel and publishes the reading as JSON. env CHANNEL (default 0,
 * temperature in m°C), TOPIC (default "sensors/<channel>"), INTERVAL_MS (default 1000),
 * COUNT (readings before exiting, default 0 = forever).
 */
import {
  getEnv,
  getEnvInt,
  publishText,
  sensor_read,
  SENSOR_NO_READING,
  sleep_ms,
  uptime_ms,
} from '../lib/wasmbed';

export function _start(): void {
  const channel = getEnvInt('CHANNEL', 0);
  const topic = getEnv('TOPIC', 'sensors/' + channel.toString());
  const interval = max(1, getEnvInt('INTERVAL_MS', 1000));
  const count = getEnvInt('COUNT', 0);
  for (let n = 0; count == 0 || n < count; n++) {
    const value = sensor_read(channel);
    const reading = value == SENSOR_NO_READING ? 'null' : value.toString();
    publishText(
      topic,
      '{"channel":' +
        channel.toString() +
        ',"milli":' +
        reading +
        ',"uptimeMs":' +
        uptime_ms().toString() +
        '}',
    );
    sleep_ms(interval);
  }
}
