/**
 * Activities that need a live device session; they run on the gateway's own task queue
 * (`wasmbed-gateway-<name>`), so Temporal routes each call to the gateway that holds it.
 */
import { Context } from '@temporalio/activity';
import { normalizeSerial } from './device-server.js';
import type { SessionRegistry } from './session-registry.js';

export interface AwaitSessionInput {
  device: string;
  /** Only a session made with this certificate counts (not one with an older certificate). */
  certSerial?: string;
}

export interface AwaitSessionResult {
  device: string;
  certSerial: string;
  spkiSha256: string;
  connectedAt: string;
  gateway: string;
}

export function createGatewayActivities(deps: { gatewayName: string; registry: SessionRegistry }) {
  const { registry } = deps;
  return {
    /** Resolves when the device has a session here; heartbeats while waiting, honours cancellation. */
    async awaitDeviceSession(input: AwaitSessionInput): Promise<AwaitSessionResult> {
      const context = Context.current();
      const wanted = input.certSerial ? normalizeSerial(input.certSerial) : undefined;
      for (;;) {
        const session = registry.get(input.device);
        if (session && (!wanted || session.info.certSerial === wanted)) {
          return {
            device: input.device,
            certSerial: session.info.certSerial,
            spkiSha256: session.info.spkiSha256,
            connectedAt: session.info.connectedAt.toISOString(),
            gateway: deps.gatewayName,
          };
        }
        context.heartbeat({ waitingFor: input.device, hasSession: Boolean(session) });
        // Wake on the next session or after a beat, whichever comes first; sleep() throws on cancel.
        await Promise.race([
          new Promise<void>((resolve) => {
            const onUp = () => resolve();
            registry.once('up', onUp);
            setTimeout(() => registry.off('up', onUp), 1000);
          }),
          context.sleep(1000),
        ]);
      }
    },
  };
}

export type GatewayActivities = ReturnType<typeof createGatewayActivities>;
