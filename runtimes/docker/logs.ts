/** Streams device containers' output (the UART) into the device log. */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from '../../common/logger.js';
import type { DeviceLogs } from '../../store/device-logs.js';
import { statusOf } from './engine.js';

export class ContainerLogFollower {
  /** Device → the abort of its log follower. */
  private readonly followers = new Map<string, { containerId: string; abort: AbortController }>();

  constructor(
    private readonly docker: Docker,
    private readonly logs: DeviceLogs | undefined,
    private readonly logger: Logger | undefined,
  ) {}

  /** Streams the container's output (the UART) into the device log, resuming after the last line stored. */
  follow(device: string, containerId: string): void {
    const logs = this.logs;
    if (!logs) return;
    const current = this.followers.get(device);
    if (current?.containerId === containerId && !current.abort.signal.aborted) return;
    current?.abort.abort();
    const abort = new AbortController();
    this.followers.set(device, { containerId, abort });
    void (async () => {
      try {
        const last = (await logs.list(device, { limit: 200 }))
          .filter((e) => e.appId === null && e.message.startsWith('[uart] '))
          .at(-1)?.time;
        const since = last ? Date.parse(last) / 1000 : 0;
        const stream = (await this.docker.getContainer(containerId).logs({
          follow: true,
          stdout: true,
          stderr: true,
          timestamps: true,
          since,
          abortSignal: abort.signal,
        } as Docker.ContainerLogsOptions & { follow: true })) as unknown as Readable;
        let pending = Buffer.alloc(0);
        let text = '';
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          pending = Buffer.concat([pending, chunk]);
          // Multiplexed frames: [stream, 0, 0, 0, size u32 BE] + payload.
          while (pending.length >= 8) {
            const size = pending.readUInt32BE(4);
            if (pending.length < 8 + size) break;
            text += pending.subarray(8, 8 + size).toString('utf8');
            pending = pending.subarray(8 + size);
          }
          let newline: number;
          while ((newline = text.indexOf('\n')) >= 0) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            const space = line.indexOf(' ');
            const stamp = space > 0 ? Date.parse(line.slice(0, space)) : NaN;
            const time = Number.isNaN(stamp) ? new Date().toISOString() : new Date(stamp).toISOString();
            if (last && time <= last) continue; // already stored by an earlier follower
            const message = (space > 0 ? line.slice(space + 1) : line).trimEnd();
            if (!message) continue;
            try {
              await logs.append({
                device,
                time,
                appId: null,
                kind: 'log',
                level: 1,
                message: `[uart] ${message}`,
              });
            } catch (err) {
              this.logger?.warn('storing a UART line failed', { device, error: String(err) });
            }
          }
        }
      } catch (err) {
        if (!abort.signal.aborted && statusOf(err) !== 404) {
          this.logger?.warn('following container logs stopped', { device, error: String(err) });
        }
      } finally {
        if (this.followers.get(device)?.abort === abort) this.followers.delete(device);
      }
    })();
  }

  /** Stops following one device (its container is being removed). */
  unfollow(device: string): void {
    this.followers.get(device)?.abort.abort();
    this.followers.delete(device);
  }

  /** Stops following every device (worker shutdown). */
  close(): void {
    for (const { abort } of this.followers.values()) abort.abort();
    this.followers.clear();
  }
}
