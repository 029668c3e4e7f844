/**
 * A device's status writes, one after another in the order the gateway started them. Each store
 * write is its own transaction, and on PostgreSQL two of them on two pool connections reach the
 * row lock in either order: a device that reported its app Deploying and then Running a moment
 * later (restoring it from flash as its session came up) kept `Deploying` in status.apps for good
 * — 17 of 100 devices after a restart of their host, their apps running. A write waits for the
 * device's previous one to settle (whether it failed or not); other devices' writes do not wait.
 */
export type DeviceWriteOrder = <T>(device: string, write: () => Promise<T>) => Promise<T>;

export function deviceWriteOrder(): DeviceWriteOrder {
  /** The last write started for each device, settled or not; removed once it settles. */
  const tails = new Map<string, Promise<void>>();
  return (device, write) => {
    const previous = tails.get(device);
    const result = previous ? previous.then(write) : write();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(device, tail);
    void tail.then(() => {
      if (tails.get(device) === tail) tails.delete(device);
    });
    return result;
  };
}
