/**
 * The resource store: Device and Gateway resources in the shape of DESIGN.md. This is the
 * one interface the workflows' activities, the gateway and the web server use; the local
 * SQLite backend is the embedded default.
 */
import type {
  Device,
  DeviceSpec,
  DeviceStatus,
  Gateway,
  GatewaySpec,
  GatewayStatus,
} from '../common/resources.js';

export interface ResourceStore {
  createDevice(name: string, spec: DeviceSpec): Device;
  getDevice(name: string): Device | undefined;
  listDevices(): Device[];
  /** Read-modify-write of the status in one transaction; throws NotFoundError if absent. */
  updateDeviceStatus(name: string, mutate: (status: DeviceStatus) => DeviceStatus): Device;
  deleteDevice(name: string): boolean;

  upsertGateway(name: string, spec: GatewaySpec, status: GatewayStatus): Gateway;
  getGateway(name: string): Gateway | undefined;
  listGateways(): Gateway[];
  updateGatewayStatus(name: string, mutate: (status: GatewayStatus) => GatewayStatus): Gateway;

  /** Increases on every write; lets pollers skip work when nothing changed. */
  revision(): number;
  close(): void;
}
