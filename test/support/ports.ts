import net from 'node:net';

/**
 * Ports handed out come from below Linux's ephemeral range (32768–60999 by default): a port from
 * that range, free when it was picked, can be taken by any outgoing connection's source port
 * before the child process that was given it binds it (a CI run lost its web server to
 * EADDRINUSE that way). Each vitest worker draws from its own slice, so files running side by
 * side do not pick the same port, and a process never hands out one port twice.
 */
const LOW = 10_000;
const HIGH = 32_000;
const SLICES = 8;
const handedOut = new Set<number>();

function slice(): { from: number; size: number } {
  const size = Math.floor((HIGH - LOW) / SLICES);
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) || 0;
  return { from: LOW + (worker % SLICES) * size, size };
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that is free now and outside the range outgoing connections use. */
export async function freePort(): Promise<number> {
  const { from, size } = slice();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found in ${from}–${from + size - 1} after 200 tries`);
}
