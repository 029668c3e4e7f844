/**
 * The device host's control socket: an abstract Unix socket named after the data dir and the
 * host id. Binding it is also the host's lock — a second host for the same home and id finds
 * the name taken and exits — and the kernel releases it when the host dies, even by kill -9.
 * Requests are one JSON line each: `{"op":"status"}` lists the devices running here,
 * `{"op":"powerOff","device":…}` cuts one device's power (tests, chaos drills).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { WasmbedError } from '../common/errors.js';

export interface HostStatus {
  hostId: string;
  pid: number;
  devices: { name: string; bootId: string }[];
}

export type ControlRequest = { op: 'status' } | { op: 'powerOff'; device: string };
export type ControlHandler = (request: ControlRequest) => Promise<unknown> | unknown;

export function controlSocketName(home: string, hostId: string): string {
  const digest = crypto.createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 16);
  return `\0wasmbed-host-${digest}-${hostId}`;
}

/** Listens on the control socket; rejects with code HostRunning if another host holds it. */
export function listenControl(home: string, hostId: string, handle: ControlHandler): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 65536) socket.destroy();
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      buffered = '';
      void (async () => {
        try {
          const result = await handle(JSON.parse(line) as ControlRequest);
          socket.end(JSON.stringify({ ok: true, result }) + '\n');
        } catch (err) {
          socket.end(
            JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n',
          );
        }
      })();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new WasmbedError('HostRunning', `a device host with id ${hostId} already runs for ${home}`)
          : err,
      ),
    );
    server.listen({ path: controlSocketName(home, hostId) }, () => resolve(server));
  });
}

/** Sends one request to the host of `home`/`hostId`; rejects if none runs or it refuses. */
export function callHost<T = unknown>(home: string, hostId: string, request: ControlRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: controlSocketName(home, hostId) });
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error('device host did not answer in 10 s')));
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', (err) =>
      reject(new WasmbedError('HostUnavailable', `no device host ${hostId} for ${home}`, { cause: err })),
    );
    socket.on('end', () => {
      try {
        const parsed = JSON.parse(answer) as { ok: boolean; result?: T; error?: string };
        if (parsed.ok) resolve(parsed.result as T);
        else reject(new WasmbedError('HostRefused', parsed.error ?? 'refused'));
      } catch (err) {
        reject(new WasmbedError('HostUnavailable', `device host ${hostId} gave no answer`, { cause: err }));
      }
    });
  });
}
