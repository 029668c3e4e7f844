/**
 * A TCP relay on 127.0.0.1 in front of a server, which a test can cut: while cut it closes every
 * connection through it and refuses new ones, as a network partition between one client and the
 * server looks to that client (the server itself stays up for everyone else).
 */
import net from 'node:net';

export interface TcpRelay {
  readonly port: number;
  /** Closes the connections through the relay and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Connections currently relayed. */
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpRelay(targetPort: number, port = 0): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      refusing = false;
    },
    connections: () => sockets.size / 2,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
