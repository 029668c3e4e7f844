/**
 * Keeps Gateway resources true. Each gateway process writes its own Gateway (spec.endpoint,
 * status Ready, connectedDevices, lastSeen) every 2 s and Unavailable when it shuts down
 * cleanly; a gateway that dies (SIGKILL, lost node) cannot say so. The controller does: a
 * Gateway whose lastSeen is older than GATEWAY_STALE_MS (or that never registered, e.g. applied
 * by hand with no process behind it) becomes Unavailable with a `Ready=False` condition and 0
 * connected devices. The next registration of a live gateway sets it Ready again; the write is
 * guarded by the resourceVersion, so a gateway that registered meanwhile wins.
 */
import { GATEWAY_STALE_MS } from '../common/config.js';
import type { GatewayStatus } from '../common/resources.js';
import type { KubeObject } from '../store/kubernetes-objects.js';
import { CustomObjects, setCondition } from './custom-objects.js';
import { ResourceController, type ResourceControllerOptions } from './resource-controller.js';

export interface GatewayControllerOptions extends ResourceControllerOptions {
  staleMs?: number;
}

export class GatewayController extends ResourceController {
  readonly actions = { markedUnavailable: 0 };
  private readonly gateways: CustomObjects<'Gateway'>;
  private readonly staleMs: number;

  constructor(private readonly options: GatewayControllerOptions) {
    super('Gateway', 'gateway', options);
    this.staleMs = options.staleMs ?? GATEWAY_STALE_MS;
    this.gateways = new CustomObjects(options.kc, 'Gateway', options.namespace, options.cache);
  }

  /** Milliseconds since the gateway last registered (since creation when it never did). */
  private static age(obj: KubeObject): { age: number; lastSeen?: string } {
    const lastSeen = (obj.status as Partial<GatewayStatus> | undefined)?.lastSeen;
    const since = lastSeen ? Date.parse(lastSeen) : Date.parse(obj.metadata.creationTimestamp);
    return { age: Date.now() - since, lastSeen };
  }

  async reconcile(name: string): Promise<void> {
    // Registrations arrive every 2 s: decide on the cache; the write carries the resourceVersion,
    // so a registration that landed meanwhile makes it fail with 409 and the queue looks again.
    const obj = await this.gateways.get(name);
    if (!obj || this.queue.isStopped) return;
    if ((obj.status as Partial<GatewayStatus> | undefined)?.phase === 'Unavailable') return;
    const { age, lastSeen } = GatewayController.age(obj);
    if (age <= this.staleMs) return this.lookAgain(name, this.staleMs - age + 250);
    const never = lastSeen === undefined;
    const message = never
      ? `no gateway process has registered as "${name}" in ${Math.round(age / 1000)} s`
      : `no registration for ${Math.round(age / 1000)} s (last seen ${lastSeen})`;
    await this.gateways.writeStatus(obj, (s) =>
      setCondition(
        { ...s, phase: 'Unavailable', connectedDevices: 0 },
        'Ready',
        'False',
        never ? 'NeverRegistered' : 'RegistrationStale',
        message,
      ),
    );
    this.actions.markedUnavailable++;
    this.options.logger.info('gateway marked Unavailable', { gateway: name, reason: message });
  }

  /** Looks again right after the gateway would go stale, unless it registers first. */
  private lookAgain(name: string, delayMs: number): void {
    this.enqueue(name, delayMs);
  }
}
