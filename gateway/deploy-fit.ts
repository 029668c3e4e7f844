/**
 * Whether a DeployApplication fits the device it is for, by what the device said in its Hello
 * (DeviceInfo.maxAppSize). The API and the rollout check the same before anything is stored
 * (device/apps/fit.ts), against what the device had reported then; this catches what changed
 * since — a board re-flashed with a smaller CONFIG_WASMBED_APP_MODULE_SIZE that reconnects and is
 * given its apps again by its lifecycle. Sent anyway, the frame would make the board close its
 * session (FrameTooLarge); it would reconnect and be sent the same frame again.
 */
import { DEPLOY_FRAME_OVERHEAD, deployFrameLimit } from '../common/mcu-profiles.js';
import type { DeployApplication } from '../protocol/messages.js';
import type { SessionInfo } from './session-registry.js';

/** Why `message` (`messageBytes` as a frame's payload) cannot go to the session's device, or undefined. */
export function deployMisfit(
  session: SessionInfo,
  message: DeployApplication,
  messageBytes: number,
): string | undefined {
  const maxAppSize = session.deviceInfo?.maxAppSize;
  if (maxAppSize === undefined) return undefined; // (no Hello yet: a session is registered after it)
  if (message.module.length > maxAppSize)
    return (
      `module is ${message.module.length} bytes, more than ${session.device} takes: ` +
      `its firmware reported apps up to ${maxAppSize} bytes; not sent`
    );
  const limit = deployFrameLimit(maxAppSize);
  if (messageBytes > limit)
    return (
      `the deploy message is ${messageBytes} bytes, more than ${session.device} takes: ` +
      `${limit} (its ${maxAppSize}-byte module budget plus ${DEPLOY_FRAME_OVERHEAD}); shorten env and args; not sent`
    );
  return undefined;
}
