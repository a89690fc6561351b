// A raw TCP printer port (JetDirect/:9100 style). Such printers serve one
// host connection at a time; a second host waits until the first is done,
// so later connections are accepted but left unread in a queue, which is
// what the sender would see from a busy printer's listen backlog.
//
// vanish() closes the listener and every socket, so connecting is refused
// (vanish(true) resets the sockets, as a printer losing power does: the
// host's next read or write fails with ECONNRESET); reappear() listens again
// on the same address and port.

import net from 'node:net';
import type { HostConnection, Transport, TransportEvents } from './transport.js';

export interface TcpTransport extends Transport {
  readonly host: string;
  readonly port: number;
}

export async function listenTcp(host: string, port: number, events: TransportEvents): Promise<TcpTransport> {
  const waiting: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  let active: net.Socket | undefined;
  let server: net.Server | undefined;

  const serveNext = (): void => {
    while (active === undefined && waiting.length > 0) {
      const socket = waiting.shift()!;
      if (socket.destroyed) continue;
      active = socket;
      const conn: HostConnection = {
        source: socket,
        reply: (bytes) => {
          if (!socket.destroyed) socket.write(bytes);
        },
        drop: () => socket.destroy(),
      };
      socket.once('close', () => {
        active = undefined;
        events.disconnected(conn);
        serveNext();
      });
      events.connected(conn);
    }
  };

  const listen = async (atPort: number): Promise<net.AddressInfo> => {
    const s = net.createServer({ pauseOnConnect: true }, (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      // A reset from the host is a normal way for a print connection to end.
      socket.on('error', () => {});
      waiting.push(socket);
      serveNext();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(atPort, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', (e) => events.failed(e));
    server = s;
    return s.address() as net.AddressInfo;
  };

  const stop = (reset = false): Promise<void> =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      waiting.length = 0;
      for (const socket of sockets) {
        if (reset && !socket.destroyed) socket.resetAndDestroy();
        else socket.destroy();
      }
      if (!s) return resolve();
      s.close(() => resolve());
    });

  const address = await listen(port);
  return {
    host: address.address,
    port: address.port,
    vanish: stop,
    async reappear() {
      if (!server) await listen(address.port);
    },
    close: () => stop(),
  };
}
